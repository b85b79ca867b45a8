"""A remote inference server as a backend: llama.cpp, vLLM, TGI or Ollama over HTTP.

Everything but the forward passes stays here: the prompt is planned locally (windows,
repository snippets, FIM layout, token budget) and the suggestion is finished locally;
the server only generates, streamed, and is hung up on the moment the finisher is done
or the request goes stale, so that it stops generating too.

The two request dialects (OpenAI-style completions, llama.cpp's /infill) and every
difference between them are in `dialects.py`.

A failing server gives empty answers and one message, not one per keystroke
(`health.Health`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from fim.formats import STARCODER, FimFormat
from fim.healing import Vocabulary

from ..base import BackendUnavailable, StreamStats, TextStream
from ..tokens import Tokens
from .config import RemoteConfigError, choose_template, http_client, read_extra
from .dialects import DIALECTS, check_served
from .events import event_probabilities, event_text, read_usage, record_probabilities
from .healing import conditioned, constrained_first, first_token_grammar, names_grammar
from .health import Health, Totals
from .http import HttpClient, HttpError, Stopped

if TYPE_CHECKING:
    from fim.plan import Plan

    from ...settings import Settings

log = logging.getLogger("bigcode_ls")
CHARS_PER_TOKEN_ESTIMATE = 3  # code averages 3-4 characters a token: estimate high
# the likeliest tokens asked for per generated token, for `minConfidence`: llama.cpp's
# `n_probs` as many as the local engine records; OpenAI's legacy `logprobs` allows 5
LLAMA_CPP_TOP = 8
OPENAI_TOP = 5
HEALED_TOP = 32  # for a constrained first token: the allowed ones' mass (remote_healing)
PROBABILITY_FIELDS = frozenset({"n_probs", "logprobs"})


class RemoteBackend:
    filename_header = False  # a header the served model may not know; path comments do

    def __init__(self, settings: Settings, client: HttpClient, notify: Callable[[str], None]):
        self.kind = settings.backend
        self.dialect = DIALECTS[settings.backend]()
        self.settings = settings
        self.client = client
        self.health = Health(notify)
        self.totals = Totals()
        self.server = ""  # "llamacpp" or "vllm" when the model listing says so
        self.tokens: Tokens | None = None  # with the `tokenizer` setting: exact counts, healing
        self.path: str | None = None
        self.fmt: FimFormat | None = STARCODER
        self.context_size = settings.context_tokens + settings.max_new_tokens + 1
        self.extra = read_extra(settings.remote_extra)
        self.probabilities_refused = False
        self.probed = False  # what the server is (llama.cpp?) is known once it answered

    @classmethod
    def open(
        cls,
        settings: Settings,
        report: Callable[[str, int], None],
        notify: Callable[[str], None],
    ) -> RemoteBackend:
        backend = cls(settings, http_client(settings), notify)
        report("reading tokenizer", 10)
        backend._load_tokenizer()
        backend.fmt = choose_template(settings, backend._vocabulary())
        report("contacting the server", 50)
        backend.probe()
        log.info(
            "remote backend: token healing %s; prompt tokens counted %s",
            "on (a grammar re-types what the prompt leaves off)"
            if backend.heals
            else "off (it needs the tokenizer and a llama.cpp server)",
            f"with {backend.path}" if backend.tokens else "as 1 per 3 characters",
        )
        report("ready", 100)
        return backend

    def _load_tokenizer(self) -> None:
        path = self.settings.tokenizer or self.settings.model
        if path:
            self.tokens = Tokens.load(path)
            self.path = str(path)

    @property
    def heals(self) -> bool:
        """Token healing needs the tokenizer (where tokens start, which exist) and a
        server that takes a grammar for the first token (llama.cpp)."""
        return self.tokens is not None and self.speaks_llama

    @property
    def speaks_llama(self) -> bool:
        """llama.cpp answers, natively or behind its OpenAI-style endpoint."""
        return self.dialect.name == "llamacpp" or self.server == "llamacpp"

    @property
    def vocab(self) -> Vocabulary | None:
        return self.tokens.vocab if self.heals else None

    @property
    def token_starts(self) -> Callable[[str], list[int]] | None:
        return self.tokens.token_starts if self.heals else None

    @property
    def stop_ids(self) -> frozenset[int]:
        """Token ids of the special tokens (known with the tokenizer)."""
        return self.tokens.special_ids if self.tokens is not None else frozenset()

    def _vocabulary(self):
        return self.tokens.spellings if self.tokens is not None else None

    def count(self, text: str) -> int:
        if self.tokens is not None:
            return self.tokens.count(text)
        return -(-len(text) // CHARS_PER_TOKEN_ESTIMATE)

    # --- what the service reads -------------------------------------------------------
    @property
    def description(self) -> str:
        name = self.settings.remote_model or "the served model"
        fim = self.fmt.name if self.fmt else "none"
        return f"{name} at {self.client.origin} ({self.kind}, FIM template {fim})"

    def forget(self, uri: str) -> None:
        pass  # the server's prefix cache is its own business

    def prefill_ahead(self, plan, keep, uri, settings, should_stop) -> int:
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
    def probe(self) -> None:
        """Ask the server what it serves. A server that is down is not an error here (it
        may come up later); one that does not serve the configured model is."""
        try:
            info = self.dialect.probe(self.client)
        except HttpError as exc:
            if exc.status in (401, 403):
                raise RemoteConfigError(str(exc)) from None
            self.health.failed(str(exc))
            return
        check_served(info, self.settings.remote_model, self.client.origin)
        self.server = info.server if self.dialect.name == "openai" else ""
        if info.n_ctx is not None:
            self.context_size = min(self.context_size, info.n_ctx)
        self.probed = True
        self.health.succeeded()

    def request_body(
        self, plan: Plan, settings: Settings, rests: list[str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """(endpoint, JSON body) for one plan; `rests`: the names' grammar (`names_grammar`)."""
        body = self.dialect.body(plan, self.fmt, self.server, self.tokens is not None)
        body.update(temperature=settings.temperature, top_p=settings.top_p)
        body.update(self._probabilities(settings, constrained_first(plan)))
        body.update({"grammar": names_grammar(rests)} if rests else self._grammar(plan))
        if settings.remote_model and self.dialect.name == "openai":
            body["model"] = settings.remote_model
        return self.dialect.endpoint(self.client), {**body, **self.extra}

    def _probabilities(self, settings: Settings, constrained: bool) -> dict[str, int]:
        """The request's fields that ask for the generated tokens' probabilities: only
        when `minConfidence` will read them, and not of a server that refused them; more
        of them when the first token is constrained (`remote_healing.conditioned`)."""
        if settings.min_confidence <= 0 or self.probabilities_refused:
            return {}
        if self.heals and constrained:
            return {"n_probs": HEALED_TOP}
        if self.speaks_llama:
            return {"n_probs": LLAMA_CPP_TOP}  # its /v1/completions ignores `logprobs`
        return {"logprobs": OPENAI_TOP}

    def _grammar(self, plan: Plan) -> dict[str, str]:
        """The first-token constraint of a healed plan, as llama.cpp's `grammar`."""
        grammar = first_token_grammar(plan) if self.heals else None
        return {"grammar": grammar} if grammar else {}

    def _events(
        self,
        plan: Plan,
        settings: Settings,
        should_stop: Callable[[], bool],
        rests: list[str] | None = None,
    ) -> Iterator[dict]:
        """The server's events for `plan`. Healing a text of several characters takes
        two requests: the grammar alone would also admit a first token that spells only a
        beginning of the text, so the first token is asked alone with those banned, then
        the rest after it (the server's prompt cache serves the second)."""
        path, body = self.request_body(plan, settings, rests)
        banned = self._partial_spellings(plan)
        if not banned:
            yield from self._request(path, body, should_stop)
            return
        limit = self.dialect.limit
        # n_probs: the first token's id comes with its probabilities
        first = {**body, limit: 1, "n_probs": body.get("n_probs", 1)}
        first["logit_bias"] = [[i, False] for i in sorted(banned)]
        text, ids = "", []
        for event in self._request(path, first, should_stop):
            text += event_text(event)
            ids += [t.id for t in event_probabilities(event)]
            yield event
        if not text or body[limit] <= 1:
            return
        # the rest: unconstrained, and past the first token 8 alternatives are enough
        body = {k: v for k, v in body.items() if k not in ("grammar", *PROBABILITY_FIELDS)}
        still = [r[len(text) :] for r in rests or () if r.startswith(text)]
        if still:  # the first token is inside a name yet: the rest of the names
            body["grammar"] = names_grammar(still)
        body[limit] -= 1
        body.update(self._probabilities(settings, constrained=False))
        self.dialect.continue_after(body, text, ids)
        yield from self._request(path, body, should_stop)

    def _partial_spellings(self, plan: Plan) -> set[int]:
        """Token ids that spell a proper beginning of the text the plan healed."""
        healed = plan.first_starts_with if self.heals else ""
        if self.tokens is None or len(healed) < 2:
            return set()
        return set().union(*(self.tokens.vocab.spelling(healed[:k]) for k in range(1, len(healed))))

    def _request(self, path: str, body: dict, should_stop: Callable[[], bool]) -> Iterator[dict]:
        """One request's events. A server that rejects it for asking for probabilities
        (HTTP 400 or 422) is asked again without them, and never again with them: its
        suggestions are then shown ungated."""
        events = self.client.stream_events(path, body, should_stop)
        try:
            first = next(events, None)
        except HttpError as exc:
            if not PROBABILITY_FIELDS & body.keys() or exc.status not in (400, 422):
                raise
            self.probabilities_refused = True
            log.warning("the server refused token probabilities (%s): minConfidence is off", exc)
            body = {k: v for k, v in body.items() if k not in PROBABILITY_FIELDS}
            events = self.client.stream_events(path, body, should_stop)
            first = next(events, None)
        try:
            if first is not None:
                yield first
                yield from events
        finally:
            events.close()

    def stream(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        should_stop: Callable[[], bool],
        monitor: object = None,
    ) -> TextStream:
        """The server's generation as growing text. A server's decoding cannot be steered
        token by token; llama.cpp's grammar carries static analysis where the cursor is
        itself in an attribute (the names are known before the request)."""
        if not self.probed and not self.health.backing_off():
            self.probe()  # down when the backend opened: learn now what it is
            if self.probed:
                log.info("remote server answered; token healing %s", "on" if self.heals else "off")
        self.health.check()
        stats = StreamStats(prompt_tokens=sum(self.count(p) for p in plan.prompt.pieces))
        at_cursor = getattr(monitor, "at_cursor", None)
        rests = at_cursor(plan.first_starts_with) if at_cursor and self.speaks_llama else None
        events = self._events(plan, settings, should_stop, rests)

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
                        tokens = event_probabilities(event)
                        if self.heals:  # as the local engine reports them
                            tokens = conditioned(tokens, plan, start == 0, LLAMA_CPP_TOP)
                        recording = recording and record_probabilities(
                            stats, tokens, start, len(text)
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
