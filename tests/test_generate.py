"""The generation engine: HF-identical greedy tokens, cache reuse and rollback, stopping."""

from __future__ import annotations

import pytest
import torch

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM, KVCache
from model.generate import common_prefix_len, extend, generate, new_cache, prefill, sample
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours


def hf_greedy(hf, prompt: list[int], n: int, eos: int | None = None) -> list[int]:
    ids = torch.tensor([prompt])
    out = hf.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=n,
        do_sample=False,
        eos_token_id=eos,
        pad_token_id=0,
    )
    return out[0, len(prompt) :].tolist()


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
def test_greedy_equals_hf_generate(multi_query):
    hf, ours = hf_and_ours(
        seed=3, attn="sdpa", multi_query=multi_query, **tiny_kwargs(n_positions=128)
    )
    for seed in range(3):
        torch.manual_seed(seed)
        prompt = torch.randint(1, 97, (int(torch.randint(3, 40, ())),)).tolist()
        expected = hf_greedy(hf, prompt, 30)
        assert list(generate(ours, prompt, 30)) == expected


def test_stop_token_is_yielded_and_ends_generation():
    hf, ours = hf_and_ours(seed=5, **tiny_kwargs())
    prompt = [5, 6, 7, 8]
    free = list(generate(ours, prompt, 20))
    stop = free[4]
    got = list(generate(ours, prompt, 20, stop_token_ids={stop}))
    assert got == free[: free.index(stop) + 1]
    assert got == hf_greedy(hf, prompt, 20, eos=stop)


def test_max_new_tokens_and_context_limit():
    _, ours = hf_and_ours(**tiny_kwargs(n_positions=64))
    assert len(list(generate(ours, [1, 2, 3], 7))) == 7
    # 60-token prompt in a 64-position model: only 4 more tokens fit.
    assert len(list(generate(ours, list(range(1, 61)), 50))) == 4
    with pytest.raises(ValueError, match="no room"):
        list(generate(ours, list(range(64)), 5))


def test_cache_reuse_prefills_only_the_new_suffix(monkeypatch):
    _, ours = hf_and_ours(**tiny_kwargs(n_positions=128))
    cache = new_cache(ours)
    prompt = list(range(1, 41))
    first = list(generate(ours, prompt, 8, cache=cache))
    assert cache.tokens == prompt + first[:-1]  # the last token was never fed back

    fed: list[int] = []
    import model.generate as engine

    real_prefill = engine.prefill
    monkeypatch.setattr(
        engine,
        "prefill",
        lambda lm, c, ids, **kw: (fed.append(len(ids)), real_prefill(lm, c, ids, **kw))[1],
    )
    # The user accepted the suggestion: the new prompt extends it; only the last token is new.
    second = list(generate(ours, prompt + first, 5, cache=cache))
    assert fed == [1]
    assert second == list(generate(ours, prompt + first, 5))  # same as a cold start
    # An edit at token 30 keeps 30 cached tokens.
    edited = prompt[:30] + [90, 91] + prompt[30:]
    cold = list(generate(ours, edited, 5))
    fed.clear()
    assert list(generate(ours, edited, 5, cache=cache)) == cold
    assert fed == [len(edited) - 30]


def test_rollback_then_new_continuation_equals_fresh_run():
    _, ours = hf_and_ours(multi_query=False, **tiny_kwargs(n_positions=96))
    cache = new_cache(ours)
    list(generate(ours, list(range(1, 30)), 10, cache=cache))
    cache.truncate(12)
    assert cache.length == 12 and len(cache.tokens) == 12
    other = list(range(1, 13)) + [50, 51, 52]
    assert list(generate(ours, other, 10, cache=cache)) == list(generate(ours, other, 10))


def blocks_run(lm) -> list[int]:
    """A list that grows by one each time any block of `lm` runs."""
    ran: list[int] = []
    for block in lm.transformer.h:
        block.register_forward_hook(lambda *_: ran.append(1))
    return ran


def test_should_stop_ends_a_decode_step_between_blocks():
    _, ours = hf_and_ours(**tiny_kwargs())
    layers, prompt = ours.config.n_layer, [1, 2, 3]
    ran = blocks_run(ours)
    cache = new_cache(ours)
    # true once the prefill and the first decode step are done and one block of the second
    got = list(generate(ours, prompt, 20, cache=cache, should_stop=lambda: len(ran) > 2 * layers))
    assert len(ran) == 2 * layers + 1  # no block ran after it fired
    fresh = list(generate(ours, prompt, 20))
    assert got == fresh[:2]  # the token the cut step would have followed is out already
    assert cache.tokens == prompt + got[:1]  # the cut step left nothing behind
    assert list(generate(ours, prompt + got, 6, cache=cache)) == fresh[2:8]
    assert list(generate(ours, prompt, 20, should_stop=lambda: True)) == []


