"""Lines the document suggests (`fim.candidates`), their scores (`continuation_logprobs`)
and the completion service choosing between them and the model's own line."""

from __future__ import annotations

import pytest
import torch

from fim.candidates import line_candidates
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.generate import new_cache, prefill
from model.scoring import continuation_logprobs, one_by_one, tree_pass
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours
from tests.models import ScriptedBackend, make_model_dir
from training.corpus import stdlib_root

K = "for t in s:\n"
CANDIDATE_CASES = [
    # (why, prefix, suffix, sources, expected)
    ("a follower above", K + "    a(t)\n\n" + K + "    ", "\n", [], ["a(t)"]),
    ("a follower below", K + "    ", "\npass\n" + K + "    b(t)\n", [], ["b(t)"]),
    ("the cursor's own place never counts", K + "    ", "\n    a(t)\n", [], []),
    (
        "a line that came before the line below",
        "a()\n    ",
        "\n    return t\n\nb()\n    t = a + b\n    return t\n",
        [],
        ["t = a + b"],
    ),
    (
        "both directions, nearest first, each once",
        "k\nv1\nz\nk\nv2\nk\n",
        "\nz\n",
        [],
        ["v2", "v1"],
    ),
    (
        "nearest first, above and below in turn",
        "k:\n  far\nk:\n  near_above\nk:\n  ",
        "\nk:\n  near_below\n",
        [],
        ["near_above", "near_below", "far"],
    ),
    (
        "what was typed filters, the rest is inserted",
        "x()\ny = 2\nx()\nself.a = 1\nx()\nself.",
        "\n",
        [],
        ["a = 1"],
    ),
    ("mid-line: nothing", "x()\nself.a\nx()\nse", "lf\n", [], []),
    ("first line: nothing", "    ", "\nx()\n", [], []),
    ("only blank lines above: nothing", "\n\n    ", "\n", [], []),
    ("a typed-out line adds nothing", "k\nab\nk\nab", "\n", [], []),
    (
        "snippets after the document",
        "def g():\n    ",
        "\n",
        ["def g():\n    return 2\n"],
        ["return 2"],
    ),
    ("duplicates once", "k\nv\nk\nv\nk\n", "\n", ["k\nv"], ["v"]),
]


@pytest.mark.parametrize(
    "prefix,suffix,sources,expected",
    [c[1:] for c in CANDIDATE_CASES],
    ids=[c[0] for c in CANDIDATE_CASES],
)
def test_line_candidates(prefix, suffix, sources, expected):
    assert line_candidates(prefix, suffix, sources) == expected


def test_line_candidates_stop_at_the_limit():
    prefix = "".join(f"k\nv{i}\n" for i in range(20)) + "k\n"
    assert line_candidates(prefix, "\n", limit=3) == ["v19", "v18", "v17"]


def test_continuation_logprobs_equal_a_full_forward_and_keep_the_prompt():
    _, lm = hf_and_ours(seed=7, **tiny_kwargs(n_positions=128))
    prompt = list(range(3, 30))
    continuations = [[5], [9, 11, 13], list(range(40, 60))]
    cache = new_cache(lm)
    got = continuation_logprobs(lm, cache, prompt, continuations)
    for ids, score in zip(continuations, got, strict=True):
        with torch.inference_mode():
            logits = lm(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1 : -1]
        want = torch.log_softmax(logits.float(), -1).gather(1, torch.tensor(ids)[:, None]).sum()
        assert score == pytest.approx(float(want), abs=1e-4)
    assert cache.tokens == prompt[:-1]  # a next request reuses all but the last token
    again = continuation_logprobs(lm, cache, prompt, continuations[:1])
    assert again[0] == pytest.approx(got[0], abs=1e-5)


