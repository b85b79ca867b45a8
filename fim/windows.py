"""How a file is cut for retrieval: windows of lines and top-level definitions.

A window is `WINDOW_LINES` lines starting every `WINDOW_STRIDE` lines, so each window is
two consecutive blocks of `WINDOW_STRIDE` lines; its identifiers (stop words and
one-letter names left out) are what similarity is computed on. A definition is a
top-level `def`, `class` or assignment with the lines that belong to it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

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
DEFINITION_LINES = 12


@dataclass(frozen=True)
class Window:
    path: str  # the file's label
    start: int  # first line, zero-based
    text: str
    idents: frozenset[str]


def identifiers(text: str) -> list[str]:
    return [w for w in IDENT.findall(text) if w not in STOP and len(w) > 1]


def window_starts(n_lines: int) -> range:
    """The first line of each window of a file of `n_lines` lines (one window at least)."""
    return range(0, max(1, n_lines - WINDOW_LINES + WINDOW_STRIDE), WINDOW_STRIDE)


def definition_spans(lines: list[str]) -> Iterator[tuple[str, int, int]]:
    """(name, first line, line count) of each top-level definition, first one per name."""
    seen = set()
    for i, line in enumerate(lines):
        m = DEFINITION.match(line)
        if not m or (name := m.group(1) or m.group(2)) in seen:
            continue
        seen.add(name)
        n = 1
        for nxt in lines[i + 1 : i + DEFINITION_LINES]:
            if nxt.strip() and not nxt[:1].isspace() and not nxt.startswith((")", "]", "}")):
                break
            n += 1
        yield name, i, n


def window(path: str, start: int, text: str) -> Window:
    return Window(path, start, text, frozenset(identifiers(text)))


def windows_of(path: str, text: str) -> list[Window]:
    lines = text.split("\n")
    bodies = ((s, "\n".join(lines[s : s + WINDOW_LINES])) for s in window_starts(len(lines)))
    return [window(path, s, body) for s, body in bodies if body.strip()]


def definitions_of(path: str, text: str) -> dict[str, Window]:
    """Top-level definitions (no indentation) by name: their first lines."""
    lines = text.split("\n")
    return {
        name: window(path, i, "\n".join(lines[i : i + n]).rstrip())
        for name, i, n in definition_spans(lines)
    }


def overlaps(w: Window, others: Sequence[Window]) -> bool:
    return any(o.path == w.path and abs(o.start - w.start) < WINDOW_LINES for o in others)
