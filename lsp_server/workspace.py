"""The workspace index: the workspace folders' source files, cut for retrieval.

Only the folders the client declared (`initialize`, `didChangeWorkspaceFolders`) and the
open documents are read, through the file filter of `fim/repo_files.py`. All reading and
cutting runs on the index's own thread, never on the event loop and never on the model
thread; a completion only takes the latest finished snapshot (an immutable view), so a
folder of 50,000 files being indexed never delays one.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from fim.repo_files import FileLimits, admits, iter_repo_files, read_source
from fim.retrieval import Corpus, Window, definitions_of, windows_of

from .worker import Worker

log = logging.getLogger("bigcode_ls")


def uri_to_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


@dataclass(frozen=True)
class FileEntry:
    label: str  # the path shown in the prompt: relative to its folder, with the folder's name
    windows: tuple[Window, ...]
    definitions: dict[str, Window]


class WorkspaceIndex:
    def __init__(self, limits: FileLimits | None = None) -> None:
        self.limits = limits or FileLimits()
        self.folders: list[Path] = []
        self.build_s: float | None = None  # the last full build's duration
        self.indexing = False  # a folder build is queued or running
        self._entries: dict[Path, FileEntry] = {}
        self._snapshot = Corpus()
        self._lock = threading.Lock()
        self._epoch = 0  # bumped when the folders change: an older build stops
        self._worker = Worker("bigcode-index")

    # --- called from the event loop (cheap: they only queue work) -------------------
    def set_folders(self, folders: list[Path]) -> Future:
        resolved = []
        for f in folders:
            f = f.expanduser().absolute()
            if f.is_dir() and f not in resolved:
                resolved.append(f)
        with self._lock:
            self.folders = resolved
            self._epoch += 1
            epoch = self._epoch
            self.indexing = True
            if not resolved:  # no folder: nothing may serve from now on, not after a build
                self._entries, self._snapshot = {}, Corpus()
        return self._worker.submit(lambda: self._build(epoch))

    def change_folders(self, added: list[Path], removed: list[Path]) -> Future:
        gone = {p.expanduser().absolute() for p in removed}
        return self.set_folders([f for f in self.folders if f not in gone] + added)

    def update(self, path: Path, text: str | None = None) -> Future:
        """A file changed (saved, created, deleted, or an open document's live `text`)."""
        return self._worker.submit(lambda: self._update(path, text))

    def snapshot(self) -> Corpus:
        return self._snapshot

    def status(self) -> dict:
        corpus = self._snapshot
        return {
            "folders": [str(f) for f in self.folders],
            "files": corpus.files,
            "windows": len(corpus.windows),
            "buildS": None if self.build_s is None else round(self.build_s, 3),
            "indexing": self.indexing,
        }

    def label_of(self, path: Path) -> str:
        """The label a file has (or would have) in the index: how snippets name it."""
        folder = self.folder_of(path.absolute())
        if folder is None:
            return ""
        label = f"{folder.name}/{path.absolute().relative_to(folder).as_posix()}"
        # a name that is not UTF-8 keeps surrogate escapes, which no tokenizer takes
        return label.encode("utf-8", "surrogateescape").decode("utf-8", "replace")

    # --- the index thread ----------------------------------------------------------
    def folder_of(self, path: Path) -> Path | None:
        return next((f for f in self.folders if path.is_relative_to(f)), None)

    def _entry(self, folder: Path, path: Path, text: str) -> FileEntry:
        label = self.label_of(path)
        return FileEntry(label, tuple(windows_of(label, text)), definitions_of(label, text))

    def _build(self, epoch: int) -> None:
        t0 = time.monotonic()
        entries: dict[Path, FileEntry] = {}

        def stale() -> bool:
            return self._epoch != epoch

        for folder in list(self.folders):
            for f in iter_repo_files(folder, self.limits, should_stop=stale):
                text = read_source(f.path, self.limits.max_file_bytes)
                if text is not None:
                    entries[f.path] = self._entry(folder, f.path, text)
        corpus = Corpus.build([(e.windows, e.definitions) for e in entries.values()])
        with self._lock:  # published only for the folders it was built for
            if stale():
                return
            self._entries, self._snapshot = entries, corpus
            self.build_s = time.monotonic() - t0
            self.indexing = False
        log.info("indexed %d files in %.1f s", len(entries), self.build_s)

    def _update(self, path: Path, text: str | None) -> None:
        path = path.absolute()
        folder = self.folder_of(path)
        if folder is None:
            return  # outside the declared folders: never read
        if not admits(folder, path, self.limits):  # ignored, hidden, linked, gone, too big
            text = None
        elif text is None:
            text = read_source(path, self.limits.max_file_bytes)
        entries = dict(self._entries)
        if text is None:
            entries.pop(path, None)
        else:
            entries[path] = self._entry(folder, path, text)
        corpus = Corpus.build([(e.windows, e.definitions) for e in entries.values()])
        with self._lock:  # the folders may have changed meanwhile (a session ended)
            if folder in self.folders:
                self._entries, self._snapshot = entries, corpus