def test_sampling_is_reproducible_and_top_k_1_is_greedy():
    _, ours = hf_and_ours(**tiny_kwargs())
    prompt = [3, 1, 4, 1, 5]
    a = list(generate(ours, prompt, 15, temperature=1.0, seed=7))
    b = list(generate(ours, prompt, 15, temperature=1.0, seed=7))
    c = list(generate(ours, prompt, 15, temperature=1.0, seed=8))
    assert a == b and a != c
    assert list(generate(ours, prompt, 15, temperature=0.8, top_k=1, seed=1)) == list(
        generate(ours, prompt, 15)
    )


def test_top_p_keeps_the_nucleus_only():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.15, 0.05]))
    g = torch.Generator().manual_seed(0)
    seen = {sample(logits, 1.0, top_p=0.7, generator=g) for _ in range(300)}
    assert seen == {0, 1}
    assert {sample(logits, 1.0, top_p=0.01, generator=g) for _ in range(50)} == {0}


def test_allowed_first_ids_constrain_only_the_first_token():
    _, ours = hf_and_ours(**tiny_kwargs())
    prompt = [9, 8, 7]
    free = list(generate(ours, prompt, 6))
    allowed = {t for t in range(97) if t != free[0]}
    got = list(generate(ours, prompt, 6, allowed_first_ids=allowed))
    assert got[0] in allowed and got[0] != free[0]
    assert got[1:] == list(generate(ours, prompt + [got[0]], 5))


def test_prefill_in_chunks_matches_one_pass():
    torch.manual_seed(0)
    lm = GPTBigCodeForCausalLM(GPTBigCodeConfig(**tiny_kwargs(n_positions=256))).eval()
    ids = torch.randint(0, 97, (200,)).tolist()
    a = prefill(lm, KVCache(lm.config), ids, chunk=37)
    b = prefill(lm, KVCache(lm.config), ids, chunk=512)
    assert (a - b).abs().max() < 1e-5


def test_extend_computes_ahead_in_chunks_and_keeps_what_it_did_when_stopped():
    _, lm = hf_and_ours(**tiny_kwargs(n_positions=128))
    prompt = list(range(1, 80))
    cache, ran = new_cache(lm), blocks_run(lm)
    layers = lm.config.n_layer

    def stop_in_the_third_chunk() -> bool:  # after its first block
        return len(ran) > 2 * layers

    assert extend(lm, cache, prompt, stop_in_the_third_chunk, chunk=16) == 32
    assert len(ran) == 2 * layers + 1  # the third pass ended at the next block
    assert cache.tokens == prompt[:32]  # two chunks done, and kept
    assert extend(lm, cache, prompt, chunk=16) == len(prompt) - 32  # goes on from there
    # A prompt that parts from the cached one is computed from where they part.
    edited = prompt[:50] + [90, 91]
    assert extend(lm, cache, edited, chunk=16) == 2 and cache.tokens == edited
    # What was computed ahead is what a cold start computes: same tokens follow.
    fed = []
    import model.generate as engine

    real = engine.prefill
    engine.prefill = lambda lm_, c, ids, **kw: (fed.append(len(ids)), real(lm_, c, ids, **kw))[1]
    try:
        warm = list(generate(lm, edited + [7], 6, cache=cache))
    finally:
        engine.prefill = real
    assert fed == [1] and warm == list(generate(lm, edited + [7], 6))


