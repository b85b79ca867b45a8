"""A remote inference server as a backend: llama.cpp, vLLM, TGI or Ollama over HTTP.

Everything but the forward passes stays here: the prompt is planned locally (windows,
repository snippets, FIM layout, token budget) and the suggestion is finished locally;
the server only generates, streamed, and is hung up on the moment the finisher is done
or the request goes stale, so that it stops generating too.

Two protocols:

* `openai`: POST /v1/completions with the whole FIM prompt as text (the server parses
  the special tokens' spellings). Our SPM layout only ever appends at the cursor, so the
  server's prefix cache (llama.cpp's `cache_prompt`, vLLM's prefix caching) hits.
* `llamacpp`: llama.cpp's native POST /infill with the prefix, suffix and snippets as
  fields; the server lays out the FIM prompt with the model's own tokens.

A failing server gives empty answers and one message, not one per keystroke: after a
failure requests are answered at once, without contacting it, until a retry time that
backs off from half a second to five; the first request that then succeeds says it is
back in the log.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from fim.formats import STARCODER, TEMPLATES, FimFormat, detect_format, format_for_model_name

from .backend import BackendUnavailable, StreamStats, TextStream
from .http_stream import HttpClient, HttpError, Stopped
from .remote_events import event_probabilities, event_text, read_usage, record_probabilities

if TYPE_CHECKING:
    from fim.plan import Plan

    from .settings import Settings

log = logging.getLogger("bigcode_ls")
CHARS_PER_TOKEN_ESTIMATE = 3  # code averages 3-4 characters a token: estimate high
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0
# the likeliest tokens asked for per generated token, for `minConfidence`: llama.cpp's
# `n_probs` as many as the local engine records; OpenAI's legacy `logprobs` allows 5
LLAMA_CPP_TOP = 8
OPENAI_TOP = 5


class RemoteConfigError(ValueError):
    """Settings that cannot work (no API key in the named variable, bad extra fields, a
    model the server does not serve)."""


@dataclass
class Health:
    """Whether the server answers, with back-off after failures and one message per outage."""

    notify: Callable[[str], None]
    state: str = "unknown"  # unknown | ok | down
    last_error: str | None = None
    retry_at: float = 0.0
    delay_s: float = RETRY_FIRST_S
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        """Raise BackendUnavailable while backing off after a failure."""
        if self.state == "down" and time.monotonic() < self.retry_at:
            raise BackendUnavailable(self.last_error or "remote server unavailable")

    def failed(self, message: str) -> None:
        with self._lock:
            first = self.state != "down"
            self.state, self.last_error = "down", message
            if first:
                self.delay_s = RETRY_FIRST_S
            else:
                self.delay_s = min(RETRY_MAX_S, self.delay_s * 2)
            self.retry_at = time.monotonic() + self.delay_s
        if first:
            log.warning("remote server unavailable: %s", message)
            self.notify(f"bigcode-ls: the remote server is unavailable: {message}")

    def succeeded(self) -> None:
        with self._lock:
            was_down, self.state = self.state == "down", "ok"
        if was_down:
            log.info("remote server is back")


@dataclass
class Totals:
    requests: int = 0
    prompt_tokens: int = 0  # as the server reported them
    reused_tokens: int = 0  # of which its prefix cache served

    def add(self, stats: StreamStats) -> None:
        self.requests += 1
        self.prompt_tokens += stats.prompt_tokens
        self.reused_tokens += stats.reused_tokens


def read_api_key(env_name: str) -> str | None:
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise RemoteConfigError(f"remoteApiKeyEnv names {env_name}, which is not set")
    return key


def read_extra(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        extra = json.loads(text)
    except ValueError as exc:
        raise RemoteConfigError(f"remoteExtra is not JSON: {exc}") from None
    if not isinstance(extra, dict):
        raise RemoteConfigError("remoteExtra must be a JSON object")
    return extra


def choose_template(settings: Settings, vocabulary) -> FimFormat | None:
    """The FIM template: the setting, else what the tokenizer has, else the model name."""
    if settings.fim_template != "auto":
        return TEMPLATES[settings.fim_template]
    if vocabulary is not None:
        return detect_format(vocabulary)
    by_name = format_for_model_name(settings.remote_model)
    if by_name is None:
        log.info("FIM template: starcoder (nothing in the model name says otherwise)")
    return by_name or STARCODER


class RemoteBackend:
    vocab = None  # the first token cannot be constrained: no token healing
    token_starts = None
    filename_header = False  # a header the served model may not know; path comments do

    def __init__(self, settings: Settings, client: HttpClient, notify: Callable[[str], None]):
        self.kind = settings.backend
        self.settings = settings
        self.client = client
        self.health = Health(notify)
        self.totals = Totals()
        self.server = ""  # "llamacpp" or "vllm" when the model listing says so
        self.tokenizer = None
        self.stop_ids: frozenset[int] = frozenset()  # token ids of special tokens (tokenizer)
        self.path: str | None = None
        self.fmt: FimFormat | None = STARCODER
        self.context_size = settings.context_tokens + settings.max_new_tokens + 1
        self.extra = read_extra(settings.remote_extra)
        self.count = lru_cache(maxsize=8192)(self._count)
        self.probabilities_refused = False

    @classmethod
    def open(
        cls,
        settings: Settings,
        report: Callable[[str, int], None],
        notify: Callable[[str], None],
    ) -> RemoteBackend:
        key = read_api_key(settings.remote_api_key_env)
        client = HttpClient(
            settings.remote_url,
            settings.remote_timeout_ms / 1000,
            verify_tls=settings.remote_tls_verify,
            headers={"Authorization": f"Bearer {key}"} if key else None,
            secrets=(key,) if key else (),
        )
        backend = cls(settings, client, notify)
        report("reading tokenizer", 10)
        backend._load_tokenizer()
        backend.fmt = choose_template(settings, backend._vocabulary())
        log.info(
            "remote backend: token healing is off (a server cannot constrain the first "
            "token); prompt tokens counted %s",
            f"with {backend.path}" if backend.tokenizer else "as 1 per 3 characters",
        )
        report("contacting the server", 50)
        backend.probe()
        report("ready", 100)
        return backend

    def _load_tokenizer(self) -> None:
        path = self.settings.tokenizer or self.settings.model
        if not path:
            return
        from model.loading import load_tokenizer

        self.tokenizer = load_tokenizer(path)
        self.path = str(path)
        decoder = self.tokenizer.get_added_tokens_decoder()
        self.stop_ids = frozenset(i for i, t in decoder.items() if t.special)

    def _vocabulary(self):
        return self.tokenizer.get_vocab().keys() if self.tokenizer is not None else None

    def _count(self, text: str) -> int:
        if self.tokenizer is not None:
            return len(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return -(-len(text) // CHARS_PER_TOKEN_ESTIMATE)

    # --- what the service reads -------------------------------------------------------
    @property
    def description(self) -> str:
        name = self.settings.remote_model or "the served model"
        fim = self.fmt.name if self.fmt else "none"
        return f"{name} at {self.client.origin} ({self.kind}, FIM template {fim})"

    def forget(self, uri: str) -> None:
        pass  # the server's prefix cache is its own business

    def warm(self, plan, keep, uri, settings, should_stop) -> int:
        return 0  # a shared server's time is not ours to spend ahead of need

    def score(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        texts: list[str],
        should_stop: Callable[[], bool],
    ) -> None:
        return None  # would cost a round trip per candidate line: not worth it remotely

    def status(self) -> dict[str, Any]:
        t = self.totals
        return {
            "remote": {
                "url": self.client.origin,
                "protocol": self.kind,
                "state": self.health.state,
                "lastError": self.health.last_error,
                "requests": t.requests,
                "promptTokens": t.prompt_tokens,
                "reusedTokens": t.reused_tokens,
                "connections": self.client.connections_made,
            }
        }

    # --- talking to the server ----------------------------------------------------------
    def _path(self, endpoint: str) -> str:
        """`/completions` or `/models` under /v1, unless the URL already ends in /v1."""
        if self.kind == "llamacpp":
            return endpoint
        return endpoint if self.client.base_path.endswith("/v1") else "/v1" + endpoint

    def probe(self) -> None:
        """Ask the server what it serves. A server that is down is not an error here (it
        may come up later); one that does not serve the configured model is."""
        try:
            if self.kind == "llamacpp":
                props = self.client.get_json("/props")
                n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
                if isinstance(n_ctx, int) and n_ctx > 0:
                    self.context_size = min(self.context_size, n_ctx)
            else:
                self._check_model(self.client.get_json(self._path("/models")))
        except HttpError as exc:
            if exc.status in (401, 403):
                raise RemoteConfigError(str(exc)) from None
            self.health.failed(str(exc))
            return
        self.health.succeeded()

    def _check_model(self, listing: dict) -> None:
        models = [m for m in listing.get("data") or [] if isinstance(m, dict)]
        owners = {str(m.get("owned_by")) for m in models}
        self.server = "llamacpp" if "llamacpp" in owners else "vllm" if "vllm" in owners else ""
        served = [m.get("id") for m in models]
        wanted = self.settings.remote_model
        if wanted and served and wanted not in served:
            raise RemoteConfigError(
                f"{self.client.origin} does not serve the model {wanted!r} "
                f"(it serves: {', '.join(map(str, served[:8]))})"
            )

    def request_body(self, plan: Plan, settings: Settings) -> tuple[str, dict[str, Any]]:
        """(endpoint, JSON body) for one plan."""
        sampling = {"temperature": settings.temperature, "top_p": settings.top_p}
        if self.kind == "llamacpp":
            body = {
                "input_prefix": plan.prompt.prefix,
                "input_suffix": plan.prompt.suffix,
                "input_extra": [{"filename": "", "text": t} for t in plan.prompt.snippets],
                "prompt": "",
                "n_predict": plan.max_new_tokens,
                "stream": True,
                "cache_prompt": True,
                "return_tokens": self.tokenizer is not None,  # to stop where we would
                "timings_per_token": True,
                **sampling,
                **self._probabilities(settings),
            }
            return "/infill", {**body, **self.extra}
        body = {
            "prompt": "".join(plan.prompt.pieces),
            "max_tokens": plan.max_new_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},  # vLLM reports cached tokens there
            "stop": list(self.fmt.stop_texts) if self.fmt else [],
            **sampling,
            **self._probabilities(settings),
        }
        if settings.remote_model:
            body["model"] = settings.remote_model
        # We hang up as soon as the suggestion is complete, before the usage figures at
        # the stream's end: servers that can put them in every event are asked to.
        if self.server == "llamacpp":
            body["timings_per_token"] = True
        elif self.server == "vllm":
            body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
        return self._path("/completions"), {**body, **self.extra}

    def _probabilities(self, settings: Settings) -> dict[str, int]:
        """The request's fields that ask for the generated tokens' probabilities: only
        when `minConfidence` will read them, and not of a server that refused them."""
        if settings.min_confidence <= 0 or self.probabilities_refused:
            return {}
        if self.kind == "llamacpp" or self.server == "llamacpp":
            return {"n_probs": LLAMA_CPP_TOP}  # its /v1/completions ignores `logprobs`
        return {"logprobs": OPENAI_TOP}

    def _events(
        self, plan: Plan, settings: Settings, should_stop: Callable[[], bool]
    ) -> Iterator[dict]:
        """The server's events for `plan`. A server that rejects the request for asking
        for probabilities (HTTP 400 or 422) is asked again without them, and never again
        with them: its suggestions are then shown ungated."""
        path, body = self.request_body(plan, settings)
        events = self.client.stream_events(path, body, should_stop)
        try:
            first = next(events, None)
        except HttpError as exc:
            asked = any(k in body for k in ("n_probs", "logprobs"))
            if not asked or exc.status not in (400, 422):
                raise
            self.probabilities_refused = True
            log.warning("the server refused token probabilities (%s): minConfidence is off", exc)
            path, body = self.request_body(plan, settings)
            events = self.client.stream_events(path, body, should_stop)
            first = next(events, None)
        try:
            if first is not None:
                yield first
                yield from events
        finally:
            events.close()

    def stream(
        self, plan: Plan, uri: str, settings: Settings, should_stop: Callable[[], bool]
    ) -> TextStream:
        self.health.check()
        stats = StreamStats(prompt_tokens=sum(self.count(p) for p in plan.prompt.pieces))
        events = self._events(plan, settings, should_stop)

        def texts() -> Iterator[str]:
            text, answered, recording = "", False, True
            try:
                for event in events:
                    if not answered:  # the server is up, whether or not we read to the end
                        answered = True
                        self.health.succeeded()
                    piece = event_text(event)
                    read_usage(event, stats)
                    if self.stop_ids.intersection(event.get("tokens") or ()):
                        break  # a special token: the local engine stops there too
                    if piece:
                        start, text = len(text), text + piece
                        stats.generated_tokens += 1
                        recording = recording and record_probabilities(
                            stats, event_probabilities(event), start, len(text)
                        )
                        yield text
                self.health.succeeded()
            except Stopped:
                return
            except HttpError as exc:
                self.health.failed(str(exc))
                raise BackendUnavailable(str(exc)) from None
            finally:
                events.close()
                if answered:
                    self.totals.add(stats)

        return TextStream(texts(), stats, close=events.close)
