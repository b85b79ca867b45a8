"""A document's lines, packed into chunks of about `CHUNK_CHARS` characters.

One string per line costs ~60 bytes a line whatever its length (100 MB of 2-byte lines
took 3.7 GB); a chunk costs that per 4 KB, so the text's own size dominates. Chunks end
at line breaks (all but the last); the lines of one chunk are split out when asked for,
the last chunk asked for kept split. Cutting a text into chunks runs at C speed (`find`,
`count`), and an edit re-cuts only the chunks it touches.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterator
from itertools import accumulate

LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
CHUNK_CHARS = 4096


def split_lines(text: str) -> list[str]:
    """Lines with their breaks; the last element is the (possibly empty) last line."""
    lines = LINE.findall(text)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


def breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


def _cut(text: str) -> list[str]:
    """`text` in chunks of at least CHUNK_CHARS characters (the last may be shorter), each
    ending just after a line break, except the last."""
    out, start, n = [], 0, len(text)
    while n - start > CHUNK_CHARS:
        at = start + CHUNK_CHARS
        nl = text.find("\n", at - 1)
        cr = text.find("\r", at - 1, nl if nl >= 0 else n)
        if cr >= 0 and not (cr + 1 < n and text[cr + 1] == "\n"):
            end = cr + 1  # a lone "\r" ends the line
        elif nl >= 0:
            end = nl + 1
        else:
            break  # no break left: the rest is one line
        if end >= n:
            break
        out.append(text[start:end])
        start = end
    out.append(text[start:])
    return out


class Lines:
    def __init__(self, text: str = "") -> None:
        self._chunks = _cut(text)
        self._counts = [breaks(c) for c in self._chunks]  # line breaks per chunk
        self._n = sum(self._counts) + 1  # the last line follows the last break
        self._reset()

    def _reset(self) -> None:
        self._starts: list[int] | None = None  # first line of each chunk
        self._offsets: list[int] | None = None  # first character of each chunk
        self._split: tuple[int, list[str]] | None = None  # (chunk, its lines)

    def copy(self) -> Lines:
        other = Lines.__new__(Lines)
        other._chunks, other._counts = list(self._chunks), list(self._counts)
        other._n = self._n
        other._reset()
        return other

    # --- reading --------------------------------------------------------------------
    def __len__(self) -> int:
        return self._n

    @property
    def chars(self) -> int:
        return self._offset_table()[-1]

    def text(self) -> str:
        return "".join(self._chunks)

    def __getitem__(self, row: int) -> str:
        k = self._chunk_of(row)
        return self._lines_of(k)[row - self._start_table()[k]]

    def slice(self, a: int, b: int) -> list[str]:
        """Lines a to b - 1 (clamped to the document)."""
        a, b = max(0, a), min(b, len(self))
        out: list[str] = []
        while a < b:
            k = self._chunk_of(a)
            first = self._start_table()[k]
            lines = self._lines_of(k)
            out.extend(lines[a - first : b - first])
            a = first + len(lines)
        return out

    def chars_before(self, row: int) -> int:
        k = self._chunk_of(row)
        lines = self._lines_of(k)
        return self._offset_table()[k] + sum(map(len, lines[: row - self._start_table()[k]]))

    def row_at(self, offset: int) -> tuple[int, int]:
        """(row, index within that row's line) of a character offset; the end of the text
        is the end of the last line."""
        offsets = self._offset_table()
        k = min(max(0, bisect_right(offsets, offset) - 1), len(self._chunks) - 1)
        row, at = self._start_table()[k], offsets[k]
        lines = self._lines_of(k)
        for i, line in enumerate(lines[:-1]):
            if offset < at + len(line):
                return row + i, offset - at
            at += len(line)
        return row + len(lines) - 1, offset - at

    def __iter__(self) -> Iterator[str]:
        for k in range(len(self._chunks)):
            yield from self._lines_of(k)

    # --- writing --------------------------------------------------------------------
    def retype(self, row: int, line: str) -> None:
        """Line `row` becomes `line`, which ends with the same break and holds no other
        (typing within a line): in place, every chunk boundary kept."""
        k = self._chunk_of(row)
        i = row - self._start_table()[k]
        lines = list(self._lines_of(k))
        lines[i] = line
        self._chunks[k] = "".join(lines)  # one line alone: no copy at all
        self._offsets = None
        self._split = (k, lines)

    def replace(self, first: int, last: int, pieces: list[str]) -> None:
        """Lines first..last (inclusive) become `pieces`; the chunks they touch are cut
        anew (the caller keeps every line but the last ending with a break)."""
        k0, k1 = self._chunk_of(first), self._chunk_of(last)
        base = self._start_table()[k0]
        lines = [line for k in range(k0, k1 + 1) for line in self._lines_of(k)]
        lines[first - base : last - base + 1] = pieces
        chunks = _cut("".join(lines))
        self._chunks[k0 : k1 + 1] = chunks
        self._counts[k0 : k1 + 1] = [breaks(c) for c in chunks]
        self._n = sum(self._counts) + 1
        self._reset()
        if len(chunks) == 1:  # typing within a chunk: its lines are at hand
            self._split = (k0, lines)

    # --- where lines are ------------------------------------------------------------
    def _start_table(self) -> list[int]:
        if self._starts is None:
            self._starts = [0, *accumulate(self._counts[:-1])]
        return self._starts

    def _offset_table(self) -> list[int]:
        if self._offsets is None:
            self._offsets = [0, *accumulate(map(len, self._chunks))]
        return self._offsets

    def _chunk_of(self, row: int) -> int:
        if not 0 <= row < len(self):
            raise IndexError(row)
        return bisect_right(self._start_table(), row) - 1

    def _lines_of(self, k: int) -> list[str]:
        if self._split is None or self._split[0] != k:
            chunk, last = self._chunks[k], k == len(self._chunks) - 1
            if self._counts[k] == (0 if last else 1):  # one line (a long one, often)
                lines = [chunk]
            else:
                lines = split_lines(chunk) if last else LINE.findall(chunk)
            self._split = (k, lines)
        return self._split[1]
