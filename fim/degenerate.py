"""Text no programmer would take: a small model's loops.

A model that has lost its way repeats itself: the same call nested again and again
(`f(x.g(x.g(x.g(`), the same argument appended until the token cap (`, "a", "a", "a"`),
the same clause again and again (`if o not in o if o not in o if o not in o`), the same
line again. The
finisher hides or cuts such text, and decoding stops as soon as it appears.

A repetition counts only when the repeated unit holds content (a name other than `None`,
`True`, `False` or `self`, or a string literal), and short units must repeat more often, so that code
that really repeats itself (`[0, 0, 0, 0]`, `(None, None, None)`) is left alone.
"""

from __future__ import annotations

import itertools
import re

TOKEN = re.compile(r""""[^"\n]*"|'[^'\n]*'|\w+|[^\w\s]""")
NOT_CONTENT = frozenset({"None", "True", "False", "self", "cls", "_"})
MAX_UNIT = 24  # tokens in the longest repeated unit looked for
MAX_TOKENS = 400  # a line longer than this is judged on its first tokens
# This many copies loop whatever the unit holds (`7+7+7+7+...`), unless it is a list's
# separator and item (`[0, 0, 0, 0, 0, 0, 0, 0, 0]` is data).
ANY_UNIT_REPEATS = 8
# Inside one token: a run of 2 to 20 characters with two different letters, 4+ times in
# a row (`headers_and_headers_and_...`, `eo_eo_eo_eo`); the first 1,000 characters only.
# or 5+ characters with two different letters or digits (`:127.0.1:127.0.1`, `08/19/04 `)
CHAR_LOOP = re.compile(r"(.{2,20}?)\1{3,}")
MAX_CHARS = 1000
# One letter or digit 20+ times in a row (`1000000000000000000000`): no literal a person
# types; test data spells such a value with `*`
CHAR_RUN = re.compile(r"([A-Za-z0-9])\1{19,}")
# A letter and a digit, the same pair 8+ times in a row (`0x0x0x0x0x0x0x0x`): no file of
# Python's library or this machine's site-packages holds one
PAIR_RUN = re.compile(r"([A-Za-z][0-9]|[0-9][A-Za-z])\1{7,}")
# A name this long, or a string literal, repeated three times as one-token items is a
# loop (`x_index, x_index, x_index`); short ones need four (`f(c, c, c)` is plausible)
LONG_ITEM = 12


def repeats_needed(unit: list[str]) -> int:
    """Consecutive copies of `unit` that make a loop: three, or four for a unit that opens
    a bracket (`os.path.dirname(` three deep is an idiom) unless a call takes the same
    arguments before each nesting (`f(s, f(s, f(s,`; `dict[str, ` nests types), and for a unit of one or two tokens unless it
    holds a long name or a string (`c, c, c` may be meant). Two equal items in a row are
    an idiom: `('ABORT', 3), ('ABORT', 3),`."""
    opens = sum(t in "([{" for t in unit) > sum(t in ")]}" for t in unit)
    if opens:
        calls = any(a.isidentifier() and b == "(" for a, b in itertools.pairwise(unit))
        return 3 if calls and "," in unit else 4
    if len(unit) <= 2:
        long = any(len(t) >= LONG_ITEM or (t[0] in "\"'" and len(t) > 3) for t in unit)
        return 3 if long else 4
    return 3


def _content(tokens: list[str]) -> bool:
    return any(
        (t[0] in "\"'" and len(t) > 3) or (t.isidentifier() and t not in NOT_CONTENT)
        for t in tokens
    )


# `x.y = x.y`: an assignment of an attribute to itself does nothing; a small model writes
# it when it has nothing to say (`x = x` is left alone: in a class body it binds an outer
# name to the class, as `typing.io` does with `IO = IO`)
NO_OP = re.compile(r"\s*(\w+(?:\.\w+)+)\s*=\s*\1\s*(?:#.*)?\Z")


# an import that names one module or name twice (`import os, socket, socket`), as a
# statement or as code quoted in a string (`'import os, socket, socket,`: a test's source);
# in a string only a plain comma list counts, so that prose ("import the file and the
# data") is not read as names
IMPORT = re.compile(r"\s*(?:from\s+[\w.]+\s+)?import\s+(.*)")
NAMES = r"[\w.]+(?:\s+as\s+\w+)?"
QUOTED_IMPORT = re.compile(rf"""["'](?:from\s+[\w.]+\s+)?import\s+({NAMES}(?:\s*,\s*{NAMES})*)""")


