"""Whether a remote server answers, and what it served.

A failing server gives empty answers and one message, not one per keystroke: after a
failure requests are answered at once, without contacting it, until a retry time that
backs off from half a second to five; the first request that then succeeds says it is
back in the log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ..base import BackendUnavailable, StreamStats

log = logging.getLogger("bigcode_ls")
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


@dataclass
class Health:
    """Whether the server answers, with back-off after failures and one message per outage."""

    notify: Callable[[str], None]
    state: str = "unknown"  # unknown | ok | down
    last_error: str | None = None
    retry_at: float = 0.0
    delay_s: float = RETRY_FIRST_S
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def backing_off(self) -> bool:
        return self.state == "down" and time.monotonic() < self.retry_at

    def check(self) -> None:
        """Raise BackendUnavailable while backing off after a failure."""
        if self.backing_off():
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
