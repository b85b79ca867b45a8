"""How sure the model was of a suggestion: each generated token's log-probability
and the likeliest alternatives (`GenerationStats.logprobs`, `.top`), the agreeing mass
per token over the shown text (`StreamStats.confidence`), and the `minConfidence` setting hiding the doubtful ones."""

from __future__ import annotations

import math

import pytest
import torch

from lsp_server.backends.base import StreamStats, TextStream
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.generate import GenerationStats, generate
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours
from tests.models import ScriptedBackend


@pytest.mark.parametrize("lookup", [False, True])
def test_each_generated_token_carries_its_log_probability(lookup):
    _, lm = hf_and_ours(seed=3, **tiny_kwargs(n_positions=128))
    prompt = [5, 6, 7, 5, 6, 7, 5, 6]  # repeats, so prompt lookup drafts some tokens
    with torch.inference_mode():
        first = lm(torch.tensor([prompt])).logits[0, -1]
    allowed = torch.topk(first, 3).indices[1:].tolist()  # the constraint (token healing)
    stats = GenerationStats()
    out = list(generate(lm, prompt, 12, stats=stats, allowed_first_ids=allowed, lookup=lookup))
    assert out[0] == allowed[0] and len(stats.logprobs) == len(out) == len(stats.top)
    with torch.inference_mode():
        logits = lm(torch.tensor([prompt + out])).logits[0, len(prompt) - 1 : -1].float()
    want = torch.log_softmax(logits, -1).gather(1, torch.tensor(out)[:, None])[:, 0].tolist()
    # the first among the tokens the user's text allows: how sure, given what was typed
    want[0] = float(torch.log_softmax(logits[0, allowed], -1)[0])
    assert stats.logprobs == pytest.approx(want, abs=1e-4)
    assert stats.logprobs[0] > float(torch.log_softmax(logits[0], -1)[out[0]])
    ids, logprobs = stats.top[0]  # the allowed ones first, the rest impossible
    assert ids[:2] == allowed and logprobs[0] == pytest.approx(want[0], abs=1e-4)
    assert logprobs[2] == float("-inf")
    ids, logprobs = stats.top[1]  # a free step: the model's own likeliest, best first
    assert ids[0] == out[1] and logprobs == sorted(logprobs, reverse=True)
    assert logprobs == pytest.approx(torch.log_softmax(logits[1], -1)[ids].tolist(), abs=1e-4)


L = math.log
CONFIDENCE_CASES = [
    # (why, logprobs, ends, top alternatives per token, shown text, expected)
    ("the tokens that wrote the text", [-1.0, -3.0, -9.0], [2, 5, 9], [], "ab(de", math.exp(-2.0)),
    ("one that runs past it counts", [-1.0, -3.0, -9.0], [2, 5, 9], [], "ab(", math.exp(-2.0)),
    ("all of them", [-1.0, -3.0], [2, 5], [], "x" * 50, math.exp(-2.0)),
    (
        "another spelling of the same text agrees",  # "])" or "]" then ")"
        [L(0.4)],
        [2],
        [[("])", L(0.4)), ("]", L(0.3)), ("])\n", L(0.2)), (")", L(0.1))]],
        "])",
        0.9,
    ),
    (
        "a longer token agrees where the text ends",
        [L(0.5), L(0.2)],
        [3, 5],
        [[("abc", L(0.5)), ("ab", L(0.1)), ("b", L(0.4))], [("d\n", L(0.2)), ("d", L(0.6))]],
        "abcd",
        math.sqrt(0.6 * 0.8),
    ),
    (
        "tokens that disagree do not count",
        [L(0.25)],
        [1],
        [[("x", L(0.25)), ("y", L(0.5)), ("xz", L(0.25))]],
        "x\n",
        0.25,
    ),
    ("nothing shown", [-1.0], [2], [], "", None),
    ("not reported (a remote backend)", [], [], [], "abcde", None),
]


@pytest.mark.parametrize(
    "logprobs,ends,top,shown,expected",
    [c[1:] for c in CONFIDENCE_CASES],
    ids=[c[0] for c in CONFIDENCE_CASES],
)
def test_confidence_of_the_shown_text(logprobs, ends, top, shown, expected):
    got = StreamStats(logprobs=logprobs, ends=ends, top=top).confidence(shown)
    assert got == (pytest.approx(expected) if expected is not None else None)