def is_no_op(line: str) -> bool:
    """An assignment of a name to itself, or an import that names something twice: lines
    that do nothing a person would write."""
    if NO_OP.match(line):
        return True
    code = line.split("#", 1)[0]
    found = [m.group(1) for m in (IMPORT.match(code), *QUOTED_IMPORT.finditer(line)) if m]
    for names in (re.findall(NAMES, listed) for listed in found):
        if len(names) != len(set(names)):
            return True
    return False


def loop_start(line: str) -> int | None:
    """The character offset in `line` where it starts repeating itself (the end of the
    unit's first copy), or None when it does not loop."""
    starts = [x for x in (_token_loop(line), _char_loop(line)) if x is not None]
    return min(starts) if starts else None


def _char_loop(line: str) -> int | None:
    head = line[:MAX_CHARS]
    starts = [m.start() + 2 for m in CHAR_RUN.finditer(head)][:1]
    starts += [m.start() + 2 for m in PAIR_RUN.finditer(head)][:1]
    for m in CHAR_LOOP.finditer(head):
        unit = m.group(1)
        letters = {c for c in unit if c.isalpha()}
        if len(letters) >= 2 or (len(unit) >= 5 and len({c for c in unit if c.isalnum()}) >= 2):
            starts.append(m.start() + len(unit))
            break
    return min(starts, default=None)


def _token_loop(line: str) -> int | None:
    spans = [(m.start(), m.end()) for m in TOKEN.finditer(line)][:MAX_TOKENS]
    tokens = [line[a:b] for a, b in spans]
    for start in range(len(tokens)):
        for unit in range(1, min(MAX_UNIT, (len(tokens) - start) // 2) + 1):
            first = tokens[start : start + unit]
            if _content(first):
                need = repeats_needed(first)
            elif "," not in first:
                need = ANY_UNIT_REPEATS
            else:
                continue
            if start + unit * (need - 1) + 2 > len(tokens):
                continue
            copies = 1
            while tokens[start + copies * unit : start + (copies + 1) * unit] == first:
                copies += 1
            # a last copy cut off by the token cap counts, if half of it is there; so does a
            # last item without its comma (`a, a, a)`)
            tail = tokens[start + copies * unit :]
            if len(tail) < unit and len(tail) * 2 >= unit and first[: len(tail)] == tail:
                copies += 1
            elif first[-1] == "," and unit > 1 and tail[: unit - 1] == first[:-1]:
                copies += 1
            if copies >= need:
                return spans[start + unit][0]
    return None


def runaway(line: str) -> bool:
    """A line cut off (by the token cap or the deadline) inside a bracket it opened while
    repeating one item: `f(TypeError, range, 0, 0, 0, 0, 0, 0, 0, 0, 0,` would go on
    without end. Data that repeats an item (`[0, 0, 0, 0, 0, 0, 0, 0, 0]`, a table's row)
    closes its bracket or opens none on its line; only a line that did not end is asked."""
    tokens = TOKEN.findall(line)[:MAX_TOKENS]
    depth = sum((t in "([{") - (t in ")]}") for t in tokens)
    if depth <= 0:
        return False
    for unit in range(2, 5):
        for partial in range(unit):  # the last copy may be cut short
            body = tokens[: len(tokens) - partial]
            tail = body[-unit * ANY_UNIT_REPEATS :]
            if len(tail) < unit * ANY_UNIT_REPEATS or "," not in tail[:unit]:
                continue
            if all(tail[k] == tail[k % unit] for k in range(len(tail))):
                return True
    return False


def repeated_line(lines: list[str], copies: int = 3) -> int | None:
    """The index of the first line that a block repeats `copies` times in a row (one line
    or a pair of lines), counting from its second copy; None when there is none."""
    for size in (1, 2):
        for i in range(len(lines) - size * copies + 1):
            block = lines[i : i + size]
            if not any(ln.strip() and _content(TOKEN.findall(ln)) for ln in block):
                continue
            if all(lines[i + k * size : i + (k + 1) * size] == block for k in range(copies)):
                return i + size
    return None
