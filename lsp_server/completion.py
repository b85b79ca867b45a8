"""CompletionService: turns (document, cursor) into a suggestion, off the event loop.

The only module that joins `fim` (what to ask and how to finish) and the model (through
`engine.Engine`). One request, on the model worker thread, in four named steps:

    plan    fim decides the prompt, the first-token constraint, the mode and token cap
    encode  the prompt pieces become token ids
    decode  the engine generates into the document's KV cache until fim's finisher
            says more tokens cannot change the suggestion
    finish  fim turns the generated text into the suggestion

Around those steps: newest request per document wins (a request superseded by a newer
one for the same document, or made for an older document version, is answered empty;
a running generation notices at its next decode step), and each document keeps a
session, the KV cache of its last prompt and generation, so a new request reuses the
longest common token prefix and prefills only the rest.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fim.formats import FimFormat, Special, detect_format
from fim.healing import Vocabulary
from fim.plan import Plan, PlanOptions, plan_completion
from fim.prompt import Snippet

from .completion_types import Completion, CompletionRequest, Ticket
from .lookahead import Lookahead
from .repo_context import RepoContext
from .sessions import Session, SessionPool
from .settings import RELOAD_KEYS, Settings
from .worker import Worker

if TYPE_CHECKING:  # the engine imports torch: loaded on the worker, when the model is
    from .engine import Engine

log = logging.getLogger("bigcode_ls")
# Characters of context handed to the prompt builder per prompt token of budget: more
# than any tokenizer packs into a token, so the budget, not this, limits the prompt.
CHARS_PER_TOKEN = 32
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Slack in a session's cache for the few tokens by which tokenizing the prompt's pieces
# apart can exceed the budget's estimate.
CACHE_SLACK_TOKENS = 64


def reload_keys(settings: Settings) -> tuple:
    return tuple(getattr(settings, k) for k in RELOAD_KEYS)


@dataclass(frozen=True)
class Loaded:
    """A loaded engine with what the service derives from its vocabulary, swapped as one."""

    engine: Engine
    fmt: FimFormat | None
    vocab: Vocabulary


class CompletionService:
    def __init__(self, settings: Settings | None = None, context: RepoContext | None = None):
        self.settings = settings or Settings()
        self.context = context  # repository snippets for prompts (None: the file alone)
        self.load_error: str | None = None
        self._loaded: Loaded | None = None
        self._loaded_keys: tuple | None = None  # the reload settings of the loaded model
        self._worker = Worker()
        self._loader = Worker("bigcode-loader")  # a slow load never stalls completions
        self._sessions = SessionPool()
        self._lock = threading.Lock()  # guards the three tables below
        self._latest: dict[str, int] = {}  # uri -> serial of the newest request
        self._versions: dict[str, int] = {}  # uri -> newest known document version
        self._last: dict[str, Completion] = {}  # uri -> its most recent result
        self._running: tuple[str, int] | None = None  # (uri, tokens so far) while decoding
        self._serial = 0
        self._ahead = Lookahead()  # the suggestion after the one shown (lookahead.py)

    @property
    def engine(self) -> Engine | None:
        return self._loaded.engine if self._loaded else None

    # --- model ---------------------------------------------------------------------
    def load(self, report: Callable[[str, int], None] = lambda m, p: None) -> Future:
        """Load the model named by the settings on the worker. On failure the previous
        engine (if any) keeps serving and `load_error` says why."""
        s = self.settings

        def job() -> Engine:
            from .engine import Engine  # torch is imported here, off the event loop

            try:
                engine = Engine.load(s.model, s.device, s.dtype, s.threads, s.quantize, report)
            except Exception as exc:
                self.load_error = str(exc)
                raise
            fmt = detect_format(engine.vocabulary, engine.fim_override)
            self._loaded = Loaded(engine, fmt, Vocabulary(engine.vocab_texts))
            self._loaded_keys = reload_keys(s)
            self.load_error = None
            self._sessions.clear()
            self._ahead.forget()
            log.info(
                "model loaded: %s; FIM format: %s",
                engine.description,
                fmt.name if fmt else "none (left-to-right)",
            )
            return engine

        return self._loader.submit(job)

    def loaded_for(self, settings: Settings) -> bool:
        """The loaded model is the one `settings` ask for."""
        return self._loaded is not None and self._loaded_keys == reload_keys(settings)

    def shutdown(self, wait_s: float = 0.0) -> None:
        """Stop the model threads; a command-line caller waits for them (`wait_s`) so that
        the interpreter never tears down torch under a running thread."""
        with self._lock:
            for uri in self._latest:
                self._latest[uri] = -1  # every queued or running request is now stale
        self._worker.stop(wait_s)
        self._loader.stop(wait_s)

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
        self._sessions.drop(uri)
        self._ahead.forget(uri)
        if self.context is not None:
            self.context.forget(uri)

    def last(self, uri: str) -> Completion | None:
        with self._lock:
            return self._last.get(uri)

    def status(self) -> dict:
        engine = self.engine
        uris, nbytes = self._sessions.summary()
        return {
            "model": engine.description if engine else None,
            "modelPath": str(engine.path) if engine else None,
            "loadError": self.load_error,
            "sessions": uris,
            "cacheBytes": nbytes,
            "running": self._running_status(),
            "precomputedHits": self._ahead.hits,
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
        self._ahead.interrupt()
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
        after = Lookahead.after(request, result) if self.settings.precompute else None
        if after is not None:  # runs once the worker has nothing newer to do
            mark = self._ahead.mark()
            self._worker.submit(lambda: self._look_ahead(after, mark))
        return result

    def _look_ahead(self, request: CompletionRequest, mark: int) -> None:
        """On the worker: the answer after accepting the last one, unless any request
        came since it was queued (then, or when one comes meanwhile, it stops)."""
        settings = self.settings

        def interrupted() -> str | None:
            return "cancelled" if self._ahead.moot(mark) else None

        if interrupted():
            return

        deadline = time.monotonic() + settings.deadline_ms / 1000
        self._ahead.store(request, settings, self._guarded(request, interrupted, deadline))

    def _refusal(self, interrupted: Callable[[], str | None]) -> Completion | None:
        """An answer without running the model, when there is a reason not to."""
        if not self.settings.enable:
            return Completion(status="disabled")
        if self._loaded is None:
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
        except Exception as exc:
            log.exception("completion failed for %s", request.uri)
            self._sessions.drop(request.uri)
            return Completion(status="error", detail=f"{type(exc).__name__}: {exc}")

    def _run(
        self, request: CompletionRequest, interrupted: Callable[[], str | None], deadline: float
    ) -> Completion:
        loaded = self._loaded
        assert loaded is not None
        snippets = self._snippets(request)
        plan = self._plan(request, loaded, snippets)
        ids = self._encode(loaded.engine, plan.prompt.pieces)
        if not ids:
            return Completion(status="empty")
        session = self._session(request.uri, loaded.engine)
        tokens, text, reused = self._decode(
            loaded, plan, ids, session, request.uri, interrupted, deadline
        )
        done = Completion(
            generated_tokens=len(tokens),
            prompt_tokens=len(ids),
            reused_tokens=reused,
            context=tuple(s.path for s in snippets),
        )
        if reason := interrupted():
            done.status = reason
            return done
        if time.monotonic() > deadline and not plan.finisher.done(text):
            done.detail = "deadline"  # cut short: the suggestion is a prefix of the full one
        done.text = plan.finisher.finish(text)
        done.status = "ok" if done.text else "empty"
        return done

    def _snippets(self, request: CompletionRequest) -> list[Snippet]:
        if not self.settings.repo_context or self.context is None:
            return []
        return self.context.snippets(request.uri, request.prefix, request.suffix)

    def _plan(self, request: CompletionRequest, loaded: Loaded, snippets: list[Snippet]) -> Plan:
        engine, s = loaded.engine, self.settings
        options = PlanOptions(
            budget=self._budget(engine),
            max_new_tokens=self._max_new(engine),
            order=s.fim_order,
            filename_header=bool(
                loaded.fmt and loaded.fmt.filename and engine.options.get("filename_header", True)
            ),
            heal=s.token_healing,
            mode=s.multiline,
            max_lines=s.max_lines,
            snippet_share=s.repo_context_share,
            drop_echoes=s.drop_echoes,
        )
        # The tokenizer refuses lone surrogates (valid in LSP's UTF-16, not in UTF-8).
        return plan_completion(
            LONE_SURROGATE.sub("\ufffd", request.prefix),
            LONE_SURROGATE.sub("\ufffd", request.suffix),
            loaded.fmt,
            engine.count,
            options,
            path=request.path,
            token_starts=engine.token_starts,
            vocab=loaded.vocab,
            snippets=snippets,
        )

    @staticmethod
    def _encode(engine: Engine, pieces: list[str]) -> list[int]:
        ids: list[int] = []
        for piece in pieces:
            if not isinstance(piece, Special):
                ids.extend(engine.encode(piece))
            elif (token := engine.token_id(piece)) is not None:
                ids.append(token)
        return ids

    def window_chars(self) -> int:
        """How much text around the cursor a prompt can possibly use."""
        engine = self.engine
        context = engine.context_size if engine else self.settings.context_tokens
        return min(self.settings.context_tokens, context) * CHARS_PER_TOKEN

    def _max_new(self, engine: Engine) -> int:
        """New tokens per completion: the setting, but never more than half the context,
        so that the prompt keeps at least the other half."""
        return max(1, min(self.settings.max_new_tokens, engine.context_size // 2))

    def _budget(self, engine: Engine) -> int:
        """Prompt tokens: the setting, within what the context leaves after generation."""
        limit = engine.context_size - self._max_new(engine) - 1
        return max(16, min(self.settings.context_tokens, limit))

    def _session(self, uri: str, engine: Engine) -> Session:
        # Sized by the budget, not this prompt, so that it fits the next keystroke's too.
        needed = self._budget(engine) + self._max_new(engine) + CACHE_SLACK_TOKENS
        capacity = min(engine.context_size, needed)
        session = self._sessions.get(
            uri,
            capacity,
            lambda n: Session(cache := engine.new_cache(n), engine.cache_bytes(cache)),
            int(self.settings.cache_mib * (1 << 20)),
        )
        if not self.settings.document_cache:
            engine.forget(session.cache)
        return session

    def _decode(
        self,
        loaded: Loaded,
        plan: Plan,
        ids: list[int],
        session: Session,
        session_uri: str,
        interrupted: Callable[[], str | None],
        deadline: float,
    ) -> tuple[list[int], str, int]:
        """Generate until the finisher is done; (token ids, their text, reused tokens)."""
        engine, s = loaded.engine, self.settings
        tokens: list[int] = []
        text = ""
        run = engine.generate(
            ids,
            plan.max_new_tokens,
            cache=session.cache,
            should_stop=lambda: interrupted() is not None or time.monotonic() > deadline,
            allowed_first_ids=plan.allowed_first_ids(loaded.vocab) or None,
            temperature=s.temperature,
            top_p=s.top_p,
            lookup=s.prompt_lookup,
        )
        try:
            for token in run.tokens:
                if token in engine.stop_ids:
                    break
                tokens.append(token)
                self._running = (session_uri, len(tokens))
                text = engine.decode(tokens)
                if plan.finisher.done(text):
                    break
        finally:
            self._running = None
        return tokens, text, run.reused_tokens
