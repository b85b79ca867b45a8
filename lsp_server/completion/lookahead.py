"""The suggestion after the suggestion.

While the editor shows a suggestion and the model has nothing else to do, the service
computes what it would suggest once that one is accepted (the document with the text
inserted, the cursor after it), as llama.vim does. Accepting it then finds the answer
ready: the next ghost text costs a lookup, not a generation. Any real request stops the
work within a block of the pass in progress; an answer is only ever served for exactly
the text it was computed for, with the settings it was computed with.

The one request that does not stop it is the accept it was computed for: with a large
model the user can accept before the look-ahead is done, and throwing away a half-made
answer only to start the same one again would make that accept the slowest keystroke.

The same holds for an edit: the client asks for a suggestion only once its debounce has
passed (150 ms in our clients), but the edit arrives at once, and the cursor is where the
edit left it. Computed from the edit, the answer is ready when the request comes, or the
request waits for the running computation instead of starting again. A newer look-ahead
replaces an older one.
"""

from __future__ import annotations

import dataclasses
import threading

from .requests import Completion, CompletionRequest


@dataclasses.dataclass(frozen=True)
class Ahead:
    prefix: str
    suffix: str
    settings: object  # the Settings object in force when it was computed
    result: Completion


Mark = tuple[int, tuple[str, str, str]]  # (real requests so far, the text looked ahead for)


def _text(request: CompletionRequest) -> tuple[str, str, str]:
    return request.uri, request.prefix, request.suffix


class Lookahead:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ready: dict[str, Ahead] = {}
        self._requests = 0  # real requests so far: a look-ahead queued before one is moot
        self._queued: tuple[str, str, str] | None = None  # the latest look-ahead's text
        self._queued_at = -1  # the real requests so far when it was queued
        self._marks = 0  # look-aheads queued so far
        self._edit: tuple[CompletionRequest, Mark] | None = None  # the newest edit's, unrun
        self._awaited: tuple[str, str, str] | None = None  # set when the last request is it
        self.hits = 0

    @property
    def requests(self) -> int:
        """Real requests so far: work queued at one count is moot once it changes."""
        with self._lock:
            return self._requests

    @property
    def generation(self) -> tuple[int, int]:
        """(real requests, look-aheads queued) so far: the window ahead gives way when
        either changes (a request, or an edit whose answer is being computed)."""
        with self._lock:
            return self._requests, self._marks

    @staticmethod
    def after(request: CompletionRequest, result: Completion) -> CompletionRequest | None:
        """The request that accepting `result` would lead to, or None when there is
        nothing to accept."""
        if result.status != "ok" or not result.text:
            return None
        return dataclasses.replace(request, prefix=request.prefix + result.text)

    def interrupt(self, request: CompletionRequest) -> None:
        """A real request came: every look-ahead queued or running before it stops, except
        the latest one if it is for exactly this request (it runs on and answers it)."""
        with self._lock:
            self._requests += 1
            self._awaited = self._queued if self._queued == _text(request) else None

    def mark(self, request: CompletionRequest) -> Mark:
        """Taken when the look-ahead for `request` is queued; `moot(mark)` says a request
        for other text came since."""
        with self._lock:
            return self._marked(request)

    def mark_new(self, request: CompletionRequest) -> Mark | None:
        """`mark`, or None when a look-ahead for exactly this text is queued already and
        still counts (an accept's edit is the text the accept's look-ahead computes)."""
        with self._lock:
            if self._queued == _text(request) and self._queued_at == self._requests:
                return None
            return self._marked(request)

    def _marked(self, request: CompletionRequest) -> Mark:  # with the lock held
        self._queued, self._queued_at = _text(request), self._requests
        self._marks += 1
        return self._requests, self._queued

    def offer(self, request: CompletionRequest, mark: Mark) -> bool:
        """Keep an edit's look-ahead as the newest; True when no job waits for one yet
        (then queue one: a flood of edits queues one job, which takes the newest)."""
        with self._lock:
            queued, self._edit = self._edit is not None, (request, mark)
            return not queued

    def newest_edit(self) -> tuple[CompletionRequest, Mark]:
        with self._lock:
            edit, self._edit = self._edit, None
        assert edit is not None  # one job per offer that returned True
        return edit

    def moved(self) -> None:
        """The cursor went elsewhere: every look-ahead queued or running is moot."""
        with self._lock:
            self._queued, self._marks = None, self._marks + 1

    def moot(self, mark: Mark) -> bool:
        """A request for other text came since `mark`, or a newer look-ahead replaced it."""
        count, text = mark
        with self._lock:
            if text != self._queued:
                return True
            awaited = self._requests == count + 1 and self._awaited == text
            return self._requests != count and not awaited

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
        self.hits += 1  # the work was done ahead: this answer's own phases are none
        return dataclasses.replace(ahead.result, detail="precomputed", phases={})

    def forget(self, uri: str | None = None) -> None:
        with self._lock:
            if uri is None:
                self._ready.clear()
            else:
                self._ready.pop(uri, None)
