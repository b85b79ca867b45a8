"""The seam between the completion service and whatever generates text.

A backend is the in-process model (`local.LocalBackend`) or a remote inference server
(`remote.client.RemoteBackend`); `open.open_backend` makes the one the settings name. The service plans a prompt with what the backend says
about itself (FIM format, token counter, healing support, context size) and then reads
the backend's stream of generated text until fim's finisher is done; it never knows
which kind it has.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fim.formats import FimFormat
    from fim.healing import Vocabulary
    from fim.plan import Plan

    from ..settings import Settings


@dataclass
class StreamStats:
    """What one generation cost: filled in as the stream runs."""

    prompt_tokens: int = 0
    reused_tokens: int = 0  # prompt tokens served from a cache (ours or the server's)
    generated_tokens: int = 0
    # per generated token, where a backend reports them: its log-probability, the length
    # of the text generated up to and including it, and the step's likeliest tokens
    # (text, log-probability)
    logprobs: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    top: list[list[tuple[str, float]]] = field(default_factory=list)

    def confidence(self, shown: str) -> float | None:
        """How sure the model was of `shown`, the start of the generated text: at each
        token that wrote part of it, the probability of the tokens that agree with the
        text from there on (the one chosen, and any other that spells a beginning of it
        or that the text is a beginning of), so that text the model could spell in
        several ways is not read as doubt; the geometric mean over those tokens, a scale
        that does not fall with the text's length. None: not reported."""
        picked, start = [], 0
        for i, (logprob, end) in enumerate(zip(self.logprobs, self.ends, strict=False)):
            if start >= len(shown):
                break
            rest = shown[start:]
            agree = [lp for t, lp in (self.top[i] if i < len(self.top) else ()) if _agrees(t, rest)]
            mass = sum(math.exp(lp) for lp in agree)
            picked.append(max(math.exp(logprob), min(1.0, mass)))
            start = end
        if not picked:
            return None
        return math.exp(sum(math.log(max(p, 1e-12)) for p in picked) / len(picked))


def _agrees(token: str, rest: str) -> bool:
    return bool(token) and (rest.startswith(token) or token.startswith(rest))


@dataclass
class TextStream:
    """The generated text so far, growing with each item; `close()` ends it early."""

    texts: Iterator[str]
    stats: StreamStats = field(default_factory=StreamStats)
    close: Callable[[], None] = lambda: None

    def __iter__(self) -> Iterator[str]:
        return self.texts


class BackendUnavailable(Exception):
    """The backend cannot answer now (a remote server down, failing or too slow)."""


class Backend(Protocol):
    kind: str  # "local" or the remote protocol
    description: str
    fmt: FimFormat | None  # None: plain left-to-right prompts
    vocab: Vocabulary | None  # None: no constraint on the first token (no healing)
    token_starts: Callable[[str], list[int]] | None  # None: no token healing
    filename_header: bool
    context_size: int
    path: str | None  # the model directory, for status

    def count(self, text: str) -> int: ...

    def stream(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        should_stop: Callable[[], bool],
        monitor: Callable[[str], Collection[int] | None] | None = None,
    ) -> TextStream:
        """The generated text, growing; `monitor(text so far)` may restrict the next
        token to a set of ids (a backend that cannot constrain decoding ignores it)."""
        ...

    def score(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        texts: list[str],
        should_stop: Callable[[], bool],
    ) -> list[float] | None:
        """Log-probabilities of `texts` as whole lines generated after the plan's prompt:
        each text, then the end of its line (a token that opens the next line, or the end
        of the generation), in order (fewer when `should_stop()` turns true); None: this
        backend cannot tell."""
        ...

    def prefill_ahead(
        self,
        plan: Plan,
        keep: Plan,
        uri: str,
        settings: Settings,
        should_stop: Callable[[], bool],
    ) -> int:
        """Compute `plan`'s prompt ahead of need, so that a later request that shares it
        costs less, without losing what serves `keep`'s (the document as it is now);
        returns the tokens computed (0: nothing to do, or not supported)."""
        ...

    def forget(self, uri: str) -> None: ...

    def status(self) -> dict[str, Any]: ...
