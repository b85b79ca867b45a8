"""Lines the code around the cursor suggests, for the model to weigh against its own.

Code repeats itself: the line that followed `for token in stream:` further up the file
is a good guess for the line that follows it at the cursor, and a small model, which
predicts such a line poorly token by token, still judges a whole candidate line well
(docs/benchmarks.md, benchmark 4). This module only proposes: each candidate is a line
that followed the line above the cursor elsewhere in the document (or in a repository
snippet of the prompt), or came before the line below the cursor elsewhere, and starts
with what the user typed on the cursor's line. The completion service asks the model for
each one's likelihood and shows the likeliest of them and the model's own suggestion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

MAX_CANDIDATES = 8


def followers(lines: Sequence[str], after: str) -> list[str]:
    """The stripped lines that follow a non-blank line equal to `after` (stripped), in order."""
    out, previous = [], None
    for line in lines:
        body = line.strip()
        if not body:
            continue
        if previous == after:
            out.append(body)
        previous = body
    return out


def interleave(*lists: Sequence[str]) -> list[str]:
    out: list[str] = []
    for i in range(max(map(len, lists), default=0)):
        for items in lists:
            out += items[i : i + 1]
    return out


def _by_distance(lines_before: Sequence[str], lines_after: Sequence[str], key: str) -> list[str]:
    """Followers of `key` in the document, nearest the cursor first."""
    return interleave(followers(lines_before, key)[::-1], followers(lines_after, key))


def line_candidates(
    prefix: str, suffix: str, sources: Iterable[str] = (), limit: int = MAX_CANDIDATES
) -> list[str]:
    """Texts to insert at the cursor (the rest of its line), at most `limit`, nearest first.

    Only at the end of a line (nothing but whitespace after the cursor on it) and below a
    non-blank line. The cursor's own place never counts: the line below it follows the
    line above it there, and proposing it would be proposing an echo.
    """
    cut = prefix.rfind("\n")
    before, after = prefix[cut + 1 :], suffix.split("\n", 1)
    if cut < 0 or after[0].strip():
        return []
    lines_before = prefix[:cut].split("\n")
    key = next((line.strip() for line in reversed(lines_before) if line.strip()), "")
    if not key:
        return []
    typed = before.lstrip()
    lines_after = after[1].split("\n") if len(after) > 1 else []
    found = _by_distance(lines_before, lines_after, key)
    below = next((line.strip() for line in lines_after if line.strip()), "")
    if below:  # the lines that came before the line below, read backwards
        back = _by_distance(lines_after[::-1], lines_before[::-1], below)
        found = interleave(found, back)
    for text in sources:
        found += followers(text.split("\n"), key)
    out: list[str] = []
    for line in found:
        rest = line[len(typed) :]
        if line.startswith(typed) and rest and rest not in out:
            out.append(rest)
            if len(out) == limit:
                break
    return out
