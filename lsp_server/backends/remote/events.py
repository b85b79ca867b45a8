"""Reading a remote server's streamed events: the new text, what the prompt cost, and the
probabilities of the generated tokens.

Three dialects say the same things in different places:

* llama.cpp's native endpoints (/infill, /completion): `content`, `timings`, and with
  `n_probs` set, `completion_probabilities`: a list of {token, logprob, top_logprobs}
  (or {token, prob, top_probs} when the server reports probabilities after sampling);
* llama.cpp's OpenAI-compatible /v1/completions: `choices[0].text`, `timings`, and the
  same probability list under `choices[0].logprobs.content`;
* OpenAI's legacy completions as vLLM and others serve them: `choices[0].text`, `usage`,
  and with `logprobs: N`, `choices[0].logprobs` as parallel lists `tokens`,
  `token_logprobs` and `top_logprobs` (one {token: logprob} mapping per token).

Anything missing or malformed reads as "not reported", never as an error: probabilities
only decide whether a suggestion is shown, and a server that sends none is not gated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..base import StreamStats


@dataclass(frozen=True)
class TokenProbability:
    """One generated token as the server reported it."""

    text: str
    logprob: float
    top: list[tuple[str, float]]  # the step's likeliest tokens: (text, log-probability)
    id: int | None = None  # the token's id, where the server says (llama.cpp)


def event_text(event: dict) -> str:
    """The new text in one streamed event (OpenAI `choices[0].text`, llama.cpp `content`)."""
    if "content" in event:
        return str(event.get("content") or "")
    choice = _first_choice(event)
    return str(choice.get("text") or "") if choice else ""


def read_usage(event: dict, stats: StreamStats) -> None:
    """Prompt tokens the server evaluated and took from its cache, where it says so:
    llama.cpp's `timings` (prompt_n evaluated, cache_n reused), OpenAI-style `usage`
    (vLLM: prompt_tokens_details.cached_tokens)."""
    timings = event.get("timings")
    if isinstance(timings, dict) and isinstance(timings.get("prompt_n"), int):
        cached = timings.get("cache_n") if isinstance(timings.get("cache_n"), int) else 0
        stats.prompt_tokens = timings["prompt_n"] + cached
        stats.reused_tokens = cached
        return
    usage = event.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        stats.prompt_tokens = usage["prompt_tokens"]
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int):
            stats.reused_tokens = details["cached_tokens"]


def event_probabilities(event: dict) -> list[TokenProbability]:
    """The generated tokens' probabilities in one event, in order ([] if none reported)."""
    if isinstance(event.get("completion_probabilities"), list):
        return _llama_list(event["completion_probabilities"])
    choice = _first_choice(event)
    logprobs = choice.get("logprobs") if choice else None
    if not isinstance(logprobs, dict):
        return []
    if isinstance(logprobs.get("content"), list):
        return _llama_list(logprobs["content"])
    return _openai_lists(logprobs)


def record_probabilities(
    stats: StreamStats, tokens: list[TokenProbability], start: int, end: int
) -> bool:
    """Append `tokens`, which wrote the generated text's characters start..end, to
    `stats`, each ending where its text does (the last one at `end`). A piece of text
    with no probabilities would leave a gap that misaligns all later ones: then the
    record is cleared and False returned, and the caller records no more."""
    if not tokens:
        stats.logprobs.clear()
        stats.top.clear()
        stats.ends.clear()
        return False
    position = start
    for i, token in enumerate(tokens):
        position = end if i == len(tokens) - 1 else min(end, position + len(token.text))
        stats.logprobs.append(token.logprob)
        stats.top.append(token.top)
        stats.ends.append(position)
    return True


def _first_choice(event: dict) -> dict | None:
    choices = event.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def _logprob(entry: dict) -> float | None:
    """An entry's log-probability, from `logprob` or, after sampling, `prob`."""
    value = entry.get("logprob", entry.get("prob"))
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        return None
    if "logprob" in entry:
        return float(value)
    return math.log(value) if value > 0 else -math.inf


def _llama_list(entries: list[Any]) -> list[TokenProbability]:
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or (logprob := _logprob(entry)) is None:
            return []  # one unreadable token spoils the alignment: report nothing
        alternatives = entry.get("top_logprobs", entry.get("top_probs"))
        top = []
        for alt in alternatives if isinstance(alternatives, list) else ():
            if isinstance(alt, dict) and (lp := _logprob(alt)) is not None:
                top.append((str(alt.get("token") or ""), lp))
        token_id = entry.get("id") if isinstance(entry.get("id"), int) else None
        out.append(TokenProbability(str(entry.get("token") or ""), logprob, top, token_id))
    return out


def _openai_lists(logprobs: dict) -> list[TokenProbability]:
    tokens, values = logprobs.get("tokens"), logprobs.get("token_logprobs")
    tops = logprobs.get("top_logprobs")
    if not isinstance(tokens, list) or not isinstance(values, list) or len(tokens) != len(values):
        return []
    if not isinstance(tops, list) or len(tops) != len(tokens):
        tops = [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=True):
        if not isinstance(value, int | float) or isinstance(value, bool):
            return []
        pairs = top.items() if isinstance(top, dict) else ()
        alternatives = [(str(t), float(lp)) for t, lp in pairs if isinstance(lp, int | float)]
        out.append(TokenProbability(str(token), float(value), alternatives))
    return out
