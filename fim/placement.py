"""A suggested Python statement that cannot stand where the cursor is: `return` or
`yield` outside a function, `break` or `continue` outside a loop, and `else`, `elif`,
`except` or `finally` with nothing at the cursor's indentation for it to continue.

A small model writes the likeliest line of the code around (`else:` after a plain
statement, `return val` in a class body); the line itself parses, so the header check
(`fim.python_check`) lets it pass, but with the text above no Python accepts it.

Two steps, for typing speed. The blocks around the cursor are read from indentation
alone, walking up at most `MAX_LINES` lines: nearly every line is placed right there and
passes at once. A line that looks misplaced is then checked with the parser on the text
above, from the last line that starts a top-level statement: it is hidden only when that
text with `pass` at the cursor parses and with the line does not (or, for `return` and
the others, parses with the statement outside what it needs). A continuation line, a
string or anything the walk misreads therefore lets the line pass.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Iterable

from .languages import code_lines_above, first_word, indent_width

MAX_LINES = 400  # how far up the blocks around the cursor are looked for
MAX_CHARS = 32_000  # nor is more parsed (4 ms a parse, holding the interpreter; 3 at most)
FILENAME = "<bigcode-ls placement>"
# the parser warns about the user's code (invalid escapes): not this module's business
warnings.filterwarnings("ignore", module=re.escape(FILENAME))

CLAUSES = {  # a clause, and the statements it may continue at its own indentation
    "else": ("if", "elif", "for", "while", "try", "except"),
    "elif": ("if", "elif"),
    "except": ("try", "except"),
    "finally": ("try", "except", "else"),
}
IN_FUNCTION = ("return", "yield")
IN_LOOP = ("break", "continue")
TOP = re.compile(r"(?:async\s+)?(?:def|class|if|for|while|try|with)\b|@")


def _looks_misplaced(word: str, col: int, above: Iterable[tuple[int, str]]) -> bool:
    """The quick reading by indentation: True when nothing above holds a `word`
    statement at column `col`."""
    if word in CLAUSES:
        for indent, first in above:
            if indent < col:
                return True
            if indent == col:
                return first not in CLAUSES[word]
        return True
    for indent, first in above:  # the blocks around, innermost first
        if indent >= col:
            continue
        col = indent
        if first == "def":
            return word in IN_LOOP  # a loop around the function does not count
        if first == "class":
            return True
        if word in IN_LOOP and first in ("for", "while"):
            return False
    return True


def _parses(text: str) -> ast.Module | None:
    try:
        return ast.parse(text, FILENAME)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None


def _outside(tree: ast.Module, lineno: int, word: str) -> bool:
    """True when the statement at `lineno` lies outside the function (or, for `break`
    and `continue`, the loop) it needs."""
    path: list[ast.AST] = [tree]  # from the module down to the statement
    while not (isinstance(path[-1], ast.stmt) and path[-1].lineno == lineno):
        inner = next(
            (
                child
                for child in ast.iter_child_nodes(path[-1])
                if isinstance(child, ast.stmt)
                and child.lineno <= lineno <= (child.end_lineno or child.lineno)
            ),
            None,
        )
        if inner is None:
            return False  # not a statement of its own (inside brackets): nothing to say
        path.append(inner)
    for node, inner in zip(reversed(path[:-1]), reversed(path[1:]), strict=True):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return word in IN_LOOP  # a loop around the function does not count
        if isinstance(node, ast.ClassDef):
            return True
        if word in IN_LOOP and isinstance(node, ast.For | ast.AsyncFor | ast.While):
            if inner not in node.orelse:  # a loop's `else` belongs to the loop around it
                return False
    return True


def _confirmed(lines: list[str], word: str, from_start: bool) -> bool:
    """The parser's word on the last of `lines` (the suggested line), read with the text
    above from the last line at column 0 that opens a block, or from the first of
    `lines` where they are the file's start (`from_start`)."""
    start = next((i for i in range(len(lines) - 2, -1, -1) if TOP.match(lines[i])), None)
    if start is None:
        if not from_start:
            return False  # no place to start a parse in the lines walked
        start = 0
    above, line = lines[start:-1], lines[-1]
    if sum(map(len, above)) > MAX_CHARS:
        return False
    indent = line[: len(line) - len(line.lstrip())]
    if _parses("\n".join([*above, indent + "pass"]) + "\n") is None:
        return False  # the text above does not parse on its own: no verdict
    if word in CLAUSES:  # with a body below, or its body on the line (`else: x = 0`)
        text = "\n".join([*above, line])
        return all(_parses(text + tail) is None for tail in (f"\n{indent}    pass\n", "\n"))
    tree = _parses("\n".join([*above, line]) + "\n")
    return tree is not None and _outside(tree, len(above) + 1, word)


def misplaced(line: str, prefix: str, in_string: bool = False) -> bool:
    """True when `line` (the suggested line, joined to the text before the cursor on its
    line, at the end of `prefix`) is a statement that cannot stand there and the model,
    not the programmer, wrote its keyword; `in_string`: the text above leaves a
    triple-quoted string open (prose, not code)."""
    code = line.strip()
    word = first_word(code)
    if in_string or word not in (*CLAUSES, *IN_FUNCTION, *IN_LOOP):
        return False
    if first_word(prefix[prefix.rfind("\n") + 1 :]) == word:
        return False  # the programmer wrote the keyword there: theirs to place
    if word in CLAUSES and ":" not in code:
        return False  # the clause is not written yet
    lines = prefix.rsplit("\n", MAX_LINES)
    from_start = len(lines) <= MAX_LINES
    lines = lines if from_start else lines[1:]  # (the first holds all the text above)
    lines[-1] = line
    if not _looks_misplaced(word, indent_width(line), code_lines_above(lines)):
        return False
    return _confirmed(lines, word, from_start)