def test_continuation_logprobs_stop_and_refuse_what_does_not_fit():
    _, lm = hf_and_ours(seed=7, **tiny_kwargs(n_positions=32))
    assert continuation_logprobs(lm, new_cache(lm), [1, 2, 3], [[4], [5]], lambda: True) == []
    too_long = continuation_logprobs(lm, new_cache(lm), list(range(1, 20)), [list(range(20)), [3]])
    assert too_long[0] == float("-inf") and too_long[1] > float("-inf")


def test_a_scoring_pass_is_cut_between_blocks_and_leaves_the_prompt():
    _, lm = hf_and_ours(seed=7, **tiny_kwargs(n_positions=64))
    cache, prompt, ran = new_cache(lm), [1, 2, 3, 4], []
    for block in lm.transformer.h:
        block.register_forward_hook(lambda *_: ran.append(1))
    prefill(lm, cache, prompt[:-1])
    before = len(ran)
    # true after the tree pass's first block
    cut = continuation_logprobs(lm, cache, prompt, [[4], [5, 6]], lambda: len(ran) > before)
    assert cut == [] and len(ran) == before + 1 and cache.tokens == prompt[:-1]
    full = continuation_logprobs(lm, cache, prompt, [[4], [5, 6]])
    assert full == pytest.approx(continuation_logprobs(lm, new_cache(lm), prompt, [[4], [5, 6]]))


def test_one_pass_with_a_tree_mask_equals_one_pass_each():
    _, lm = hf_and_ours(seed=9, **tiny_kwargs(n_positions=256))
    prompt = list(range(5, 60))
    # 1 to 30 tokens each: the folded few-query kernel and SDPA both serve the tree pass
    continuations = [[7], [8, 9], list(range(10, 40)), [11, 12, 13, 14]]
    cache = new_cache(lm)
    prefill(lm, cache, prompt[:-1])
    together = tree_pass(lm, cache, prompt[-1], continuations)
    assert cache.tokens == prompt[:-1]
    calls = iter([False, False, True])
    apart = list(one_by_one(lm, cache, prompt[-1], continuations, lambda: next(calls)))
    assert cache.tokens == prompt[:-1] and len(apart) == 2  # stopped before the third
    apart += list(one_by_one(lm, cache, prompt[-1], continuations[2:], None))
    assert together == pytest.approx(apart, abs=1e-4)
    few = tree_pass(lm, cache, prompt[-1], continuations[:2])  # 4 new tokens: folded kernel
    assert few == pytest.approx(apart[:2], abs=1e-4)


def test_a_4d_mask_is_checked():
    _, lm = hf_and_ours(seed=9, **tiny_kwargs(n_positions=64))
    ids = torch.tensor([[1, 2, 3]])
    with pytest.raises(ValueError, match="position_ids"):
        lm(ids, attention_mask=torch.ones(1, 1, 3, 3, dtype=torch.bool))
    with pytest.raises(ValueError, match="expected"):
        lm(ids, attention_mask=torch.ones(1, 1, 3, 4, dtype=torch.bool), position_ids=ids)


def choose(prefix: str, suffix: str, line: str, scores, **settings):
    svc = CompletionService(Settings(**{"multiline": "single", "precompute": False, **settings}))
    svc._backend = backend = ScriptedBackend(line, scores)
    result = svc.complete_now(CompletionRequest("file:///c.py", 1, prefix, suffix, "c.py"))
    svc.shutdown()
    return result, backend.scored


DOC = K + "    total += t\n\n" + K + "    "


def test_the_likelier_document_line_is_shown():
    result, scored = choose(DOC, "\n", "print(t)", {"print(t)": -5.0, "total += t": -1.0})
    assert (result.text, result.source) == ("total += t", "document")
    assert scored == [["print(t)", "total += t"]]  # each as a whole line (`Backend.score`)


def test_the_model_line_stays_when_it_is_likelier():
    result, _ = choose(DOC, "\n", "print(t)", {"print(t)": -1.0, "total += t": -5.0})
    assert (result.text, result.source) == ("print(t)", "model")


