"""A cheap check that a suggested Python line which opens a block can be valid code.

A small model copies the shape of the lines around it into headers no parser accepts
(`if dirpath, dirnames, filenames in os.walk(dirpath):`, after a `for` line). A whole
line that starts with a block keyword and ends with its colon is parsed with a body (and,
for `elif`/`else`/`except`/`finally`, the statement it continues; for `try`, the clause
it needs). Any other line passes unchecked, and so does a line inside a triple-quoted
string (prose in a docstring) or one whose brackets do not balance (it goes on below, or
closes a generator's `for x in xs):` opened above).
"""

from __future__ import annotations

import ast
import re

KEYWORD = re.compile(r"(?:async\s+)?(if|elif|else|while|for|with|def|class|try|except|finally)\b")
# what a continuing clause needs before it to parse
LEADS = {"elif": "if 1:\n    pass\n", "else": "if 1:\n    pass\n"}
LEADS |= {"except": "try:\n    pass\n", "finally": "try:\n    pass\n"}
TRAILS = {"try": "finally:\n    pass\n"}  # and what it needs after it
MAX_LINE = 1000  # longer lines are not parsed (the parse is for typing speed)


def bad_block_header(line: str, in_string: bool = False) -> bool:
    """True when `line` (a whole line, indentation included) opens a block the way no
    Python accepts; `in_string`: the text above leaves a triple-quoted string open."""
    code = line.strip()
    m = KEYWORD.match(code)
    if not m or not code.endswith(":") or len(code) > MAX_LINE or in_string:
        return False
    if sum(map(code.count, ")]}")) != sum(map(code.count, "([{")):
        return False  # it goes on below, or closes what a line above opened
    try:
        word = m.group(1)
        ast.parse(LEADS.get(word, "") + code + "\n    pass\n" + TRAILS.get(word, ""))
    except SyntaxError:
        return True
    except (ValueError, RecursionError, MemoryError):
        return False
    return False


def triple_quotes(text: str) -> int:
    """How many triple quotes `text` holds: an odd count above a line leaves it in a
    string (most likely a docstring)."""
    return text.count('"""') + text.count("'''")


def first_bad_header(lines: list[str], before: str, quotes: int, complete: int) -> int | None:
    """Which of the first `complete` lines of a block suggested after the text `before` the
    cursor on its line (joined to the first) and `quotes` triple quotes above it is the
    first to open a block the way no Python accepts; None when none is."""
    for i, line in enumerate(lines[:complete]):
        if bad_block_header((before if i == 0 else "") + line, quotes % 2 == 1):
            return i
        quotes += triple_quotes(line)
    return None
