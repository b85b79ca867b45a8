"""Per-document sessions: each open document's KV cache, under one memory budget.

The model worker creates, uses and evicts sessions; the event loop only reads a summary
(`bigcode/status`). A lock makes every access atomic, so a reader never iterates the
table while the worker changes it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("bigcode_ls")


@dataclass
class Session:
    cache: Any  # an engine's opaque cache object
    nbytes: int
    # a second cache, made on demand, that holds a prompt computed ahead of need (the one
    # a moved prefix window will lead to); a request takes whichever serves it better
    spare: Any = None


class SessionPool:
    """Sessions by document URI, least recently used first, within `budget_bytes`."""

    def __init__(self) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self, uri: str, capacity: int, make: Callable[[int], Session], budget_bytes: int
    ) -> Session:
        """The document's session with room for `capacity` tokens, made (and older
        sessions evicted to fit the budget) when it has none that big."""
        with self._lock:
            session = self._sessions.get(uri)
            if session is not None and session.cache.capacity >= capacity:
                self._sessions.move_to_end(uri)
                return session
            self._sessions.pop(uri, None)
        session = make(capacity)  # allocation outside the lock: readers never wait on it
        with self._lock:
            while self._sessions and self._bytes() + session.nbytes > budget_bytes:
                evicted, _ = self._sessions.popitem(last=False)
                log.info("evicted the KV cache of %s (memory budget)", evicted)
            self._sessions[uri] = session
        return session

    def spare(
        self,
        session: Session,
        make: Callable[[], Any],
        nbytes: Callable[[Any], int],
        budget_bytes: int,
    ) -> Any:
        """The session's spare cache, made when it has none and the memory budget leaves
        room for it (else None: nothing is evicted for work ahead of need). One session
        at a time holds one (the others' are freed first)."""
        with self._lock:
            for other in self._sessions.values():
                if other is not session and other.spare is not None:
                    other.nbytes -= nbytes(other.spare)
                    other.spare = None
            if session.spare is not None:
                return session.spare
            room = budget_bytes - self._bytes()
        if room < session.nbytes:  # a spare is as big as the session's cache
            return None
        spare = make()
        with self._lock:
            session.spare = spare
            session.nbytes += nbytes(spare)
        return spare

    def peek(self, uri: str) -> Session | None:
        """The document's session, if it has one (for benchmarks and tests)."""
        with self._lock:
            return self._sessions.get(uri)

    def drop(self, uri: str) -> None:
        with self._lock:
            self._sessions.pop(uri, None)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def _bytes(self) -> int:
        return sum(s.nbytes for s in self._sessions.values())

    def summary(self) -> tuple[list[str], int]:
        """(URIs with a session, least recently used first; their total bytes)."""
        with self._lock:
            return list(self._sessions), self._bytes()
