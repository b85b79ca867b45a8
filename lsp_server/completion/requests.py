"""What goes into the completion service and what comes out, as plain data."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field


@dataclass(frozen=True)
class CompletionRequest:
    uri: str
    version: int
    prefix: str  # document text before the cursor
    suffix: str  # document text after the cursor
    path: str = ""  # file name for the prompt header
    mode: str = ""  # single | multi | auto to override the multiline setting ("": keep it)


@dataclass
class Completion:
    text: str = ""
    status: str = "ok"  # ok | empty | stale | cancelled | disabled | no-model | error
    generated_tokens: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    ms: float = 0.0
    detail: str = ""
    context: tuple[str, ...] = ()  # the labels of the repository snippets in the prompt
    source: str = "model"  # or "document": a line from the document (`fim.candidates`) won
    # how sure the model was of its own suggestion (`StreamStats.confidence`; None: unknown)
    confidence: float | None = None
    room: int | None = None  # prompt tokens that can be typed before the prefix window moves
    alternatives: tuple[str, ...] = ()  # more suggestions, ranked, for editors to cycle
    # where the time went, in ms: "plan", "generate" (its "analysis" wait included), "choose"
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass
class Ticket:
    """A submitted request; `cancel()` stops its decoding within a block."""

    future: Future
    cancelled: threading.Event

    def cancel(self) -> None:
        self.cancelled.set()
