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
from fim.retrieval import choose_snippets, keep_or_replace, query_of
from fim.windows import Window

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
        if not corpus.files:
            return []
        path = uri_to_path(uri)
        exclude = self.index.label_of(path) if path else ""
        chosen = choose_snippets(corpus, prefix, suffix, exclude, DEFINITIONS, SIMILAR)
        with self._lock:
            previous = self._chosen.get(uri, ())
            kept = tuple(keep_or_replace(previous, chosen, query_of(prefix)))
            self._chosen[uri] = kept
        # Least relevant first: the most useful text sits nearest the file's own code.
        return [Snippet(w.path, w.text) for w in reversed(kept)]

    def forget(self, uri: str) -> None:
        with self._lock:
            self._chosen.pop(uri, None)
