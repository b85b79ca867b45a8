"""The names a static analyser says exist after `receiver.` in Python code (Jedi).

Jedi is pure Python, knows imports, the standard library, the workspace's modules and
classes' attributes, and needs no running interpreter of the user's project: it reads
source. It is not thread-safe, a cold question (a module's first import) can take a
second or two of pure Python, and on a thread of the server that would take the
interpreter's lock from the model: so Jedi runs in a process of its own, fed by one
thread, and the decoding loop waits for an answer only as long as its request's budget
allows; an answer that comes later is cached for the next keystroke, which asks the
same receiver on the same line.
"""

from __future__ import annotations

import atexit
import json
import logging
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path

from .worker import Worker

log = logging.getLogger("bigcode_ls")
MAX_CACHED = 512  # (file, line, receiver) answers kept
MAX_NAMES = 2000  # more than this is a module star-import soup: no constraint
MAX_READS_AHEAD = 4  # files read ahead waiting at once; older ones are dropped
CALL_LIMIT_S = 30.0  # a question or read that takes longer ends the Jedi process
# A receiver whose type has this (object has not) answers for names nobody declared: the
# typeshed stubs of argparse.Namespace and of mocks say so, as a module's own may
DYNAMIC = "__getattr__"


IMPORT_LINE = re.compile(r"^(?:import|from)\s[^\n(]*(?:\([^)]{0,4000}\))?[^\n]*$", re.M)


def import_lines(code: str) -> str:
    """The file's top-level import statements (a parenthesised one whole), one a line."""
    return "".join(m.group() + "\n" for m in IMPORT_LINE.finditer(code))


_cache_dir: str | None = None


def private_cache_dir() -> str:
    """A directory of this process's own for Jedi's parse cache: parso keeps parsed files
    there as pickles and loads them back, and a pickle is safe to load only if we wrote
    it. Removed at exit."""
    global _cache_dir
    if _cache_dir is None:
        _cache_dir = tempfile.mkdtemp(prefix="bigcode-jedi-")
        atexit.register(shutil.rmtree, _cache_dir, ignore_errors=True)
    return _cache_dir


