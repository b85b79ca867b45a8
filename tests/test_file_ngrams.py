"""The file's own n-grams in the choice of each token: what followed the tail before, how
it is mixed into the model's distribution, and what generation does with it."""

from __future__ import annotations

import math

import pytest
import torch

from model.file_ngrams import mix
from model.generate import GenerationStats, generate
from model.lookup import PromptLookup
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours


def test_follows_counts_what_came_after_the_longest_earlier_ngram_of_the_tail():
    # "2 3" came before 9, 7 and 8; "1 2 3" before 9 and 8; the tail is "1 2 3"
    index = PromptLookup([1, 2, 3, 9, 2, 3, 7, 1, 2, 3, 8, 1, 2, 3])
    assert index.follows() == {9: 1, 8: 1}  # the longest gram's followers only
    index.extend([6])
    assert index.follows() == {}  # "3 6" never occurred before
    # a gram shorter than min_ngram is no evidence; the tail never matches itself
    assert PromptLookup([4, 5, 6, 4]).follows() == {}
    assert PromptLookup([4, 4]).follows() == {}
    assert PromptLookup([4, 5, 4, 5]).follows() == {4: 1}
    assert PromptLookup([8, 1, 2, 9, 8, 1, 2, 9, 3, 8, 1, 2]).follows() == {9: 2}


def test_mix_blends_the_counts_into_the_distribution_with_its_weight():
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    p = torch.softmax(logits, -1)
    mixed = mix(logits, {2: 3, 3: 1}, 0.25)
    want = 0.75 * p + 0.25 * torch.tensor([0.0, 0.0, 0.75, 0.25])
    assert torch.allclose(mixed.exp(), want)
    assert math.isclose(float(mixed.exp().sum()), 1.0, rel_tol=1e-6)
    assert int(torch.argmax(mix(logits, {2: 1}, 0.6))) == 2  # enough weight copies
    assert mix(logits, {2: 1}, 0.0) is logits
    assert mix(logits, {}, 0.5) is logits
    assert mix(logits, {99: 4, -1: 2}, 0.5) is logits  # no such token: nothing to mix


def test_mix_gives_no_share_to_a_token_the_constraint_ruled_out():
    logits = torch.tensor([1.0, float("-inf"), 0.0])
    mixed = mix(logits, {1: 5, 2: 1}, 0.5)
    assert torch.isneginf(mixed[1])  # still impossible
    assert math.isclose(float(mixed.exp().sum()), 1.0, rel_tol=1e-6)
    assert mixed[2] > torch.log_softmax(logits, -1)[2]  # the allowed token got the share
    assert mix(logits, {1: 5}, 0.5) is logits  # only a ruled-out token: no change


@pytest.mark.parametrize("lookup", [False, True], ids=["plain", "prompt-lookup"])
def test_generation_copies_what_followed_in_the_prompt_and_keeps_the_models_confidence(lookup):
    _, ours = hf_and_ours(seed=5, **tiny_kwargs(n_positions=96))
    prompt = [5, 17, 29, 41, 53, 61, 5, 17]  # "5 17" was followed by 29
    plain_stats, mixed_stats = GenerationStats(), GenerationStats()
    plain = list(generate(ours, prompt, 6, stats=plain_stats))
    assert plain[0] != 29  # the model alone would not copy (this seed)
    mixed = list(generate(ours, prompt, 6, stats=mixed_stats, lookup=lookup, file_ngrams=0.9))
    assert mixed[:4] == [29, 41, 53, 61]  # the prompt's continuation, copied
    with torch.no_grad():
        own = torch.log_softmax(ours(torch.tensor([prompt])).logits[0, -1].float(), -1)
    # the stats hold the model's own probability of the copied token: the gate's scale
    assert math.isclose(mixed_stats.logprobs[0], float(own[29]), rel_tol=1e-4)
    assert mixed_stats.logprobs[0] < plain_stats.logprobs[0]
    # with no earlier occurrence of the tail the model's choice stands
    fresh = [5, 17, 29, 41, 53, 61, 71, 83]
    assert list(generate(ours, fresh, 1, file_ngrams=0.9)) == list(generate(ours, fresh, 1))


def test_prompt_lookup_keeps_the_mixtures_tokens_exactly():
    """Drafts are checked against the model's own argmax; where the mixture picks another
    token the draft's rest is dropped, so the tokens are the mixture's either way."""
    _, ours = hf_and_ours(seed=7, **tiny_kwargs(n_positions=160))
    rng = torch.Generator().manual_seed(1)
    differs = 0
    for seed in range(12):
        motif = torch.randint(1, 97, (2 + seed % 5,), generator=rng).tolist()
        noise = torch.randint(1, 97, (6,), generator=rng).tolist()
        prompt = noise + (motif * 6)[: 8 + seed] + noise[:3]
        mixed = list(generate(ours, prompt, 30, file_ngrams=0.3))
        assert list(generate(ours, prompt, 30, file_ngrams=0.3, lookup=True)) == mixed, seed
        differs += mixed != list(generate(ours, prompt, 30))
    assert differs >= 3  # the mixture changed what was written
