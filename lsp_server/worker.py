"""One daemon thread that runs submitted callables in order: the model's only thread.

The event loop submits and awaits the returned `Future`; it never waits on the model.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class Worker:
    def __init__(self, name: str = "bigcode-model") -> None:
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[], Any]) -> Future:
        future: Future = Future()
        self._queue.put((fn, future))
        return future

    def busy(self) -> bool:
        """Whether a job is running or waiting."""
        return self._queue.unfinished_tasks > 0

    def _run(self) -> None:
        while True:
            fn, future = self._queue.get()
            if fn is None:
                return
            try:
                if future.set_running_or_notify_cancel():
                    future.set_result(fn())
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                future.set_exception(exc)
            finally:
                self._queue.task_done()

    def stop(self, wait_s: float = 0.0) -> None:
        """Finish after the queued work; wait up to `wait_s` for that (0: do not wait)."""
        self._queue.put((None, None))
        if wait_s:
            self._thread.join(wait_s)
