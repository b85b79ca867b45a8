"""Repository context: which pieces of other files help at the cursor.

Two sources, both plain text in, plain text out:

* similar windows: every file is cut into overlapping windows of lines; the query is the
  lines just above the cursor's line; windows are scored by Jaccard similarity of their
  identifier sets (Copilot's neighbouring-tab rule) or by BM25 (`bench/repo_quality.py`
  measures both);
* definitions: names used near the cursor that another file defines (`def name`,
  `class name`, `NAME =` at the top level) bring their definition's first lines.

The query ignores the cursor's own line, so typing inside a line never changes the
choice, and `keep_or_replace` only swaps the chosen set when a new one scores clearly
better: the snippets sit at the start of the prompt, and a stable start is what keeps
the KV cache reusable while the user types.
"""

from __future__ import annotations

from collections.abc import Sequence

from .corpus import Corpus
from .windows import Window, identifiers, overlaps

QUERY_LINES = 20


def query_of(prefix: str, lines: int = QUERY_LINES) -> str:
    """The complete lines above the cursor's line (the cursor's own line is left out)."""
    cut = prefix.rfind("\n")
    return "\n".join(prefix[: max(cut, 0)].split("\n")[-lines:]) if cut >= 0 else ""


def jaccard(query: frozenset[str], window: Window) -> float:
    if not query or not window.idents:
        return 0.0
    common = len(query & window.idents)
    return common / (len(query) + len(window.idents) - common)


def used_definitions(
    prefix: str, suffix: str, corpus: Corpus, exclude: str, lines: int = 12
) -> list[Window]:
    """Definitions in other files of names used in the lines around the cursor, nearest
    use first, that the cursor's own file does not define."""
    near = "\n".join(prefix.split("\n")[-lines:]) + suffix[: suffix.find("\n") + 1]
    out = []
    for name in dict.fromkeys(reversed(identifiers(near))):
        found = corpus.definition(name, exclude)
        if found is not None:
            out.append(found)
    return out


def choose_snippets(
    corpus: Corpus, prefix: str, suffix: str, exclude: str, definitions: int = 3, similar: int = 2
) -> list[Window]:
    """What goes ahead of a prompt, most relevant first: definitions in other files of names
    used at the cursor, then the windows most similar to the lines above it. The server
    and the training data (`training/context.py`) both choose with this."""
    chosen = used_definitions(prefix, suffix, corpus, exclude)[:definitions]
    for _, w in corpus.similar(query_of(prefix), similar + len(chosen), exclude):
        if len(chosen) < definitions + similar and not overlaps(w, chosen):
            chosen.append(w)
    return chosen


def keep_or_replace(
    previous: Sequence[Window], candidate: Sequence[Window], query: str, margin: float = 1.3
) -> Sequence[Window]:
    """Hysteresis: keep the previous snippet set unless the new one scores `margin` times
    better against the current query (or the previous set is gone or empty)."""
    if not previous:
        return candidate
    q = frozenset(identifiers(query))

    def quality(ws: Sequence[Window]) -> float:
        return sum(jaccard(q, w) for w in ws)

    return candidate if quality(candidate) > margin * quality(previous) else previous
