"""The workspace index: the workspace folders' source files, cut for retrieval.

Only the folders the client declared (`initialize`, `didChangeWorkspaceFolders`) and the
open documents are read, through the file filter of `fim/repo_files.py`. All reading and
cutting runs on the index's own thread, never on the event loop and never on the model
thread; a completion only takes the latest finished snapshot (an immutable view), so a
folder of 50,000 files being indexed never delays one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from urllib.parse import unquote, urlparse

from fim.corpus import Corpus, SourceText
from fim.repo_files import FileLimits, admits, iter_repo_files, read_source

from .worker import Worker

log = logging.getLogger("bigcode_ls")


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def canonical(path: Path) -> Path:
    """Absolute, with `.` and `..` folded (links are kept: the client names files
    through them)."""
    return Path(os.path.normpath(path.expanduser().absolute()))


def distinct_folders(folders: list[Path]) -> list[Path]:
    """Existing folders, each once however it is spelt, none inside another: the walk of
    the outer one covers it (30 spellings of one folder were indexed 30 times)."""
    out: list[tuple[Path, Path]] = []  # (as given, canonical; resolved)
    for f in folders:
        f = canonical(f)
        if not f.is_dir():
            continue
        real = f.resolve()
        if any(real == r or real.is_relative_to(r) for _, r in out):
            continue
        out = [(g, r) for g, r in out if not r.is_relative_to(real)] + [(f, real)]
    return [g for g, _ in out]


MAX_DEFER_S = 2.0  # under continuous typing the index still makes progress:
STARVED_SLICE_S = 0.25  # after waiting this long it works a slice


class WorkspaceIndex:
    def __init__(self, limits: FileLimits | None = None) -> None:
        self.limits = limits or FileLimits()  # for all folders together
        self.folders: list[Path] = []
        self.build_s: float | None = None  # the last full build's duration
        self.indexing = False  # a folder build is queued or running
        self._snapshot = Corpus()
        self._pending: dict[Path, str | None] = {}  # changes not applied yet, newest wins
        self._flush: Future | None = None  # the queued job that applies them
        self._lock = threading.Lock()
        self._epoch = 0  # bumped when the folders change: an older build stops
        self._worker = Worker("bigcode-index")
        # Whether the model is serving: the index then waits (its pure-Python work takes
        # the interpreter's lock from the model every few ms: a completion during a
        # 48 MB build took 3.6 s instead of 0.3 s).
        self.defer: Callable[[], bool] = lambda: False
        self._working_until = 0.0

    # --- called from the event loop (cheap: they only queue work) -------------------
    def set_folders(self, folders: list[Path]) -> Future:
        resolved = distinct_folders(folders)
        with self._lock:
            self.folders = resolved
            self._epoch += 1
            epoch = self._epoch
            self.indexing = True
            self._pending.clear()  # the build reads every file anew
            if not resolved:  # no folder: nothing may serve from now on, not after a build
                self._snapshot = Corpus()
        return self._worker.submit(lambda: self._build(epoch))

    def change_folders(self, added: list[Path], removed: list[Path]) -> Future:
        gone = {canonical(p) for p in removed}
        return self.set_folders([f for f in self.folders if f not in gone] + added)

    def update(self, path: Path, text: str | None = None) -> Future:
        """A file changed (saved, created, deleted, or an open document's live `text`).
        Changes queued together are applied together, the newest per file."""
        with self._lock:
            self._pending[canonical(path)] = text
            if self._flush is None:
                self._flush = self._worker.submit(self._apply_pending)
            return self._flush

    def snapshot(self) -> Corpus:
        return self._snapshot

    def status(self) -> dict:
        corpus = self._snapshot
        return {
            "folders": [str(f) for f in self.folders],
            "files": corpus.files,
            "windows": corpus.window_count(),
            "buildS": None if self.build_s is None else round(self.build_s, 3),
            "indexing": self.indexing,
        }

    def label_of(self, path: Path) -> str:
        """The label a file has (or would have) in the index: how snippets name it."""
        path = canonical(path)
        folder = self.folder_of(path)
        if folder is None:
            return ""
        label = f"{folder.name}/{path.relative_to(folder).as_posix()}"
        # a name that is not UTF-8 keeps surrogate escapes, which no tokenizer takes
        return label.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    # --- the index thread ----------------------------------------------------------
    def folder_of(self, path: Path) -> Path | None:
        return next((f for f in self.folders if path.is_relative_to(f)), None)

    def _pause(self) -> None:
        """Wait while the model serves, at most MAX_DEFER_S; starved that long, work a
        slice regardless before waiting again."""
        now = time.monotonic()
        if now < self._working_until or not self.defer():
            return
        deadline = now + MAX_DEFER_S
        while self.defer():
            if time.monotonic() > deadline:
                self._working_until = time.monotonic() + STARVED_SLICE_S
                return
            time.sleep(0.005)

    def _source(self, path: Path, text: str) -> SourceText:
        return (str(path), self.label_of(path), text)

    def _build(self, epoch: int) -> None:
        t0 = time.monotonic()
        files: list[SourceText] = []

        def stale() -> bool:
            return self._epoch != epoch

        count, total = 0, 0  # the limits hold for all folders together
        for folder in list(self.folders):
            left = FileLimits(
                self.limits.max_file_bytes,
                self.limits.max_files - count,
                self.limits.max_total_bytes - total,
            )
            for f in iter_repo_files(folder, left, should_stop=stale):
                self._pause()
                count, total = count + 1, total + f.size
                text = read_source(f.path, self.limits.max_file_bytes)
                if text is not None:
                    files.append(self._source(f.path, text))
        corpus = Corpus.of_files(files, self._pause)
        with self._lock:  # published only for the folders it was built for
            if stale():
                return
            self._snapshot = corpus
            self.build_s = time.monotonic() - t0
            self.indexing = False
        log.info("indexed %d files in %.1f s", len(files), self.build_s)

    def _apply_pending(self) -> None:
        with self._lock:
            pending, self._pending, self._flush = self._pending, {}, None
            epoch = self._epoch
        corpus = self._snapshot
        files, total = corpus.files, corpus.text_bytes
        changes: dict[str, SourceText | None] = {}
        for path, text in pending.items():
            folder = self.folder_of(path)
            if folder is None:
                continue  # outside the declared folders: never read
            if not admits(folder, path, self.limits):  # ignored, hidden, linked, gone, too big
                text = None
            elif text is None:
                text = read_source(path, self.limits.max_file_bytes)
            key = str(path)
            if text is not None and key not in corpus:  # a new file: within the limits?
                if (
                    files + 1 > self.limits.max_files
                    or total + len(text) > self.limits.max_total_bytes
                ):
                    continue
                files, total = files + 1, total + len(text)
            changes[key] = None if text is None else self._source(path, text)
        if not changes:
            return
        corpus = corpus.changed(changes, self._pause)
        with self._lock:  # the folders may have changed meanwhile (a session ended)
            if self._epoch == epoch:
                self._snapshot = corpus
