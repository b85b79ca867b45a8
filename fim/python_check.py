"""A cheap check that a suggested Python line which opens a block can be valid code.

A small model copies the shape of the lines around it into headers no parser accepts
(`if dirpath, dirnames, filenames in os.walk(dirpath):`, after a `for` line). A whole
line that starts with a block keyword and ends with its colon is parsed with a body (and,
for `elif`/`else`/`except`/`finally`, the statement it continues; `try` the clause it
needs); any other line, and a
line inside a triple-quoted string (prose in a docstring) or whose brackets do not
balance (it goes on below, or closes a generator's `for x in xs):` opened above), passes
unchecked.
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


def bad_block_header(line: str, prefix: str) -> bool:
    """True when `line` (a whole line, indentation included) opens a block the way no
    Python accepts; `prefix` is the text above it (a line in an open triple-quoted
    string is not code)."""
    code = line.strip()
    m = KEYWORD.match(code)
    if not m or not code.endswith(":") or len(code) > MAX_LINE:
        return False
    if (prefix.count('"""') + prefix.count("'''")) % 2:
        return False  # inside a docstring, most likely
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


def first_bad_header(lines: list[str], prefix: str, complete: int) -> int | None:
    """Which of the first `complete` lines of a block suggested after `prefix` (the first
    one joined to the text before the cursor on its line) is the first to open a block
    the way no Python accepts; None when none is."""
    before = prefix[prefix.rfind("\n") + 1 :]
    above = prefix
    for i, line in enumerate(lines[:complete]):
        if bad_block_header((before if i == 0 else "") + line, above):
            return i
        above += line + "\n"
    return None
