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

import heapq
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DEFINITION = re.compile(r"^(?:async\s+def|def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*[:=]")
# Words that say nothing about which code is similar.
STOP = frozenset(
    "self cls def class return if else elif for while in not and or is None True False "
    "import from as with try except finally raise pass break continue lambda yield async "
    "await global nonlocal del assert print len str int list dict set tuple range const "
    "let var function this new null undefined true false void public private static".split()
)
WINDOW_LINES = 20
WINDOW_STRIDE = 10
QUERY_LINES = 20
DEFINITION_LINES = 12
COMMON_FLOOR = 200  # postings always walked up to this length


@dataclass(frozen=True)
class Window:
    path: str
    start: int  # first line, zero-based
    text: str
    idents: frozenset[str]


def identifiers(text: str) -> list[str]:
    return [w for w in IDENT.findall(text) if w not in STOP and len(w) > 1]


def windows_of(path: str, text: str) -> list[Window]:
    lines = text.split("\n")
    out = []
    for start in range(0, max(1, len(lines) - WINDOW_LINES + WINDOW_STRIDE), WINDOW_STRIDE):
        body = "\n".join(lines[start : start + WINDOW_LINES])
        if body.strip():
            out.append(Window(path, start, body, frozenset(identifiers(body))))
    return out


def definitions_of(path: str, text: str) -> dict[str, Window]:
    """Top-level definitions (no indentation) by name: their first lines."""
    lines = text.split("\n")
    out = {}
    for i, line in enumerate(lines):
        m = DEFINITION.match(line)
        if not m:
            continue
        name = m.group(1) or m.group(2)
        body = [line]
        for nxt in lines[i + 1 : i + DEFINITION_LINES]:
            if nxt.strip() and not nxt[:1].isspace() and not nxt.startswith((")", "]", "}")):
                break
            body.append(nxt)
        snippet = "\n".join(body).rstrip()
        out.setdefault(name, Window(path, i, snippet, frozenset(identifiers(snippet))))
    return out


def query_of(prefix: str, lines: int = QUERY_LINES) -> str:
    """The complete lines above the cursor's line (the cursor's own line is left out)."""
    cut = prefix.rfind("\n")
    return "\n".join(prefix[: max(cut, 0)].split("\n")[-lines:]) if cut >= 0 else ""


def jaccard(query: frozenset[str], window: Window) -> float:
    if not query or not window.idents:
        return 0.0
    common = len(query & window.idents)
    return common / (len(query) + len(window.idents) - common)


@dataclass(frozen=True)
class Corpus:
    """Windows of many files with an inverted index (name -> windows holding it), so
    that a query scores only the windows sharing a name with it, and definitions by name."""

    windows: tuple[Window, ...] = ()
    postings: dict[str, tuple[int, ...]] = field(default_factory=dict)
    definitions: dict[str, list[Window]] = field(default_factory=dict)
    files: int = 0

    @classmethod
    def build(cls, files: Sequence[tuple[Sequence[Window], dict[str, Window]]]) -> Corpus:
        windows = tuple(w for ws, _ in files for w in ws)
        postings: dict[str, list[int]] = defaultdict(list)
        for i, w in enumerate(windows):
            for name in w.idents:
                postings[name].append(i)
        definitions: dict[str, list[Window]] = defaultdict(list)
        for _, defs in files:
            for name, w in defs.items():
                definitions[name].append(w)
        frozen = {k: tuple(v) for k, v in postings.items()}
        return cls(windows, frozen, dict(definitions), len(files))

    def similar(
        self, query: str, k: int, exclude: str = "", scorer: str = "jaccard"
    ) -> list[tuple[float, Window]]:
        """The `k` best windows of files other than `exclude`, best first, never two
        overlapping windows of one file."""
        q = frozenset(identifiers(query))
        # A name in more than one window in 20 says little about which is similar, and
        # walking its postings would cost a large workspace most of the request.
        common_limit = max(COMMON_FLOOR, len(self.windows) // 20)
        common: dict[int, int] = defaultdict(int)
        for name in q:
            postings = self.postings.get(name, ())
            if len(postings) <= common_limit:
                for i in postings:
                    common[i] += 1
        if scorer == "bm25":
            scores = self._bm25(q, common)
        else:
            scores = {i: c / (len(q) + len(self.windows[i].idents) - c) for i, c in common.items()}
        keep = [i for i in scores if self.windows[i].path != exclude]
        # Neighbouring windows overlap: a few times k candidates leave k distinct ones.
        best = heapq.nlargest(8 * k, keep, key=lambda i: (scores[i], -i))
        ranked = sorted(
            ((scores[i], self.windows[i]) for i in best),
            key=lambda sw: (-sw[0], sw[1].path, sw[1].start),
        )
        out: list[tuple[float, Window]] = []
        for s, w in ranked:
            if overlaps(w, [o for _, o in out]):
                continue
            out.append((s, w))
            if len(out) == k:
                break
        return out

    def _bm25(self, q: frozenset[str], candidates: dict[int, int]) -> dict[int, float]:
        """Okapi BM25 (k1 1.2, b 0.75) over identifier sets (term frequency 1)."""
        n = max(1, len(self.windows))
        avg = sum(len(w.idents) for w in self.windows) / n
        idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5))
            for t in q
            if (p := self.postings.get(t))
        }
        out = {}
        for i in candidates:
            w = self.windows[i]
            norm = 2.2 / (1 + 1.2 * (0.25 + 0.75 * len(w.idents) / avg))
            out[i] = sum(idf[t] for t in q & w.idents) * norm
        return out


def used_definitions(
    prefix: str, suffix: str, definitions: dict[str, list[Window]], exclude: str, lines: int = 12
) -> list[Window]:
    """Definitions in other files of names used in the lines around the cursor, nearest
    use first, that the cursor's own file does not define."""
    near = "\n".join(prefix.split("\n")[-lines:]) + suffix[: suffix.find("\n") + 1]
    seen, out = set(), []
    for name in reversed(identifiers(near)):
        if name in seen:
            continue
        seen.add(name)
        places = definitions.get(name, ())
        if any(w.path == exclude for w in places):
            continue
        out.extend(w for w in places[:1])
    return out


def overlaps(w: Window, others: Sequence[Window]) -> bool:
    return any(o.path == w.path and abs(o.start - w.start) < WINDOW_LINES for o in others)


def choose_snippets(
    corpus: Corpus, prefix: str, suffix: str, exclude: str, definitions: int = 3, similar: int = 2
) -> list[Window]:
    """What goes ahead of a prompt, most relevant first: definitions in other files of names
    used at the cursor, then the windows most similar to the lines above it. The server
    and the training data (`training/context.py`) both choose with this."""
    chosen = used_definitions(prefix, suffix, corpus.definitions, exclude)[:definitions]
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
