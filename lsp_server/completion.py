"""CompletionService: turns (document, cursor) into a suggestion, off the event loop.

The only module that joins `fim` (strings) and the model (through `engine.Engine`).

* One model worker thread runs loads and completions in order; the event loop never
  waits on the model.
* Newest request per document wins: a request superseded by a newer one for the same
  document, or made for an older document version, is answered empty; a running
  generation notices at its next decode step (the engine's `should_stop`).
* Each document keeps a session: the KV cache of its last prompt and generation. A new
  request reuses the longest common token prefix and prefills only the rest; with the
  SPM layout that is typically just the characters typed since the last request.
* Sessions live under a memory budget with least-recently-used eviction.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from fim.formats import FimFormat, Special, detect_format
from fim.healing import Vocabulary
from fim.postprocess import PostOptions, is_multiline, on_blank_line, postprocess, stop_early
from fim.prompt import PromptOptions, build_prompt

from .engine import Engine
from .settings import Settings

log = logging.getLogger("bigcode_ls")


@dataclass(frozen=True)
class CompletionRequest:
    uri: str
    version: int
    prefix: str  # document text before the cursor
    suffix: str  # document text after the cursor
    path: str = ""  # file name for the prompt header


@dataclass
class Completion:
    text: str = ""
    status: str = "ok"  # ok | empty | stale | cancelled | disabled | no-model | error
    generated_tokens: int = 0
    prompt_tokens: int = 0
    reused_tokens: int = 0
    ms: float = 0.0
    detail: str = ""

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


@dataclass
class Session:
    cache: Any
    nbytes: int


@dataclass
class Ticket:
    """A submitted request; `cancel()` stops it at the next decode step."""

    future: Future
    cancelled: threading.Event

    def cancel(self) -> None:
        self.cancelled.set()


class Worker:
    """One daemon thread running submitted callables in order."""

    def __init__(self, name: str = "bigcode-model") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def _run(self) -> None:
        while True:
            fn, future = self._queue.get()
            if fn is None:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                future.set_exception(exc)

    def stop(self) -> None:
        self._queue.put((None, None))


class CompletionService:
    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self.engine: Engine | None = None
        self.load_error: str | None = None
        self._fmt: FimFormat | None = None
        self._vocab: Vocabulary | None = None
        self._worker = Worker()
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._latest: dict[str, int] = {}  # uri -> serial of the newest request
        self._versions: dict[str, int] = {}  # uri -> newest known document version
        self._serial = 0
        self._lock = threading.Lock()
        self.last: dict[str, Completion] = {}  # uri -> its most recent result, for status

    # --- model ---------------------------------------------------------------------
    def load(self, report: Callable[[str, int], None] = lambda m, p: None) -> Future:
        """Load the model named by the settings on the worker. On failure the previous
        engine (if any) keeps serving and `load_error` says why."""
        s = self.settings

        def job() -> Engine:
            try:
                engine = Engine.load(s.model, s.device, s.dtype, s.threads, s.quantize, report)
            except Exception as exc:
                self.load_error = str(exc)
                raise
            fmt = detect_format(engine.vocabulary, engine.fim_override)
            self.engine, self._fmt, self._vocab = engine, fmt, Vocabulary(engine.vocab_texts)
            self.load_error = None
            self._drop_sessions()
            log.info(
                "model loaded: %s; FIM format: %s",
                engine.description,
                fmt.name if fmt else "none (left-to-right)",
            )
            return engine

        return self._worker.submit(job)

    def shutdown(self) -> None:
        with self._lock:
            for uri in list(self._latest):
                self._latest[uri] = -1  # every queued or running request is now stale
        self._worker.stop()

    # --- documents -----------------------------------------------------------------
    def note_version(self, uri: str, version: int) -> None:
        """A document changed: requests for older versions become stale."""
        self._versions[uri] = version

    def close(self, uri: str) -> None:
        with self._lock:
            self._latest.pop(uri, None)
            self._versions.pop(uri, None)
            self.last.pop(uri, None)
        # Freed on the worker, between requests, so a running generation keeps its cache.
        self._worker.submit(lambda: self._sessions.pop(uri, None))

    @property
    def cache_bytes(self) -> int:
        return sum(s.nbytes for s in self._sessions.values())

    @property
    def session_uris(self) -> list[str]:
        return list(self._sessions)

    def status(self) -> dict:
        engine = self.engine
        return {
            "model": engine.description if engine else None,
            "modelPath": str(engine.path) if engine else None,
            "loadError": self.load_error,
            "sessions": self.session_uris,
            "cacheBytes": self.cache_bytes,
        }

    def _drop_sessions(self) -> None:
        self._sessions.clear()

    # --- completion ----------------------------------------------------------------
    def submit(self, request: CompletionRequest) -> Ticket:
        with self._lock:
            self._serial += 1
            serial = self._serial
            self._latest[request.uri] = serial
        cancelled = threading.Event()
        future = self._worker.submit(lambda: self._complete(request, serial, cancelled))
        return Ticket(future, cancelled)

    def complete_now(self, request: CompletionRequest) -> Completion:
        """Blocking form, for the command line and tests."""
        return self.submit(request).future.result()

    def _superseded(self, request: CompletionRequest, serial: int) -> bool:
        return (
            self._latest.get(request.uri) != serial
            or self._versions.get(request.uri, request.version) > request.version
        )

    def _complete(
        self, request: CompletionRequest, serial: int, cancelled: threading.Event
    ) -> Completion:
        result = self._attempt(request, serial, cancelled)
        if request.uri in self._latest:  # not closed meanwhile
            self.last[request.uri] = result
        return result

    def _attempt(
        self, request: CompletionRequest, serial: int, cancelled: threading.Event
    ) -> Completion:
        t0 = time.monotonic()
        s = self.settings
        if not s.enable:
            return Completion(status="disabled")
        if self.engine is None:
            return Completion(status="no-model", detail=self.load_error or "model not loaded")
        if cancelled.is_set():
            return Completion(status="cancelled")
        if self._superseded(request, serial):
            return Completion(status="stale")
        try:
            result = self._generate(request, serial, cancelled, t0)
        except Exception as exc:  # a bug or a model fault must not take the server down
            log.exception("completion failed for %s", request.uri)
            self._sessions.pop(request.uri, None)  # its cache may be half-written
            return Completion(status="error", detail=f"{type(exc).__name__}: {exc}")
        result.ms = (time.monotonic() - t0) * 1000
        return result

    def _generate(
        self, request: CompletionRequest, serial: int, cancelled: threading.Event, t0: float
    ) -> Completion:
        engine, s = self.engine, self.settings
        assert engine is not None
        max_new = s.max_new_tokens
        budget = max(16, min(s.context_tokens, engine.context_size - max_new - 1))
        filename = bool(
            self._fmt and self._fmt.filename and engine.options.get("filename_header", True)
        )
        options = PromptOptions(
            budget=budget, order=s.fim_order, filename_header=filename, heal=s.token_healing
        )
        prompt = build_prompt(
            request.prefix,
            request.suffix,
            self._fmt,
            engine.count,
            options,
            path=request.path,
            token_starts=engine.token_starts,
            vocab=self._vocab,
        )
        ids = self._encode(prompt.pieces)
        if not ids:
            return Completion(status="empty")
        # Room for the budgeted prompt and the generation, with slack for the few tokens
        # by which tokenizing the pieces apart can exceed the budget's estimate.
        session = self._session(request.uri, min(engine.context_size, budget + max_new + 64))
        if not s.document_cache:
            session.cache.truncate(0)
        reused = engine.reusable(session.cache, ids)
        allowed = None
        if self._vocab and prompt.healed:
            allowed = self._vocab.ids_starting_with(prompt.healed)
        elif self._vocab and on_blank_line(request.prefix, request.suffix):
            # A first token that opens another line gives no suggestion for this one
            # (single-line mode stops at the newline): ask for this line's text instead.
            allowed = self._vocab.stays_on_line
        deadline = t0 + s.deadline_ms / 1000
        post = PostOptions(mode=s.multiline, max_lines=s.max_lines)
        if not is_multiline(request.prefix, request.suffix, s.multiline):
            max_new = min(max_new, 48)

        tokens: list[int] = []
        text = ""

        def should_stop() -> bool:
            return (
                cancelled.is_set()
                or self._superseded(request, serial)
                or time.monotonic() > deadline
            )

        for token in engine.generate(
            ids,
            max_new,
            cache=session.cache,
            should_stop=should_stop,
            allowed_first_ids=allowed or None,
            temperature=s.temperature,
            top_p=s.top_p,
        ):
            if token in engine.stop_ids:
                break
            tokens.append(token)
            text = engine.decode(tokens)
            if stop_early(text[len(prompt.healed) :], request.prefix, request.suffix, post):
                break
        self._sessions.move_to_end(request.uri)
        status = "ok"
        if cancelled.is_set():
            status = "cancelled"
        elif self._superseded(request, serial):
            status = "stale"
        if status != "ok":
            return Completion(
                status=status,
                generated_tokens=len(tokens),
                prompt_tokens=len(ids),
                reused_tokens=reused,
            )
        if prompt.healed and text.startswith(prompt.healed):
            text = text[len(prompt.healed) :]
        elif prompt.healed:
            text = ""  # cannot happen with allowed_first_ids; never insert a wrong prefix
        suggestion = postprocess(text, request.prefix, request.suffix, post)
        return Completion(
            text=suggestion,
            status="ok" if suggestion else "empty",
            generated_tokens=len(tokens),
            prompt_tokens=len(ids),
            reused_tokens=reused,
        )

    def _encode(self, pieces: list[str]) -> list[int]:
        engine = self.engine
        assert engine is not None
        ids: list[int] = []
        for piece in pieces:
            if isinstance(piece, Special):
                token = engine.token_id(piece)
                if token is not None:
                    ids.append(token)
            else:
                ids.extend(engine.encode(piece))
        return ids

    def _session(self, uri: str, capacity: int) -> Session:
        """The document's session, with a cache preallocated for `capacity` tokens."""
        engine = self.engine
        assert engine is not None
        session = self._sessions.get(uri)
        if session is not None and session.cache.capacity >= capacity:
            self._sessions.move_to_end(uri)
            return session
        if session is not None:
            del self._sessions[uri]
        cache = engine.new_cache(capacity)
        session = Session(cache, engine.cache_bytes(cache))
        budget = int(self.settings.cache_mib * (1 << 20))
        while self._sessions and self.cache_bytes + session.nbytes > budget:
            evicted, _ = self._sessions.popitem(last=False)
            log.info(
                "evicted the KV cache of %s (memory budget %d MiB)",
                evicted,
                self.settings.cache_mib,
            )
        self._sessions[uri] = session
        return session
