"""The suggestion after the suggestion.

While the editor shows a suggestion and the model has nothing else to do, the service
computes what it would suggest once that one is accepted (the document with the text
inserted, the cursor after it), as llama.vim does. Accepting it then finds the answer
ready: the next ghost text costs a lookup, not a generation. Any real request stops the
work at its next decode step; an answer is only ever served for exactly the text it was
computed for, with the settings it was computed with.
"""

from __future__ import annotations

import dataclasses
import threading

from .completion_types import Completion, CompletionRequest


@dataclasses.dataclass(frozen=True)
class Ahead:
    prefix: str
    suffix: str
    settings: object  # the Settings object in force when it was computed
    result: Completion


class Lookahead:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[str, Ahead] = {}
        self._requests = 0  # real requests so far: a look-ahead queued before one is moot
        self.hits = 0

    @staticmethod
    def after(request: CompletionRequest, result: Completion) -> CompletionRequest | None:
        """The request that accepting `result` would lead to, or None when there is
        nothing to accept."""
        if result.status != "ok" or not result.text:
            return None
        return dataclasses.replace(request, prefix=request.prefix + result.text)

    def interrupt(self) -> None:
        """A real request came: every look-ahead queued or running before it stops."""
        with self._lock:
            self._requests += 1

    def mark(self) -> int:
        """Taken when a look-ahead is queued; `moot(mark)` says a request came since."""
        return self._requests

    def moot(self, mark: int) -> bool:
        return self._requests != mark

    def store(self, request: CompletionRequest, settings: object, result: Completion) -> None:
        if result.status in ("ok", "empty"):  # a finished answer, not a stopped one
            with self._lock:
                self._ready[request.uri] = Ahead(request.prefix, request.suffix, settings, result)

    def take(self, request: CompletionRequest, settings: object) -> Completion | None:
        """The ready answer for exactly this request's text, once; else None."""
        with self._lock:
            ahead = self._ready.pop(request.uri, None)
        if ahead is None or ahead.settings is not settings:
            return None
        if (ahead.prefix, ahead.suffix) != (request.prefix, request.suffix):
            return None
        self.hits += 1
        return dataclasses.replace(ahead.result, detail="precomputed")

    def forget(self, uri: str | None = None) -> None:
        with self._lock:
            if uri is None:
                self._ready.clear()
            else:
                self._ready.pop(uri, None)
