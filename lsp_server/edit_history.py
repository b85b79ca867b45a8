"""Each open document's recent edits, coalesced into the user's logical edits.

`didChange` sends keystrokes; a user makes edits: a word typed, a selection deleted and
retyped, a name backspaced away and another typed in its place. An edit that continues
the last one (typing on where it ended, deleting back into it, within `JOIN_S`) joins
it. Memory is bounded (`KEEP` edits of at most `MAX_CHARS` each per document) and a
document's history goes when it closes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fim.next_edits import LastEdit

KEEP = 16
MAX_CHARS = 2000
JOIN_S = 3.0


@dataclass
class Edit:
    start: int  # offset in the text right after the edit
    old: str
    new: str
    at: float  # when it was last extended

    def as_last(self) -> LastEdit:
        return LastEdit(self.start, self.old, self.new)


class EditHistory:
    def __init__(self) -> None:
        self._edits: dict[str, list[Edit]] = {}

    def record(self, uri: str, start: int, old: str, new: str, now: float | None = None) -> None:
        """`old` (the text at `start`) became `new`."""
        now = time.monotonic() if now is None else now
        edits = self._edits.setdefault(uri, [])
        last = edits[-1] if edits else None
        if last is not None and now - last.at <= JOIN_S and self._join(last, start, old, new):
            last.at = now
        else:
            edits.append(Edit(start, old[:MAX_CHARS], new[:MAX_CHARS], now))
            del edits[:-KEEP]

    @staticmethod
    def _join(last: Edit, start: int, old: str, new: str) -> bool:
        end = last.start + len(last.new)
        if not old and start == end:  # typing on
            last.new = (last.new + new)[:MAX_CHARS]
            return True
        if not new and start + len(old) == end:  # deleting back from where it ended
            kept = len(last.new) - len(old)
            if kept >= 0:
                last.new = last.new[:kept]
            else:  # past what this edit typed: into the text before it
                last.old = (old[: -len(last.new)] if last.new else old) + last.old
                last.new = ""
                last.start = start
            return True
        return False

    def last(self, uri: str) -> LastEdit | None:
        edits = self._edits.get(uri)
        return edits[-1].as_last() if edits else None

    def forget(self, uri: str) -> None:
        self._edits.pop(uri, None)

    def break_join(self, uri: str) -> None:
        """An edit that could not be followed (several in one notification): the next one
        starts afresh."""
        edits = self._edits.get(uri)
        if edits:
            edits[-1].at = float("-inf")