class JediProcess:
    """Jedi in a process of its own: its work is pure Python, and on a thread of the
    server it would take the interpreter's lock from the model's thread for seconds on a
    cold question (the first completion in a file took 2 s instead of 0.1 s). One
    request at a time, as JSON lines over the child's stdin and stdout (strings in,
    names out: nothing is unpickled); a call that takes more than CALL_LIMIT_S kills it, a
    process that died is started again on the next call, and one whose stdin closes (the
    server ended) ends."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None

    def call(self, name: str, *args):
        if self._proc is None or self._proc.poll() is not None:
            self._start()
        proc = self._proc
        watchdog = threading.Timer(CALL_LIMIT_S, proc.kill)  # Jedi lost in a file
        watchdog.start()
        try:
            proc.stdin.write(json.dumps([name, args]) + "\n")
            proc.stdin.flush()
            answer = proc.stdout.readline()
        except (OSError, ValueError):
            answer = ""
        finally:
            watchdog.cancel()
        if not answer:
            self._proc = None
            raise RuntimeError("the analysis process ended")
        ok, value = json.loads(answer)
        if not ok:
            raise RuntimeError(value)
        return value

    def _start(self) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "lsp_server.analysis", private_cache_dir()],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            encoding="utf-8",
        )
        atexit.register(self._proc.kill)


def serve_jedi(cache_dir: str) -> None:
    """The analysis process: answer [name, args] lines on stdin until it closes."""
    import jedi

    jedi.settings.cache_directory = cache_dir
    projects: dict[str | None, object] = {}

    def script(code: str, path: str, root: str | None):
        if root not in projects:
            projects[root] = jedi.Project(root) if root else None
        on_disk = path if Path(path).is_absolute() else None  # not an untitled buffer's uri
        return jedi.Script(code, path=on_disk, project=projects[root])

    def complete(code: str, line: int, column: int, path: str, root: str | None) -> list[str]:
        return [c.name for c in script(code, path, root).complete(line, column)]

    def read(code: str, path: str, root: str | None) -> None:
        script(code, path, root).get_names()

    calls = {"complete": complete, "read": read}
    for line in sys.stdin:
        try:
            name, args = json.loads(line)
            answer = [True, calls[name](*args)]
        except Exception as exc:  # noqa: BLE001 - reported to the server, which goes on
            answer = [False, f"{type(exc).__name__}: {exc}"]
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


_worker: Worker | None = None
_worker_lock = threading.Lock()


_process: JediProcess | None = None


def jedi_thread() -> Worker:
    """The process's one thread that talks to Jedi, which is not thread-safe: every
    `Analysis` (a server has one; tests and benchmarks may make several) queues there."""
    global _worker
    with _worker_lock:
        if _worker is None:
            _worker = Worker("bigcode-analysis")
        return _worker


def jedi_process() -> JediProcess:
    """The one Jedi process, started on first use (by the Jedi thread only)."""
    global _process
    with _worker_lock:
        if _process is None:
            _process = JediProcess()
        return _process


class Analysis:
    """Jedi's attribute names, on the process's Jedi thread, cached per place."""

    def __init__(self) -> None:
        self._worker = jedi_thread()
        self._jedi = jedi_process()
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple, Future] = OrderedDict()
        self.calls = 0  # questions Jedi answered (for status and benchmarks)
        self.timeouts = 0  # questions a request stopped waiting for
        self.reads = 0  # files read ahead (opened or saved)
        self.reads_skipped = 0  # reads dropped for newer ones
        # each file's top-level imports as last read: a question asked about a window of
        # a long file puts them ahead of it, so that `os.` is known far below `import os`
        self.imports: dict[str, str] = {}
        self._read_serial = 0

    def attributes(
        self,
        code: str,
        line: int,
        column: int,
        receiver: str,
        path: str,
        root: Path | None,
        wait_s: float,
    ) -> list[str] | None:
        """The names after `receiver.` at 1-based `line`, 0-based `column` (just after the
        dot) of `code`, the file at `path` in the project at `root`; None when Jedi
        knows none, fails, or does not answer within `wait_s` seconds, and when the
        receiver takes any name (`DYNAMIC`) or has no name but dunders (an object, or
        None: a parameter Jedi inferred from its default)."""
        key = (path, line, receiver)
        with self._lock:
            future = self._cache.get(key)
            if future is None:
                future = self._worker.submit(lambda: self._complete(code, line, column, path, root))
                self._cache[key] = future
                while len(self._cache) > MAX_CACHED:
                    self._cache.popitem(last=False)
            else:
                self._cache.move_to_end(key)
        try:
            return future.result(timeout=max(0.0, wait_s))
        except FutureTimeout:
            self.timeouts += 1
            return None
        except Exception:  # Jedi failed on this code: no constraint, never no suggestion
            log.debug("static analysis failed at %s:%d", path, line, exc_info=True)
            return None

    def forget(self, path: str) -> None:
        """A file was saved or closed: its places may name other attributes now."""
        with self._lock:
            for key in [k for k in self._cache if k[0] == path]:
                del self._cache[key]
            self.imports.pop(path, None)

    def header(self, path: str) -> str:
        """What to put ahead of a window of the file: its imports as last read."""
        return self.imports.get(path, "")

    def warm(self, code: str, path: str, root: Path | None) -> Future:
        """Have Jedi read the file and what it imports now (on open or save), so that the
        first question in it does not pay for that. Only the newest MAX_READS_AHEAD reads
        wait their turn: a client that opens a whole folder must not keep the analyser
        busy for minutes ahead of the questions of the file being edited."""
        with self._lock:
            self._read_serial += 1
            serial = self._read_serial

        def read() -> None:
            if self._read_serial - serial >= MAX_READS_AHEAD:
                self.reads_skipped += 1
                return
            self.imports[path] = import_lines(code)
            self._jedi.call("read", code, path, str(root) if root else None)
            self.reads += 1

        return self._worker.submit(read)

    def status(self) -> dict:
        return {
            "filesRead": self.reads,
            "readsSkipped": self.reads_skipped,
            "answered": self.calls,
            "late": self.timeouts,
        }

    def stop(self) -> None:
        """Nothing to stop: the Jedi thread is the process's (a daemon) and may serve
        another `Analysis`; what this one queued still runs, and is then forgotten."""

    def _complete(
        self, code: str, line: int, column: int, path: str, root: Path | None
    ) -> list[str] | None:
        names = self._jedi.call("complete", code, line, column, path, str(root) if root else None)
        self.calls += 1
        if DYNAMIC in names:  # any name goes (argparse's Namespace, a Mock): none to insist on
            return None
        if all(n.startswith("__") for n in names):
            return None  # only object's own: Jedi took the receiver for None, or knows nothing
        return names if len(names) <= MAX_NAMES else None


if __name__ == "__main__":
    serve_jedi(sys.argv[1])
