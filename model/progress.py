"""A dependency-free progress bar for training and benchmarks (writes to stderr only)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        total: int,
        desc: str = "",
        start: int = 0,
        stream: TextIO | None = None,
        width: int = 24,
    ):
        self.total, self.desc, self.n, self.width = max(total, 1), desc, start, width
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.monotonic()
        self.start = start
        self._last = 0.0

    def update(self, n: int = 1, **fields: object) -> None:
        self.n += n
        now = time.monotonic()
        # On a terminal redraw at most 10 times a second; in a log file once every 30 s.
        if now - self._last < (0.1 if self.tty else 30.0) and self.n < self.total:
            return
        self._last = now
        done = self.n / self.total
        bar = "#" * int(done * self.width)
        rate = (self.n - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - self.n) / rate if rate > 0 else 0.0
        info = " ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in fields.items()
        )
        line = f"{self.desc} [{bar:<{self.width}}] {self.n}/{self.total} eta {eta / 60:.1f}m {info}"
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()
