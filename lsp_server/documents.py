"""Open documents and exact LSP text synchronisation, in time proportional to the edit.

We keep our own store rather than pygls' workspace: LSP lines end only at "\\n", "\\r\\n"
or "\\r" (Python's `splitlines` also breaks at \\x0c, \\x1c, \\u2028, ...), an edit with
an impossible range must be refused without touching the text, and positions are
counted in the negotiated encoding (UTF-16 code units by default, UTF-8 bytes, or
UTF-32 code points).

A document is a list of lines, each with its line break. An edit rewrites only the
lines it touches, so a keystroke in a 200,000-line file, or each of 400 edits in one
notification, costs the length of the touched lines, not of the file. Columns are
converted with codecs over the line's text (C speed), never character by character in
Python, so a 10 MB line costs milliseconds.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable

from .lines import Lines, split_lines

ASTRAL = re.compile("[\U00010000-\U0010ffff]")


class PositionError(ValueError):
    """A position or range that does not exist in the document."""


def _content(line: str) -> str:
    """The line without its break."""
    return line.rstrip("\r\n") if line.endswith(("\n", "\r")) else line


def column_to_index(content: str, character: int, encoding: str) -> int:
    """Index in `content` of an LSP column; past the end means the end, and a column
    inside a surrogate pair or a UTF-8 sequence means just before that character."""
    if encoding == "utf-32":
        return min(character, len(content))
    head = content[:character]  # every character is at least one unit
    if encoding == "utf-16":
        data = head.encode("utf-16-le", "surrogatepass")[: 2 * character]
        return len(codecs.utf_16_le_decode(data, "surrogatepass", False)[0])
    data = head.encode("utf-8", "surrogatepass")[:character]
    return len(codecs.utf_8_decode(data, "surrogatepass", False)[0])


def index_to_column(content: str, index: int, encoding: str) -> int:
    head = content[:index]
    if encoding == "utf-32":
        return len(head)
    if encoding == "utf-16":
        return len(head) + len(ASTRAL.findall(head))
    return len(head.encode("utf-8", "surrogatepass"))


class Document:
    def __init__(self, uri: str, text: str = "", version: int = 0, language_id: str = ""):
        self.uri, self.version, self.language_id = uri, version, language_id
        self.text = text

    @property
    def text(self) -> str:
        """The whole text (joined on demand after edits, then kept until the next)."""
        if self._text is None:
            self._text = self.lines.text()
        return self._text

    @text.setter
    def text(self, value: str) -> None:
        self._text: str | None = value
        self.lines = Lines(value)

    def __len__(self) -> int:
        return self.lines.chars

    # --- positions -------------------------------------------------------------------
    def locate(self, line: int, character: int, encoding: str) -> tuple[int, int]:
        """(line, index within that line) of an LSP position. A character past the end
        of its line means the line's end (as the LSP spec says); a line past the end is
        an error, except (last line + 1, 0), which some clients use for the end."""
        if line < 0 or character < 0:
            raise PositionError(f"negative position {line}:{character}")
        if line >= len(self.lines):
            if line == len(self.lines) and character == 0:
                last = len(self.lines) - 1
                return last, len(self.lines[last])
            raise PositionError(
                f"line {line} is past the end of the document ({len(self.lines)} lines)"
            )
        return line, column_to_index(_content(self.lines[line]), character, encoding)

    def column(self, line: int, character: int, encoding: str = "utf-16") -> int:
        """The LSP column a position really denotes (clamped to its line's end)."""
        row, index = self.locate(line, character, encoding)
        return index_to_column(_content(self.lines[row]), index, encoding)

    def offset_at(self, line: int, character: int, encoding: str = "utf-16") -> int:
        """Python string offset of an LSP position (O(lines before it): for requests,
        not for edits)."""
        row, index = self.locate(line, character, encoding)
        return self.lines.chars_before(row) + index

    def position_at(self, offset: int, encoding: str = "utf-16") -> tuple[int, int]:
        """LSP (line, character) of a Python string offset."""
        if not 0 <= offset <= len(self):
            raise PositionError(f"offset {offset} outside the document")
        row, index = self.lines.row_at(offset)
        return row, index_to_column(_content(self.lines[row]), index, encoding)

    def around(
        self, line: int, character: int, encoding: str, max_chars: int, block_lines: int
    ) -> tuple[str, str]:
        """The text before and after a position, each at most about `max_chars` long: what
        a prompt can use, in time and memory proportional to that, not to the document.
        The text before starts on a line whose number is a multiple of `block_lines`, so
        prompt windows that move in blocks of lines stay aligned to the whole file's."""
        row, index = self.locate(line, character, encoding)
        lines = self.lines
        start, size = row, index
        while start > 0 and size + len(lines[start - 1]) <= max_chars:
            start -= 1
            size += len(lines[start])
        aligned = start + (-start) % block_lines
        start = aligned if aligned <= row else start
        before = "".join(lines.slice(start, row)) + lines[row][max(0, index - max_chars) : index]
        if len(before) > max_chars:  # one line longer than the window: its tail
            before = before[-max_chars:]
        after, end, size = [lines[row][index : index + max_chars]], row + 1, len(lines[row]) - index
        while end < len(lines) and size < max_chars:
            after.append(lines[end])
            size += len(lines[end])
            end += 1
        return before, "".join(after)[:max_chars]

    def _replaced(
        self, a_row: int, a: int, b_row: int, b: int, limit: int
    ) -> tuple[int, str] | None:
        """(offset, text) of the located range an edit replaces, or None past `limit`
        characters (it reads the lines the range covers, not the document)."""
        if b_row - a_row > limit:
            return None
        if a_row == b_row:
            text = self.lines[a_row][a:b]
        else:
            lines = self.lines.slice(a_row, b_row + 1)
            text = lines[0][a:] + "".join(lines[1:-1]) + lines[-1][:b]
        if len(text) > limit:
            return None
        return self.lines.chars_before(a_row) + a, text

    # --- edits -----------------------------------------------------------------------
    def apply_changes(
        self,
        changes: Iterable[tuple[tuple[int, int, int, int] | None, str]],
        encoding: str,
        spans: list | None = None,
        limit: int = 0,
    ) -> None:
        """Apply (range or None for the whole text, new text) edits in order, all or none.
        With `spans`, each change's (offset, replaced text) goes there as it is applied
        (None for one that replaced the whole text or more than `limit` characters).

        A range is (start line, start char, end line, end char)."""
        lines, text = self.lines.copy(), self._text
        try:
            for rng, new in changes:
                if rng is None:
                    self.text = new
                    if spans is not None:
                        spans.append(None)
                else:
                    self._replace(rng, new, encoding, spans, limit)
        except PositionError:
            self.lines, self._text = lines, text
            raise

    def _replace(
        self,
        rng: tuple[int, int, int, int],
        new: str,
        encoding: str,
        spans: list | None = None,
        limit: int = 0,
    ) -> None:
        a_row, a = self.locate(rng[0], rng[1], encoding)
        b_row, b = self.locate(rng[2], rng[3], encoding)
        if (a_row, a) > (b_row, b):
            raise PositionError(
                f"range end {rng[2]}:{rng[3]} is before its start {rng[0]}:{rng[1]}"
            )
        if spans is not None:
            spans.append(self._replaced(a_row, a, b_row, b, limit))
        lines = self.lines
        merged = lines[a_row][:a] + new + lines[b_row][b:]
        joins_cr = a_row > 0 and merged.startswith("\n") and lines[a_row - 1].endswith("\r")
        if a_row == b_row and "\n" not in new and "\r" not in new and not joins_cr:
            lines.retype(a_row, merged)  # typing within a line: no line breaks change
            self._text = None
            return
        first, last = a_row, b_row
        # A "\r" and a "\n" that an edit brings together are one line break: re-split
        # the neighbouring line with the edited ones.
        if first > 0 and lines[first - 1].endswith("\r") and merged.startswith("\n"):
            first -= 1
            merged = lines[first] + merged
        if merged.endswith("\r") and last + 1 < len(lines) and lines[last + 1].startswith("\n"):
            last += 1
            merged += lines[last]
        pieces = split_lines(merged)
        if last + 1 < len(lines) and pieces[-1] == "":
            pieces.pop()  # the merged text ended with a break: the next line follows it
        lines.replace(first, last, pieces)
        self._text = None


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
