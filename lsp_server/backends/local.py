"""The in-process model as a backend: prompt pieces → token ids → the document's KV cache.

Each document keeps a session, the KV cache of its last prompt and generation, so a new
request reuses the longest common token prefix and prefills only the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from fim.formats import Special, detect_format
from fim.healing import Vocabulary

from .base import StreamStats, TextStream
from .sessions import Session, SessionPool

if TYPE_CHECKING:
    from fim.plan import Plan

    from ..settings import Settings
    from .engine import Engine

# Slack in a session's cache for the few tokens by which tokenizing the prompt's pieces
# apart can exceed the budget's estimate.
CACHE_SLACK_TOKENS = 64
# A prompt the document's cache holds all but this many tokens of is not computed ahead
# into the spare cache (which may hold little of it): the request's own pass is cheap.
FEW_TOKENS = 16


class LocalBackend:
    kind = "local"

    def __init__(self, engine: Engine):
        self.engine = engine
        tokens = engine.tokens
        self.fmt = detect_format(tokens.spellings, engine.fim_override)
        self.vocab: Vocabulary | None = tokens.vocab
        self.token_starts: Callable[[str], list[int]] | None = tokens.token_starts
        self.filename_header = bool(
            self.fmt and self.fmt.filename and engine.options.get("filename_header", True)
        )
        self.context_size = engine.context_size
        self.description = engine.description
        self.path = str(engine.path)
        self.count = tokens.count
        self.sessions = SessionPool()
        # The last prompt encoded, by its pieces: scoring candidates after a generation
        # asks for the same prompt's ids again (both on the model worker).
        self._last_prompt: tuple[tuple[str, ...], list[int]] = ((), [])
        # The last generation, for a search to branch from: (uri, prompt ids, the tokens
        # generated, the stream's stats, the engine's per-token stats).
        self._last_run: tuple[str, list[int], list[int], StreamStats, Any] | None = None
        self._line_ends: frozenset[int] | None = None  # ids that end a line (made on use)
        self._line_starts: frozenset[int] | None = None  # ids that end it before their text

    def forget(self, uri: str) -> None:
        self.sessions.drop(uri)

    def status(self) -> dict[str, Any]:
        uris, nbytes = self.sessions.summary()
        return {"sessions": uris, "cacheBytes": nbytes, "demonstration": self.engine.bundled}

    def prompt_ids(self, plan: Plan) -> list[int]:
        """The plan's prompt as token ids (the last one's remembered)."""
        pieces = tuple(plan.prompt.pieces)
        if pieces != self._last_prompt[0]:
            self._last_prompt = (pieces, self.encode(plan.prompt.pieces))
        return self._last_prompt[1]

    def encode(self, pieces: list[str]) -> list[int]:
        ids: list[int] = []
        for piece in pieces:
            if not isinstance(piece, Special):
                ids.extend(self.engine.tokens.encode(piece))
            elif (token := self.engine.tokens.token_id(piece)) is not None:
                ids.append(token)
        return ids

    def _session(self, uri: str, settings: Settings) -> Session:
        engine = self.engine
        # Sized by the budget, not this prompt, so that it fits the next keystroke's too.
        needed = settings.context_tokens + settings.max_new_tokens + CACHE_SLACK_TOKENS
        capacity = min(engine.context_size, needed)
        session = self.sessions.get(
            uri,
            capacity,
            lambda n: Session(cache := engine.new_cache(n), engine.cache_bytes(cache)),
            int(settings.cache_mib * (1 << 20)),
        )
        if not settings.document_cache:
            engine.forget(session.cache)
        return session

    def stream(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        should_stop: Callable[[], bool],
        monitor: Callable[[str], Collection[int] | None] | None = None,
    ) -> TextStream:
        """Generate into the document's cache; yields the decoded text after each token.
        `monitor(text so far)` may restrict each later token (static analysis)."""
        ids = self.prompt_ids(plan)
        stats = StreamStats(prompt_tokens=len(ids))
        if not ids:
            return TextStream(iter(()), stats)
        engine = self.engine
        vocab = engine.tokens.texts
        session = self._session(uri, settings)
        self._prefer(session, ids)
        run = engine.generate(
            ids,
            plan.max_new_tokens,
            cache=session.cache,
            should_stop=should_stop,
            allowed_first_ids=plan.allowed_first_ids(self.vocab) or None,
            temperature=settings.temperature,
            top_p=settings.top_p,
            lookup=settings.prompt_lookup,
            file_ngrams=settings.file_ngrams,
            constrain=(lambda out: monitor(engine.tokens.decode(out))) if monitor else None,
        )

        def texts() -> Iterator[str]:
            tokens: list[int] = []
            self._last_run = (uri, ids, tokens, stats, run.stats)
            try:
                for token in run.tokens:
                    if token in engine.stop_ids:
                        break
                    tokens.append(token)
                    text = engine.tokens.decode(tokens)
                    stats.generated_tokens = len(tokens)
                    stats.reused_tokens = run.reused_tokens
                    stats.logprobs.append(run.stats.logprobs[-1])
                    likeliest = zip(*run.stats.top[-1], strict=True)
                    stats.top.append([(text_of(vocab, i), lp) for i, lp in likeliest])
                    stats.ends.append(len(text))
                    yield text
            except Exception:
                self.sessions.drop(uri)  # its cache may be half written
                raise
            stats.reused_tokens = run.reused_tokens

        return TextStream(texts(), stats)

    def prefill_ahead(
        self,
        plan: Plan,
        keep: Plan,
        uri: str,
        settings: Settings,
        should_stop: Callable[[], bool],
    ) -> int:
        """Compute `plan`'s prompt ahead of need into the document's spare cache (see
        `Session.spare`) while its cache keeps serving `keep`'s, the document as it is:
        of the two caches the one that holds more of `keep`'s prompt stays the document's
        and the other is extended. Stops between chunks when `should_stop()`; returns the
        tokens computed."""
        if not settings.document_cache:
            return 0
        # the request's own prompt: remembered for the request that follows (a prompt ahead
        # of need is encoded apart, so that the current one stays remembered)
        ids = self.prompt_ids(plan) if keep is plan else self.encode(plan.prompt.pieces)
        session = self._session(uri, settings)
        engine = self.engine
        self._prefer(session, ids if keep is plan else self.encode(keep.prompt.pieces))
        held = engine.reusable(session.cache, ids)
        if len(ids) - held <= FEW_TOKENS:
            return 0  # the document's cache holds all but a few: the request's own pass
        if session.cache.length <= held + FEW_TOKENS:  # it holds this work half done, and
            return engine.extend(ids[:-1], session.cache, should_stop)  # nothing else
        capacity, budget = session.cache.capacity, int(settings.cache_mib * (1 << 20))
        make = partial(engine.new_cache, capacity)
        spare = self.sessions.spare(session, make, engine.cache_bytes, budget)
        return 0 if spare is None else engine.extend(ids[:-1], spare, should_stop)

    def _prefer(self, session: Session, ids: list[int]) -> None:
        """Make the session's cache the one of its two that holds more of prompt `ids`
        (a prompt computed ahead of need makes the spare the better one)."""
        engine = self.engine
        spare = session.spare
        if spare is not None and engine.reusable(spare, ids) > engine.reusable(session.cache, ids):
            session.cache, session.spare = spare, session.cache

    def score(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        texts: list[str],
        should_stop: Callable[[], bool],
    ) -> list[float]:
        """Each text's log-probability as a whole line after the plan's prompt (`Backend.
        score`), computed on the document's cache (which keeps the prompt for the next
        keystroke)."""
        ids = self.prompt_ids(plan)
        if not ids:
            return []
        engine = self.engine
        cache = self._session(uri, settings).cache
        if self._line_starts is None:
            opens = (i for i, t in enumerate(engine.tokens.texts) if t.startswith(("\n", "\r")))
            self._line_starts = frozenset(opens) | engine.stop_ids
        return engine.logprobs(
            ids,
            [engine.tokens.encode(t) for t in texts],
            cache=cache,
            should_stop=should_stop,
            end_ids=self._line_starts,
        )

    def search(
        self,
        plan: Plan,
        uri: str,
        settings: Settings,
        shown: str,
        width: int,
        should_stop: Callable[[], bool],
    ) -> list[str]:
        """Up to `width` other texts the model might have written instead of the last
        generation's, whose start `shown` is: each leaves the greedy path at one of its
        likeliest other tokens (`first_deviations`) and goes on greedily to the line's
        end, all decoded together on the document's cache. [] when the last generation
        was not this plan's."""
        last = self._last_run
        ids = self.prompt_ids(plan)
        if width <= 0 or last is None or last[0] != uri or last[1] != ids:
            return []
        _, _, tokens, stats, steps = last
        # the steps that wrote `shown`, and the one after (its end) unless the run stopped
        covering = next((j for j, end in enumerate(stats.ends) if end >= len(shown)), None)
        last_step = len(tokens) if covering is None else covering + 2
        greedy = tokens[:last_step]
        engine, ends = self.engine, self._ends()
        cap = min(plan.max_new_tokens, len(greedy) + 8)  # a line much longer rarely wins
        cache = self._session(uri, settings).cache
        found = engine.branches(
            ids, greedy, steps, width, ends, cap, cache=cache, should_stop=should_stop
        )
        # a branch the cap cut short is no whole line to weigh
        return [engine.tokens.decode(b) for b in found if b[-1] in ends]

    def _ends(self) -> frozenset[int]:
        """The ids after which a line is over: a newline in the token, or a stop token."""
        if self._line_ends is None:
            texts = self.engine.tokens.texts
            ends = (i for i, t in enumerate(texts) if "\n" in t or "\r" in t)
            self._line_ends = frozenset(ends) | self.engine.stop_ids
        return self._line_ends


def text_of(vocab: list[str], token: int) -> str:
    """A token's text ("" for the padding ids a model may have past its tokenizer's)."""
    return vocab[token] if token < len(vocab) else ""