def test_cache_reports_memory_and_truncates_in_place():
    cfg = GPTBigCodeConfig(**tiny_kwargs())
    cache = KVCache(cfg, capacity=32)
    assert cache.nbytes == 2 * 3 * 32 * 8 * 4  # k and v, 3 layers, 32 slots, hd 8, fp32
    assert (
        KVCache(GPTBigCodeConfig(**tiny_kwargs(multi_query=False)), capacity=32).nbytes
        == 4 * cache.nbytes
    )
    assert common_prefix_len([1, 2, 3], [1, 2, 4, 5]) == 2
    # Truncation keeps the first n positions and their ids; the next write reuses the slots.
    lm = GPTBigCodeForCausalLM(cfg).eval()
    prefill(lm, cache, [5, 6, 7, 8])
    kept = cache.k[:, :, :2].clone()
    cache.truncate(2)
    assert (cache.length, cache.tokens) == (2, [5, 6])
    storage = cache.k.data_ptr()
    after = prefill(lm, cache, [9])
    assert cache.tokens == [5, 6, 9] and cache.k.data_ptr() == storage
    assert torch.equal(cache.k[:, :, :2], kept)
    assert torch.allclose(after, prefill(lm, KVCache(cfg, capacity=32), [5, 6, 9]), atol=1e-5)
    # The reuse rule: the common prefix, never the prompt's last token.
    assert cache.reusable([5, 6, 9, 1]) == 3 and cache.reusable([5, 6, 9]) == 2
    assert cache.reuse([5, 4]) == 1 and cache.tokens == [5]


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_fast_decode_step_equals_module_forward(attn):
    from model.generate import decode_one

    torch.manual_seed(0)
    lm = GPTBigCodeForCausalLM(
        GPTBigCodeConfig(**tiny_kwargs(n_positions=128, attn_implementation=attn))
    ).eval()
    ids = torch.randint(0, 97, (40,)).tolist()
    cache = new_cache(lm)
    prefill(lm, cache, ids[:30])
    steps = torch.stack([decode_one(lm, cache, t) for t in ids[30:]])
    with torch.no_grad():
        full = lm(torch.tensor([ids])).logits[0, 30:40]
    assert (steps - full).abs().max() < 1e-5
    assert cache.tokens == ids and cache.length == 40


def test_int8_quantization_stays_close_and_decodes(tmp_path):
    from model.quantize import Int8Linear

    torch.manual_seed(0)
    lm = GPTBigCodeForCausalLM(GPTBigCodeConfig(**tiny_kwargs(n_positions=128, n_embd=64))).eval()
    lm.save_pretrained(tmp_path)
    q = GPTBigCodeForCausalLM.from_pretrained(tmp_path, quantize="int8")
    assert isinstance(q.transformer.h[0].attn.c_attn, Int8Linear) and isinstance(
        q.lm_head, Int8Linear
    )
    assert q.transformer.wte.weight.dtype == torch.float32
    ids = torch.randint(0, 97, (1, 20))
    with torch.no_grad():
        ref, got = lm(ids).logits, q(ids).logits
    assert (got - ref).abs().max() < 0.05 * ref.abs().max()  # int8 rows + bf16 activations
    prompt = ids[0].tolist()
    a, b = list(generate(lm, prompt, 10)), list(generate(q, prompt, 10))
    assert len(b) == 10 and sum(x == y for x, y in zip(a, b, strict=True)) >= 5


def test_int8_wide_passes_take_bf16_copies_and_narrow_ones_the_int8_kernel():
    from model.layers import WIDE_ROWS
    from model.quantize import quantize_int8

    torch.manual_seed(0)
    base = GPTBigCodeForCausalLM(GPTBigCodeConfig(**tiny_kwargs(n_positions=128, n_embd=64)))
    base.eval()
    narrow, wide = (GPTBigCodeForCausalLM(base.config) for _ in range(2))
    for lm, keep in ((narrow, False), (wide, True)):
        lm.load_state_dict(base.state_dict())
        quantize_int8(lm.eval(), wide=keep)
    assert wide.transformer.h[0].attn.wide_dtype == torch.bfloat16
    assert narrow.transformer.h[0].attn.wide_dtype is None
    ids = torch.randint(0, 97, (1, 40))
    with torch.no_grad():
        ref, n, w = (lm(ids).logits for lm in (base, narrow, wide))
        # typed keys and drafts stay on int8: what a decode step would compute
        short = ids[:, : WIDE_ROWS - 1]
        assert torch.equal(narrow(short).logits, wide(short).logits)
    assert not torch.equal(n, w)  # a prompt took the bf16 copies
    assert (w - ref).abs().max() < 0.05 * ref.abs().max()
    assert (w - ref).abs().mean() < (n - ref).abs().mean()  # bf16 of the weights is closer
    prompt = ids[0].tolist()
    a, b = list(generate(base, prompt, 10)), list(generate(wide, prompt, 10))
    assert sum(x == y for x, y in zip(a, b, strict=True)) >= 5


def test_prompt_lookup_drafts_what_followed_the_newest_ngram():
    from model.lookup import PromptLookup

    index = PromptLookup([1, 2, 3, 4, 9, 1, 2], min_ngram=2, max_ngram=3, max_draft=3)
    assert index.draft() == [3, 4, 9]  # "1 2" was followed by 3 4 9
    assert index.draft(limit=1) == [3]
    index.extend([7])
    assert index.draft() == []  # "2 7" and "1 2 7" never occurred before
    index.extend([1, 2, 3])
    assert index.draft() == [4, 9, 1]  # the longest gram "1 2 3" wins
    assert PromptLookup([5, 5], min_ngram=2).draft() == []  # the tail never matches itself


