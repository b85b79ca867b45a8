"""Open documents and exact LSP text synchronisation.

We keep our own store rather than pygls' workspace: LSP lines end only at "\\n", "\\r\\n"
or "\\r" (Python's `splitlines` also breaks at \\x0c, \\x1c, \\u2028, ...), an edit with
an impossible range must be refused without touching the text, and positions are
counted in the negotiated encoding (UTF-16 code units by default, UTF-8 bytes, or
UTF-32 code points).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

LINE_BREAK = re.compile(r"\r\n|\r|\n")


class PositionError(ValueError):
    """A position or range that does not exist in the document."""


def _units(ch: str, encoding: str) -> int:
    cp = ord(ch)
    if encoding == "utf-16":
        return 2 if cp > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return 1


@dataclass
class Document:
    uri: str
    text: str
    version: int = 0
    language_id: str = ""
    _starts: list[int] | None = field(default=None, repr=False)

    def snapshot(self) -> Document:
        """A copy frozen at this version: a handler that awaits works on it, whatever
        edits or a close arrive meanwhile (the text is shared, not copied)."""
        return Document(self.uri, self.text, self.version, self.language_id, self._starts)

    @property
    def line_starts(self) -> list[int]:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in LINE_BREAK.finditer(self.text)]
        return self._starts

    def _line_end(self, line: int) -> int:
        """Offset of the end of `line`'s content (before its line break)."""
        starts = self.line_starts
        if line + 1 == len(starts):
            return len(self.text)
        end = starts[line + 1]  # just after a line break
        return end - 2 if self.text[end - 2 : end] == "\r\n" else end - 1

    def offset_at(self, line: int, character: int, encoding: str = "utf-16") -> int:
        """Python string offset of an LSP position. A character past the end of its line
        means the line's end (as the LSP spec says); a line past the end is an error,
        except (last line + 1, 0), which some clients use for the end of the text."""
        if line < 0 or character < 0:
            raise PositionError(f"negative position {line}:{character}")
        starts = self.line_starts
        if line >= len(starts):
            if line == len(starts) and character == 0:
                return len(self.text)
            raise PositionError(
                f"line {line} is past the end of the document ({len(starts)} lines)"
            )
        start, end = starts[line], self._line_end(line)
        if encoding == "utf-32":
            return min(start + character, end)
        units = 0
        for i in range(start, end):
            if units >= character:
                return i
            units += _units(self.text[i], encoding)
            if units > character:  # inside a surrogate pair or a UTF-8 sequence
                return i
        return end

    def position_at(self, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
        """LSP (line, character) of a Python string offset."""
        if not 0 <= offset <= len(self.text):
            raise PositionError(f"offset {offset} outside the document")
        starts = self.line_starts
        lo, hi = 0, len(starts) - 1
        while lo < hi:  # last line start <= offset
            mid = (lo + hi + 1) // 2
            if starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        start = starts[lo]
        if encoding == "utf-32":
            return lo, offset - start
        return lo, sum(_units(c, encoding) for c in self.text[start:offset])

    def apply_changes(
        self, changes: Iterable[tuple[tuple[int, int, int, int] | None, str]], encoding: str
    ) -> None:
        """Apply (range or None for the whole text, new text) edits in order, all or none.

        A range is (start line, start char, end line, end char)."""
        text = self.text
        starts = self._starts
        try:
            for rng, new in changes:
                if rng is None:
                    self.text, self._starts = new, None
                    continue
                a = self.offset_at(rng[0], rng[1], encoding)
                b = self.offset_at(rng[2], rng[3], encoding)
                if a > b:
                    raise PositionError(
                        f"range end {rng[2]}:{rng[3]} is before its start {rng[0]}:{rng[1]}"
                    )
                self.text, self._starts = self.text[:a] + new + self.text[b:], None
        except PositionError:
            self.text, self._starts = text, starts
            raise


class DocumentStore:
    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}

    def open(self, uri: str, text: str, version: int, language_id: str = "") -> Document:
        doc = Document(uri, text, version, language_id)
        self._docs[uri] = doc
        return doc

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def close(self, uri: str) -> None:
        self._docs.pop(uri, None)

    def uris(self) -> list[str]:
        return list(self._docs)

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs
