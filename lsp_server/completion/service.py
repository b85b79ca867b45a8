"""CompletionService: turns (document, cursor) into a suggestion, off the event loop.

One request, on the worker thread: plan (`planning.py`: fim's prompt, first-token
constraint, mode and token cap), stream (the backend generates until fim's finisher says
more text cannot change the suggestion), finish (fim's suggestion; a document line may
win, `line_choice.py`). The newest request per document wins: one superseded, or made
for an older version, is answered empty, and a running generation stops within a block.
Idle time computes ahead: the look-ahead, the window ahead, where the cursor rests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING

from fim.plan import Plan
from fim.prompt import Snippet

from ..backends.base import Backend, BackendUnavailable, TextStream
from ..backends.open import open_backend
from ..checkpoints import DEMO_ADVICE
from ..repo_context import RepoContext
from ..settings import RELOAD_KEYS, Settings
from ..worker import Worker
from .finishing import settle
from .idle import HANDOFF_S, Plans, own_prompt, prefill_idle, window_moved
from .line_choice import Contest
from .lookahead import Lookahead, Mark
from .monitoring import StaticAnalysis
from .planning import plan_request, window_chars
from .requests import Completion, CompletionRequest, Ticket

if TYPE_CHECKING:  # the engine imports torch: loaded on the worker, when the model is
    from ..backends.engine import Engine

log = logging.getLogger("bigcode_ls")
# Compute the prompt of the prefix window's next position while idle once fewer tokens
# than this can be typed before it moves (fim.prompt): at most about a block's worth.
WARM_ROOM_TOKENS = 128


def reload_keys(settings: Settings) -> tuple:
    return tuple(getattr(settings, k) for k in RELOAD_KEYS)


class CompletionService:
    def __init__(self, settings: Settings | None = None, context: RepoContext | None = None):
        self.settings = settings or Settings()
        self.context = context  # repository snippets for prompts (None: the file alone)
        self.load_error: str | None = None
        # Messages a user must see (a remote server went down); the server shows them.
        self.notify: Callable[[str], None] = lambda message: None
        self._backend: Backend | None = None
        self._loaded_keys: tuple | None = None  # the reload settings of the loaded backend
        self._worker = Worker()
        self.busy = self._worker.busy  # the model thread has work: others may wait
        self._loader = Worker("bigcode-loader")  # a slow load never stalls completions
        self._lock = threading.Lock()  # guards the three tables below
        self._latest: dict[str, int] = {}  # uri -> serial of the newest request
        self._versions: dict[str, int] = {}  # uri -> newest known document version
        self._last: dict[str, Completion] = {}  # uri -> its most recent result
        self._running: tuple[str, int] | None = None  # (uri, tokens so far) while decoding
        self._serial = 0
        self._ahead = Lookahead()  # the suggestion after the one shown (lookahead.py)
        self._rests = 0  # cursor rests seen: a newer one stops an older one's work
        self._rest_next: CompletionRequest | None = None  # the newest rest, not yet taken
        self.static = StaticAnalysis(context)  # Jedi, started on the first Python file

    @property
    def backend(self) -> Backend | None:
        return self._backend

    @property
    def engine(self) -> Engine | None:
        """The in-process model, when the backend is local."""
        return getattr(self._backend, "engine", None)

    # --- model ---------------------------------------------------------------------
    def load(self, report: Callable[[str, int], None] = lambda m, p: None) -> Future:
        """Open the backend the settings name (load the model, or reach the server) on
        the loader thread. On failure the previous one (if any) keeps serving and
        `load_error` says why."""
        s = self.settings

        def job() -> Backend:
            try:  # torch is imported in here, off the event loop
                backend = open_backend(s, report, lambda message: self.notify(message))
            except Exception as exc:
                self.load_error = str(exc)
                raise
            self._backend = backend
            self._loaded_keys = reload_keys(s)
            self.load_error = None
            self._ahead.forget()
            fmt = backend.fmt
            log.info(
                "model loaded: %s; FIM format: %s",
                backend.description,
                fmt.name if fmt else "none (left-to-right)",
            )
            return backend

        return self._loader.submit(job)

    def loaded_for(self, settings: Settings) -> bool:
        """The loaded backend is the one `settings` ask for."""
        return self._backend is not None and self._loaded_keys == reload_keys(settings)

    def cancel_all(self) -> None:
        """Every queued or running request is now stale (a client's session ended); the
        model and its threads stay for the next session."""
        with self._lock:
            for uri in self._latest:
                self._latest[uri] = -1

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Stop the model threads for good; a command-line caller waits for them (`wait_s`)
        so that the interpreter never tears down torch under a running thread."""
        self.cancel_all()
        self._worker.stop(wait_s)
        self._loader.stop(wait_s)
        self.static.stop()

    # --- documents -----------------------------------------------------------------
    def note_version(self, uri: str, version: int) -> None:
        """A document changed: requests for older versions become stale."""
        with self._lock:
            self._versions[uri] = version

    def close(self, uri: str) -> None:
        with self._lock:
            self._latest.pop(uri, None)
            self._versions.pop(uri, None)
            self._last.pop(uri, None)
        # A generation running for it holds its own reference to the cache until it ends.
        if self._backend is not None:
            self._backend.forget(uri)
        self._ahead.forget(uri)
        self.static.forget(uri)
        if self.context is not None:
            self.context.forget(uri)

    def last(self, uri: str) -> Completion | None:
        with self._lock:
            return self._last.get(uri)

    def status(self) -> dict:
        backend = self._backend
        own = backend.status() if backend else {}
        demo = bool(own.get("demonstration"))
        return {
            "demonstration": demo,
            "advice": DEMO_ADVICE if demo else None,
            "backend": backend.kind if backend else self.settings.backend,
            "model": backend.description if backend else None,
            "modelPath": backend.path if backend else None,
            "loadError": self.load_error,
            **own,
            "running": self._running_status(),
            "requests": self._serial,  # completion requests received
            "precomputedHits": self._ahead.hits,
            "cursorRests": self._rests,  # bigcode/didMoveCursor notifications taken
            "staticAnalysis": self.static.status(),  # None until a Python file needs it
        }

    def _running_status(self) -> dict | None:
        running = self._running  # one read: the worker may replace it meanwhile
        return {"uri": running[0], "generatedTokens": running[1]} if running else None

    # --- completion ----------------------------------------------------------------
    def submit(self, request: CompletionRequest) -> Ticket:
        with self._lock:
            self._serial += 1
            serial = self._serial
            self._latest[request.uri] = serial
        self._ahead.interrupt(request)
        cancelled = threading.Event()
        future = self._worker.submit(lambda: self._serve(request, serial, cancelled))
        return Ticket(future, cancelled)

    def complete_now(self, request: CompletionRequest) -> Completion:
        """Blocking form, for the command line and tests."""
        return self.submit(request).future.result()

    def _superseded(self, request: CompletionRequest, serial: int) -> bool:
        with self._lock:
            newest = self._versions.get(request.uri, request.version)
            return self._latest.get(request.uri) != serial or newest > request.version

    def _serve(
        self, request: CompletionRequest, serial: int, cancelled: threading.Event
    ) -> Completion:
        """On the worker: answer one request, timed, and remember the answer."""
        t0 = time.monotonic()
        deadline = t0 + self.settings.deadline_ms / 1000

        def interrupted() -> str | None:
            if cancelled.is_set():
                return "cancelled"
            if self._superseded(request, serial):
                return "stale"
            return None

        result = self._refusal(interrupted) or self._ahead.take(request, self.settings)
        if result is None:
            result = self._guarded(request, interrupted, deadline)
        result.ms = (time.monotonic() - t0) * 1000
        with self._lock:
            if request.uri in self._latest:  # not closed meanwhile
                self._last[request.uri] = result
        after = Lookahead.after(request, result) if self._precompute() else None
        if after is not None:  # runs once the worker has nothing newer to do
            mark = self._ahead.mark(after)
            self._worker.submit(lambda: self._look_ahead(after, mark))
        if self._precompute() and result.room is not None and result.room < WARM_ROOM_TOKENS:
            seen = self._ahead.generation  # read first: a request or edit after it stops it
            if not self._superseded(request, serial):  # a request before it: no work for this one
                self._worker.submit(lambda: self._window_ahead(request, seen))
        return result

    def _precompute(self) -> bool:
        """Look ahead on our own CPU only: against a shared server it would double the load."""
        return self.settings.precompute and getattr(self._backend, "kind", "") == "local"

    def edited(self, request: CompletionRequest) -> None:
        """An edit left the cursor at `request`'s place: compute the answer there while
        the client's debounce runs (`lookahead.py`); a newer edit, a rest elsewhere or a
        request for other text makes it moot."""
        mark = self._ahead.mark_new(request) if self._precompute() else None
        if mark is not None and self._ahead.offer(request, mark):  # a flood queues one job
            self._worker.submit(lambda: self._look_ahead(*self._ahead.newest_edit(), True))

    def _look_ahead(self, request: CompletionRequest, mark: Mark, warm_first=False) -> None:
        """On the worker: the answer for `request` (after an accept or an edit) unless it
        is or becomes moot (a request for this text waits for it instead). `warm_first`:
        the prompt may be cold, so compute it in passes that stop within a block first."""
        settings = self.settings
        time.sleep(HANDOFF_S)

        def interrupted() -> str | None:
            return "cancelled" if self._ahead.moot(mark) else None

        if interrupted():
            return
        if warm_first:  # newer edits share all of this prompt but its end: only a request
            count = mark[0]  # stops this part (a stopped pass is lost, and keys come faster)
            stop = lambda: self._ahead.requests != count  # noqa: E731
            self._prefill_idle(request, stop, own_prompt(self.settings), handoff=False)
        if interrupted():
            return
        deadline = time.monotonic() + settings.deadline_ms / 1000
        self._ahead.store(request, settings, self._guarded(request, interrupted, deadline))

    def _window_ahead(self, request: CompletionRequest, seen: int) -> None:
        """On the worker, once nothing newer waits: compute the prompt that the prefix
        window's next move leads to (`window_ahead`) into the document's spare cache, so
        that the keystroke that moves it does not recompute the whole window. Stops
        within a block when any request comes; the passes done stay for the next try."""
        plans = window_moved(self.settings)
        self._prefill_idle(request, lambda: self._ahead.generation != seen, plans)

    def rest(self, request: CompletionRequest) -> None:
        """The cursor rests at `request`'s place (`bigcode/didMoveCursor`): compute that
        place's prompt while idle, so that the first keystroke there extends a warm cache
        instead of paying a cold prefill. Any request, or a newer rest, stops it within a
        block; it never delays a request (it runs when the worker has nothing else), and
        a flood of rests queues one job, which takes the newest."""
        if not self._precompute():
            return
        self._ahead.moved()  # a look-ahead for where the cursor was is moot
        with self._lock:
            self._rests += 1
            queued, self._rest_next = self._rest_next is not None, request
        if not queued:
            self._worker.submit(self._rest_job)

    def _rest_job(self) -> None:
        with self._lock:
            request, self._rest_next = self._rest_next, None
            serial = self._rests
        seen = self._ahead.requests  # edits at the place share its prompt: they go on

        def stop() -> bool:
            return self._ahead.requests != seen or self._rests != serial

        self._prefill_idle(request, stop, own_prompt(self.settings))

    def _prefill_idle(
        self, request: CompletionRequest, stop: Callable[[], bool], plans: Plans, handoff=True
    ) -> None:
        if handoff:  # (a look-ahead has waited already)
            time.sleep(HANDOFF_S)
        with self._lock:
            closed = request.uri not in self._latest and request.uri not in self._versions
        if not closed:
            prefill_idle(self._backend, request, self.settings, self._snippets, stop, plans)

    def _refusal(self, interrupted: Callable[[], str | None]) -> Completion | None:
        """An answer without running the model, when there is a reason not to."""
        if not self.settings.enable:
            return Completion(status="disabled")
        if self._backend is None:
            return Completion(status="no-model", detail=self.load_error or "model not loaded")
        reason = interrupted()
        return Completion(status=reason) if reason else None

    def _guarded(
        self, request: CompletionRequest, interrupted: Callable[[], str | None], deadline: float
    ) -> Completion:
        """`_run`, with any failure answered as an error (a bug or a model fault must not
        take the server down) and the document's possibly half-written cache dropped."""
        try:
            return self._run(request, interrupted, deadline)
        except BackendUnavailable as exc:  # said once by the backend, not per keystroke
            return Completion(status="unavailable", detail=str(exc))
        except Exception as exc:
            log.exception("completion failed for %s", request.uri)
            if self._backend is not None:
                self._backend.forget(request.uri)
            return Completion(status="error", detail=f"{type(exc).__name__}: {exc}")

    def _run(
        self, request: CompletionRequest, interrupted: Callable[[], str | None], deadline: float
    ) -> Completion:
        backend = self._backend
        assert backend is not None
        t0 = time.monotonic()
        snippets = self._snippets(request)
        plan = plan_request(request, backend, self.settings, snippets)
        if not plan.prompt.pieces:
            return Completion(status="empty")
        t1 = time.monotonic()

        def should_stop() -> bool:
            return interrupted() is not None or time.monotonic() > deadline

        on = self.settings.static_analysis  # static analysis steers decoding
        monitor = self.static.monitor(request, plan, backend.vocab) if on else None
        stream = backend.stream(plan, request.uri, self.settings, should_stop, monitor)
        text = self._read(stream, plan, request.uri)
        t2 = time.monotonic()
        stats = stream.stats
        done = Completion(
            generated_tokens=stats.generated_tokens,
            prompt_tokens=stats.prompt_tokens,
            reused_tokens=stats.reused_tokens,
            context=tuple(s.path for s in snippets),
            room=plan.prompt.room,
        )
        if reason := interrupted():
            done.status = reason
            return done
        if time.monotonic() > deadline and not plan.finisher.done(text):
            done.detail = "deadline"  # cut short: the suggestion is a prefix of the full one
        window = self.window_chars()
        settle(
            Contest(backend, plan, request, self.settings, snippets, window, should_stop),
            done,
            text,
            stats,
        )
        ms = {"plan": t1 - t0, "generate": t2 - t1, "choose": time.monotonic() - t2}
        if monitor is not None:
            ms["analysis"] = monitor.waited_s
        done.phases = {k: round(v * 1000, 2) for k, v in ms.items()}
        return done

    def _read(self, stream: TextStream, plan: Plan, uri: str) -> str:
        """The stream's text up to where the finisher is done (the stream is closed then,
        so a remote server stops generating too)."""
        text = ""
        try:
            for text in stream:
                self._running = (uri, stream.stats.generated_tokens)
                if plan.finisher.done(text):
                    break
        finally:
            self._running = None
            stream.close()
        return text

    def read_ahead(self, uri: str, text: str) -> Future | None:
        """A file was opened or saved: let the static analyser read it now."""
        on = self.settings.static_analysis and self.settings.backend == "local"  # it steers
        return self.static.read_ahead(uri, text) if on else None

    def _snippets(self, request: CompletionRequest) -> list[Snippet]:
        if not self.settings.repo_context or self.context is None:
            return []
        return self.context.snippets(request.uri, request.prefix, request.suffix)

    def window_chars(self) -> int:
        """How much text around the cursor a prompt can possibly use."""
        return window_chars(self._backend, self.settings)