class SureBackend(ScriptedBackend):
    """Streams `line` one character per token, each with probability `p` (or none)."""

    def __init__(self, line: str, p: float | None, scores: dict[str, float] | None = None):
        super().__init__(line, scores)
        self.p = p

    def stream(self, plan, uri, settings, should_stop, monitor=None) -> TextStream:
        stats, line = StreamStats(), self.line + "\n"

        def texts():
            for i in range(1, len(line) + 1):
                if self.p is not None:
                    stats.logprobs.append(math.log(self.p))
                    stats.ends.append(i)
                yield line[:i]

        return TextStream(texts(), stats)


def ask(backend, prefix: str = "x = 1\n", **settings):
    svc = CompletionService(Settings(**{"multiline": "single", "precompute": False, **settings}))
    svc._backend = backend
    result = svc.complete_now(CompletionRequest("file:///c.py", 1, prefix, "\n", "c.py"))
    svc.shutdown()
    return result


@pytest.mark.parametrize(
    "p,threshold,shown",
    [
        (0.3, 0.5, False),  # doubtful: hidden
        (0.6, 0.5, True),
        (0.01, 0.0, True),  # 0 shows every suggestion
        (None, 0.99, True),  # a backend that reports no probabilities is never gated
    ],
)
def test_min_confidence_hides_doubtful_suggestions(p, threshold, shown):
    result = ask(SureBackend("print(t)", p), min_confidence=threshold)
    assert (result.text == "print(t)") is shown and result.status == ("ok" if shown else "empty")
    assert result.confidence == (pytest.approx(p) if p is not None else None)
    assert result.detail == ("" if shown else "unsure")


def test_a_document_line_the_model_preferred_is_always_shown():
    doc = "for t in s:\n    total += t\n\nfor t in s:\n    "
    scores = {"print(t)": -5.0, "total += t": -1.0}
    result = ask(SureBackend("print(t)", 0.01, scores), doc, min_confidence=0.9)
    assert (result.text, result.source, result.confidence) == ("total += t", "document", None)


LLAMA_ENTRY = {
    "id": 9,
    "token": " b",
    "logprob": -0.1,
    "top_logprobs": [{"id": 9, "token": " b", "logprob": -0.1}, {"token": " c", "logprob": -3.0}],
}


@pytest.mark.parametrize(
    "event",
    [
        {"content": " b", "completion_probabilities": [LLAMA_ENTRY]},  # llama.cpp native
        {"choices": [{"text": " b", "logprobs": {"content": [LLAMA_ENTRY]}}]},  # its /v1
        {  # OpenAI legacy completions (vLLM)
            "choices": [
                {
                    "text": " b",
                    "logprobs": {
                        "tokens": [" b"],
                        "token_logprobs": [-0.1],
                        "top_logprobs": [{" b": -0.1, " c": -3.0}],
                    },
                }
            ]
        },
    ],
)
def test_remote_probabilities_read_in_each_dialect(event):
    from lsp_server.backends.remote.events import event_probabilities, event_text

    assert event_text(event) == " b"
    (token,) = event_probabilities(event)
    assert (token.text, token.logprob) == (" b", -0.1)
    assert token.top == [(" b", -0.1), (" c", -3.0)]


def test_remote_probabilities_after_sampling_and_malformed_ones():
    from lsp_server.backends.remote.events import event_probabilities

    sampled = {"token": "x", "prob": 0.5, "top_probs": [{"token": "x", "prob": 0.5}]}
    (token,) = event_probabilities({"completion_probabilities": [sampled]})
    assert token.logprob == pytest.approx(math.log(0.5)) and token.top[0][0] == "x"
    for bad in (
        {"completion_probabilities": [{"token": "x"}]},  # no probability
        {"completion_probabilities": [{"token": "x", "logprob": "high"}]},
        {"choices": [{"text": "x", "logprobs": {"tokens": ["x"], "token_logprobs": []}}]},
        {"choices": [{"text": "x", "logprobs": None}]},
        {"choices": "x"},
    ):
        assert event_probabilities(bad) == []


def test_remote_record_aligns_several_tokens_per_event_and_clears_on_a_gap():
    from lsp_server.backends.remote.events import TokenProbability, record_probabilities

    stats = StreamStats()
    two = [TokenProbability("ret", -0.2, []), TokenProbability("urn", -0.3, [])]
    assert record_probabilities(stats, two, 0, 6)
    assert record_probabilities(stats, [TokenProbability(" a", -0.1, [])], 6, 8)
    assert stats.ends == [3, 6, 8] and stats.logprobs == [-0.2, -0.3, -0.1]
    assert stats.confidence("return a") == pytest.approx(math.exp(-0.6 / 3))
    assert not record_probabilities(stats, [], 8, 10)  # a piece without probabilities
    assert stats.logprobs == stats.ends == stats.top == [] and stats.confidence("x") is None
