"""Search over single lines: branches decoded together (`model.branching`) and the
service's choice among the model's lines."""

from __future__ import annotations

import math

import pytest
import torch

from lsp_server.backends.base import StreamStats, TextStream
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.branching import first_deviations, greedy_branches
from model.generate import generate, new_cache, prefill
from model.scoring import continuation_logprobs, one_by_one
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours
from tests.models import ScriptedBackend


def alone(lm, prompt, start, ends, cap):
    """A branch the slow way: its own cache, one greedy generation after the start."""
    if start[-1] in ends or len(start) >= cap:
        return list(start)
    out = list(start)
    for token in generate(lm, prompt + start, cap - len(start), stop_token_ids=ends):
        out.append(token)
    return out


@pytest.mark.parametrize("cap", [1, 3, 12])
def test_branches_decoded_together_equal_each_decoded_alone(cap):
    _, lm = hf_and_ours(seed=3, **tiny_kwargs(n_positions=128))
    prompt = list(range(5, 40))
    with torch.inference_mode():
        greedy = list(generate(lm, prompt, 12))
    ends = {greedy[4], 17}  # some branch runs into an end, some into the cap
    starts = [[greedy[0]], [21], greedy[:3] + [33], [17], [8, 9, 10, 11]]
    cache = new_cache(lm)
    prefill(lm, cache, prompt[:20])  # a cache that holds part of the prompt
    got = greedy_branches(lm, cache, prompt, starts, ends, cap)
    assert got == [alone(lm, prompt, s, ends, cap) for s in starts]
    assert cache.tokens == prompt[:-1]  # the next keystroke reuses the prompt


def test_a_stop_leaves_the_prompt_and_answers_none():
    _, lm = hf_and_ours(seed=3, **tiny_kwargs(n_positions=128))
    prompt, ran = list(range(5, 40)), []
    for block in lm.transformer.h:
        block.register_forward_hook(lambda *_: ran.append(1))
    cache = new_cache(lm)
    got = greedy_branches(lm, cache, prompt, [[3], [4]], set(), 10, lambda: len(ran) > 5)
    assert got is None and cache.tokens == prompt[:-1]


def test_branches_stop_where_the_cache_ends():
    _, lm = hf_and_ours(seed=3, **tiny_kwargs(n_positions=48))
    prompt = list(range(5, 40))  # 34 cached + 1: room for 13 tree tokens
    got = greedy_branches(lm, new_cache(lm), prompt, [[3], [4]], set(), 40)
    assert got is not None and 2 <= sum(map(len, got)) <= 13
    assert all(b[0] == s for b, s in zip(got, (3, 4), strict=True))


def test_the_likeliest_deviations_come_first():
    greedy, logprobs = [1, 2, 3], [-0.1, -0.5, -0.2]
    top = [
        ([1, 7, 8], [-0.1, -2.6, float("-inf")]),  # 8 lies outside the healing constraint
        ([2, 9], [-0.5, -1.0]),
        ([3, 4, 5], [-0.2, -1.9, -3.0]),
    ]
    assert first_deviations(greedy, logprobs, top, 3) == [[1, 9], [1, 2, 4], [7]]
    # 1 + 9: -1.1; 1 + 2 + 4: -2.5; 7: -2.6
    assert first_deviations(greedy[:1], logprobs, top, 5) == [[7]]


@pytest.mark.parametrize("one_pass_each", [False, True])
def test_a_line_scores_its_ending_too(one_pass_each):
    """With `end_ids`, a continuation's score adds the log of the probability mass of the
    tokens that end it, summed; an empty continuation is its ending alone."""
    _, lm = hf_and_ours(seed=5, **tiny_kwargs(n_positions=128))
    prompt, ends = list(range(3, 25)), [0, 7, 9]
    continuations = [[5, 6], [], [8]]
    if one_pass_each:  # flash-attn's path
        got = list(one_by_one(lm, primed(lm, prompt), prompt[-1], continuations, None, ends))
    else:
        cache = new_cache(lm)
        got = continuation_logprobs(lm, cache, prompt, continuations, end_ids=ends)
        assert cache.tokens == prompt[:-1]
    for ids, score in zip(continuations, got, strict=True):
        with torch.inference_mode():
            logp = torch.log_softmax(lm(torch.tensor([prompt + ids])).logits[0].float(), -1)
        rows = logp[len(prompt) - 1 :]
        want = sum(float(rows[k, t]) for k, t in enumerate(ids))
        want += float(torch.logsumexp(rows[len(ids), ends], 0))
        assert score == pytest.approx(want, abs=1e-4)


def primed(lm, prompt):
    cache = new_cache(lm)
    prefill(lm, cache, prompt[:-1])
    return cache


def choose(line, scores, searched, prefix="def f(t):\n    ", suffix="\n", **settings):
    svc = CompletionService(
        Settings(
            **{"multiline": "single", "precompute": False, "line_candidates": False, **settings}
        )
    )
    svc._backend = backend = ScriptedBackend(line, scores, searched)
    result = svc.complete_now(CompletionRequest("file:///s.py", 1, prefix, suffix, "s.py"))
    svc.shutdown()
    return result, backend


def test_a_searched_line_the_model_finds_likelier_is_shown_and_the_rest_cycle():
    scores = {"print(t)": -6.0, "return t": -1.0, "pass": -3.0}
    result, backend = choose("print(t)", scores, ["return t", "pass"])
    assert (result.text, result.source) == ("return t", "search")
    assert result.alternatives == ("pass", "print(t)")  # ranked, the greedy line among them
    assert backend.searches == [("print(t)", 4)]  # from the greedy text, `lineSearch` wide
    assert result.confidence == pytest.approx(math.exp(-1.0 / 4))  # 3 tokens and its end


