"""Which snippets of the workspace go ahead of a document's prompt, per document.

Runs on the model thread as part of planning a completion (it reads only the index's
immutable snapshot). Definitions of names used at the cursor come first, then the
windows most similar to the code above the cursor's line; the previous choice for the
document is kept unless the new one is clearly better (`fim.retrieval.keep_or_replace`),
so the prompt's start, and with it the KV cache, survives typing.
"""

from __future__ import annotations

import threading

from fim.prompt import Snippet
from fim.retrieval import WINDOW_LINES, Window, keep_or_replace, query_of, used_definitions

from .workspace import WorkspaceIndex, uri_to_path

SIMILAR = 2  # most similar windows per prompt
DEFINITIONS = 3  # definitions of names used at the cursor


class RepoContext:
    def __init__(self, index: WorkspaceIndex) -> None:
        self.index = index
        self._chosen: dict[str, tuple[Window, ...]] = {}
        self._lock = threading.Lock()

    def snippets(self, uri: str, prefix: str, suffix: str) -> list[Snippet]:
        corpus = self.index.snapshot()
        if not corpus.windows:
            return []
        path = uri_to_path(uri)
        exclude = self.index.label_of(path) if path else ""
        query = query_of(prefix)
        chosen: list[Window] = []
        for w in used_definitions(prefix, suffix, corpus.definitions, exclude)[:DEFINITIONS]:
            chosen.append(w)
        for _, w in corpus.similar(query, SIMILAR + len(chosen), exclude):
            if len(chosen) < DEFINITIONS + SIMILAR and not _overlaps(w, chosen):
                chosen.append(w)
        with self._lock:
            kept = tuple(keep_or_replace(self._chosen.get(uri, ()), chosen, query))
            self._chosen[uri] = kept
        # Least relevant first: the most useful text sits nearest the file's own code.
        return [Snippet(w.path, w.text) for w in reversed(kept)]

    def forget(self, uri: str) -> None:
        with self._lock:
            self._chosen.pop(uri, None)


def _overlaps(w: Window, chosen: list[Window]) -> bool:
    return any(c.path == w.path and abs(c.start - w.start) < WINDOW_LINES for c in chosen)