def count_calls(monkeypatch, owner, name: str, counter: dict) -> None:
    """Make `owner.name` count its calls in `counter["n"]`."""
    real = getattr(owner, name)

    def counting(*a, **k):
        counter["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(owner, name, counting)


def test_prompt_lookup_prefers_what_followed_in_the_recent_output():
    from model.lookup import PromptLookup

    # The prompt has "1 2" followed by 3; the last suggestion had "1 2" followed by 7 8.
    index = PromptLookup([1, 2, 3, 0, 1, 2], recent=[5, 1, 2, 7, 8], max_draft=4)
    assert index.draft() == [7, 8]
    assert PromptLookup([1, 2, 3, 0, 1, 2], max_draft=4).draft() == [3, 0, 1, 2]


def test_prompt_lookup_drafts_the_rest_of_the_last_suggestion_when_it_is_typed(monkeypatch):
    """A user types the suggestion instead of accepting it: the next request's output is
    the rest of the last one, drafted from the cache and accepted in one pass."""
    import model.generate as g

    _, ours = hf_and_ours(seed=3, **tiny_kwargs(n_positions=160))
    prompt = [5, 17, 29, 41, 53, 17, 29]
    cache = new_cache(ours, 160)
    first = list(generate(ours, prompt, 12, cache=cache))
    typed = prompt + first[:2]
    plain = list(generate(ours, typed, 10))
    calls = {"n": 0}
    count_calls(monkeypatch, g, "verify", calls)
    drafted = list(generate(ours, typed, 10, cache=cache, lookup=True))
    assert drafted == plain  # the same tokens as greedy decoding
    assert drafted[:8] == first[2:10]  # greedy continues its own output here
    assert calls["n"] <= 2  # the rest of the suggestion came in one or two passes


def test_prompt_lookup_keeps_greedy_tokens_exactly(monkeypatch):
    import model.generate as g

    _, ours = hf_and_ours(seed=7, **tiny_kwargs(n_positions=160))
    calls = {"verify": 0, "decode": 0}
    real_verify, real_decode = g.verify, g.decode_one

    def verify(*a):
        calls["verify"] += 1
        return real_verify(*a)

    def decode_one(*a):
        calls["decode"] += 1
        return real_decode(*a)

    monkeypatch.setattr(g, "verify", verify)
    monkeypatch.setattr(g, "decode_one", decode_one)
    rng = torch.Generator().manual_seed(0)
    generated = 0
    for seed in range(30):
        motif = torch.randint(1, 97, (2 + seed % 6,), generator=rng).tolist()
        tail = torch.randint(1, 97, (seed % 5,), generator=rng).tolist()
        prompt = (motif * 8)[: 10 + seed] + tail
        n = 20 + seed * 3  # up to 107: runs into the 160-position context for long prompts
        stops = {prompt[-1]} if seed % 7 == 0 else set()
        first = set(range(1, 50)) if seed % 5 == 0 else None
        plain = list(generate(ours, prompt, n, stop_token_ids=stops, allowed_first_ids=first))
        calls["decode"] = 0
        fast = list(
            generate(ours, prompt, n, stop_token_ids=stops, allowed_first_ids=first, lookup=True)
        )
        assert fast == plain, seed
        generated += len(fast)
    assert calls["verify"] > 0  # drafts were tried, and they saved passes overall
    # Reusing a document's cache across requests gives the same tokens as well.
    cache = new_cache(ours)
    prompt = [3, 4, 5, 6] * 10
    assert list(generate(ours, prompt, 30, cache=cache, lookup=True)) == list(
        generate(ours, prompt, 30)
    )
    assert list(generate(ours, prompt + [3, 4], 30, cache=cache, lookup=True)) == list(
        generate(ours, prompt + [3, 4], 30)
    )


def test_prompt_lookup_saves_forward_passes_on_repeated_text(monkeypatch):

    _, ours = hf_and_ours(seed=7, **tiny_kwargs(n_positions=256))
    prompt = [11, 12, 13, 14, 15, 16] * 4
    plain = list(generate(ours, prompt, 60))
    # Feed the model's own continuation back as the prompt: now everything repeats.
    prompt = prompt + plain
    passes = {"n": 0}
    count_calls(monkeypatch, ours, "forward", passes)
    count_calls(monkeypatch, ours, "decode_step", passes)
    plain = list(generate(ours, prompt, 60))
    plain_passes, passes["n"] = passes["n"], 0
    assert list(generate(ours, prompt, 60, lookup=True)) == plain
    assert passes["n"] < 0.75 * plain_passes, (passes["n"], plain_passes)