def test_the_greedy_line_stays_when_likelier_and_a_doubtful_searched_line_is_hidden():
    result, _ = choose("print(t)", {"print(t)": -1.0, "return t": -2.0}, ["return t"])
    assert (result.text, result.source) == ("print(t)", "model")
    result, _ = choose("print(t)", {"print(t)": -30.0, "return t": -29.0}, ["return t"])
    assert (result.text, result.detail) == ("", "unsure")


def test_ending_the_line_competes_with_the_searched_lines():
    """Where the greedy answer is to write nothing on the line, a searched line must be
    likelier than that to show."""
    scores = {"": -0.5, "y = 2": -4.0}
    result, backend = choose("", scores, ["y = 2"], prefix="x = 1\n", suffix="\n")
    assert (result.text, result.detail) == ("", "nothing") and backend.scored == [["", "y = 2"]]


def test_no_search_once_the_line_has_text_before_the_cursor():
    result, backend = choose("1", {"1": -5.0, "2": -0.1}, ["2"], prefix="x = 1 + ", suffix="\n")
    assert result.text == "1" and backend.searches == []
    for typed in ("return t.", "x == ", "x += ", "x[0] = "):  # a keyword or an `=` and more
        prefix = f"def f(t):\n    {typed}"
        result, backend = choose("x", {"x": -5.0, "y": -0.1}, ["y"], prefix=prefix, suffix="\n")
        assert result.text == "x" and backend.searches == []


@pytest.mark.parametrize(
    "word", ["return", "yield", "raise", "assert", "if", "elif", "while", "x =", "self.total ="]
)
def test_after_a_statement_keyword_or_an_assignment_the_line_is_searched_too(word):
    prefix = f"def f(t):\n    {word} "
    result, backend = choose("t + 1", {"t + 1": -5.0, "t": -0.5}, ["t"], prefix=prefix)
    assert (result.text, result.source) == ("t", "search") and backend.searches


def test_no_search_when_off_or_when_the_greedy_line_was_cut_by_the_cap():
    _, backend = choose("print(t)", {}, ["return t"], line_search=0)
    assert backend.searches == [] and backend.scored == []
    cut = ScriptedBackend("print(t)", {"print(t)": -1.0, "return t": -0.1}, ["return t"])
    cut.stream = lambda *a: TextStream(iter(["print(t)"]), StreamStats(generated_tokens=48))
    svc = CompletionService(Settings(multiline="single", precompute=False))
    svc._backend = cut
    result = svc.complete_now(CompletionRequest("file:///s.py", 1, "def f(t):\n    ", "\n"))
    svc.shutdown()
    assert result.text == "print(t)" and cut.searches == []


def test_a_line_the_model_is_sure_of_is_not_searched():
    scores = {"print(t)": -1.0, "return t": -0.1}
    for logprob, searched in ((-0.05, False), (-1.5, True)):  # p 0.95, then 0.22
        backend = ScriptedBackend("print(t)", scores, ["return t"])
        stats = StreamStats(logprobs=[logprob], ends=[len("print(t)\n")], top=[[]])
        backend.stream = lambda *a, s=stats: TextStream(iter(["print(t)\n"]), s)
        svc = CompletionService(Settings(multiline="single", precompute=False, min_confidence=0))
        svc._backend = backend
        result = svc.complete_now(CompletionRequest("file:///s.py", 1, "def f(t):\n    ", "\n"))
        svc.shutdown()
        assert bool(backend.searches) == searched
        assert result.text == ("return t" if searched else "print(t)")


def test_where_the_document_offers_lines_they_are_the_rivals_not_a_search():
    doc = "for t in s:\n    total += t\n\nfor t in s:\n    "
    scores = {"print(t)": -5.0, "total += t": -1.0, "return t": -0.1}
    result, backend = choose("print(t)", scores, ["return t"], prefix=doc, line_candidates=True)
    assert backend.searches == [] and (result.text, result.source) == ("total += t", "document")


def test_the_local_backend_searches_from_its_last_generation(tmp_path):
    """`LocalBackend.search` branches off the generation it made last for the same plan
    (its tokens and each step's likeliest others) and returns whole lines only."""
    from lsp_server.completion.planning import plan_request
    from tests.models import make_model_dir

    model = make_model_dir(tmp_path, n_positions=512)
    settings = Settings(model=str(model), max_new_tokens=6, multiline="single", precompute=False)
    svc = CompletionService(settings)
    svc.load().result()
    backend = svc.backend
    request = CompletionRequest("file:///t.py", 1, "x = 1\n", "\n", "t.py")
    plan = plan_request(request, backend, settings, [])
    assert backend.search(plan, request.uri, settings, "", 3, lambda: False) == []  # none yet
    stream = backend.stream(plan, request.uri, settings, lambda: False)
    texts = list(stream)
    ids = list(backend._last_run[2])
    backend._line_ends = frozenset(range(backend.engine.tokens.size))  # every token ends a line
    made, branches = [], backend.engine.branches
    backend.engine.branches = lambda *a, **k: made.extend(branches(*a, **k)) or made
    found = backend.search(plan, request.uri, settings, texts[-1], 3, lambda: False)
    assert len(found) == len(made) == 3
    # each follows the greedy tokens to a step, then takes another token there
    assert all(b[:-1] == ids[: len(b) - 1] and b[-1] != ids[len(b) - 1] for b in made)
    assert found == [backend.engine.tokens.decode(b) for b in made]
    other = CompletionRequest("file:///u.py", 1, "y = 2\n", "\n", "u.py")
    assert backend.search(plan, other.uri, settings, "", 3, lambda: False) == []  # not its run
    svc.shutdown(wait_s=5)