def test_the_lines_weighed_come_back_ranked_as_alternatives():
    scores = {"print(t)": -5.0, "total += t": -1.0}
    result, _ = choose(DOC, "\n", "print(t)", scores)
    assert (result.text, result.alternatives) == ("total += t", ("print(t)",))
    result, _ = choose(DOC, "\n", "print(t)", scores, candidates=1)
    assert (result.text, result.alternatives) == ("total += t", ())
    result, _ = choose(DOC, "\n", "print(t)", {"print(t)": -1.0, "total += t": -5.0})
    assert (result.text, result.alternatives) == ("print(t)", ("total += t",))


def test_when_the_model_loops_the_likeliest_document_line_is_shown_without_a_contest():
    junk = "g(t, t, t, t, t, t, t, t, t"
    result, scored = choose(DOC, "\n", junk, {"total += t": -9.0})
    assert (result.text, result.source) == ("total += t", "document")
    assert scored == [["total += t"]]  # the looping line is not scored against it


def test_a_looping_line_with_no_document_line_is_hidden_as_junk():
    result, _ = choose("x = 1\n", "\n", "g(t, t, t, t, t, t, t, t, t", {})
    assert (result.text, result.status, result.detail) == ("", "empty", "junk")


@pytest.mark.parametrize(
    "prefix,suffix,settings,why",
    [
        ("x = 1\n", "\n", {}, "no candidate"),
        (DOC, "\n", {"line_candidates": False}, "turned off"),
        (DOC, "\n", {"multiline": "multi"}, "a block is asked for"),
        (K + "    ", "\n    total += t\n" + K + "    total += t\n", {}, "the only one is an echo"),
    ],
)
def test_no_scoring_when(prefix, suffix, settings, why):
    result, scored = choose(prefix, suffix, "print(t)", {}, **settings)
    assert scored == [] and result.text == "print(t)", why


def test_a_backend_that_cannot_score_keeps_the_model_line():
    result, scored = choose(DOC, "\n", "print(t)", None)
    assert len(scored) == 1 and (result.text, result.source) == ("print(t)", "model")


def test_scoring_leaves_the_cache_right_for_the_next_keystroke(tmp_path):
    """After candidates were scored on a document's cache, the next request answers as a
    fresh service does, and reuses the prompt."""
    path = make_model_dir(tmp_path, n_positions=1024)
    # fileNgrams off: with it the random model writes the document's line itself, and a
    # line with no rival is not weighed
    base = dict(
        model=str(path), max_new_tokens=6, context_tokens=700, multiline="single", file_ngrams=0
    )
    source = (stdlib_root() / "textwrap.py").read_text()[:1500]
    doc = source + "\n" + K + "    total += t\n" + K + "    "
    typing, fresh = (CompletionService(Settings(**base, precompute=False)) for _ in range(2))
    typing.load().result(), fresh.load().result()
    scored, encoded = [], []
    score, encode = typing.backend.score, typing.backend.encode
    typing.backend.score = lambda *a: scored.append(a[3]) or score(*a)
    typing.backend.encode = lambda pieces: encoded.append(1) or encode(pieces)
    first = typing.complete_now(CompletionRequest("file:///a.py", 1, doc, "\n", "a.py"))
    assert first.status in ("ok", "empty") and scored
    assert scored[0][-1].endswith("total += t")  # the greedy line, the searched, the document's
    assert len(encoded) == 1  # scoring reuses the prompt ids the generation encoded
    nxt = CompletionRequest("file:///a.py", 2, doc + "t", "\n", "a.py")
    warm, cold = typing.complete_now(nxt), fresh.complete_now(nxt)
    assert (warm.text, warm.source) == (cold.text, cold.source)
    assert warm.reused_tokens >= first.prompt_tokens - 2
    for svc in (typing, fresh):
        svc.shutdown(wait_s=5)
