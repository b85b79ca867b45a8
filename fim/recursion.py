"""A suggested Python line that calls the function it is written in with that function's
own parameters, none of them changed on the way: a recursion that never ends.

A small model asked for `def square(x): return ` likes `square(x)` (or `self.area(w, h)`
in a method `area(self, w, h)`): the name and the arguments are the likeliest tokens
around. Such a call is right only where something changed on the way, so any sign of
change lets the line pass: a parameter (or the function's own name) bound again above
(`n -= 1`, `from x import f`, `for`, `global`), a parameter whose attribute or item is
used above (`s.accept(...)` may move a scanner), a condition, loop or lambda on the line,
a function without parameters (it recurses over state outside it). Only the nearest
enclosing `def` counts, found by walking up at most `MAX_LINES` lines (for typing speed);
in a class's method only `self.name(...)` (or `cls.`) is itself, as a bare call there
reaches a global (`abs(x)` in a static method `abs`), and in a function outside a class
`self.name(...)` is its argument's method (`str.removesuffix` backported); a line in a
docstring or one that is not a whole Python statement passes too.
"""

from __future__ import annotations

import ast
import re

from .languages import code_lines_above, indent_width

MAX_LINES = 400  # how far up the enclosing `def` is looked for
MAX_LINE = 1000  # longer lines are not parsed
MAX_HEADER = 4000  # nor longer headers
OPENS = {"def", "if", "elif", "else", "for", "while", "with", "try", "except", "finally"}
HEADER = re.compile(r"\s*(?:async\s+)?def\s+(\w+)\s*\(")
BINDS = re.compile(r"(?<![=!<>])=(?!=)|\b(?:for|as|del|global|nonlocal|import)\b")
ON_THE_LINE = re.compile(r"\b(?:if|and|or|for|while|lambda)\b")  # guards or defers the call
DOCSTRING = re.compile(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'')
METHOD_FIRST = ("self", "cls")
DEPTH = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}
Function = ast.FunctionDef | ast.AsyncFunctionDef


def _header(lines: list[str], start: int) -> tuple[int, Function] | None:
    """The function whose header starts at `lines[start]`: (the index of the header's
    last line, the parsed header); None if it cannot be parsed."""
    text = ""
    for end in range(start, min(start + 20, len(lines))):
        text += lines[end].strip() + "\n"
        if len(text) > MAX_HEADER:
            return None  # not a header anyone types; parsing it would cost the keystroke
        if lines[end].rstrip().endswith(":"):
            try:
                node = ast.parse(text + "    pass\n").body[0]
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue  # a colon inside the parameters (an annotation): read on
            return (end, node) if isinstance(node, Function) else None
    return None


def enclosing_function(lines: list[str]) -> tuple[int, Function, int] | None:
    """The nearest `def` above the last of `lines` that holds it: (the index of its
    header's last line, the parsed header, the index of its first); None at module or
    class level."""
    indent = indent_width(lines[-1])
    for i in range(len(lines) - 2, -1, -1):
        line = lines[i]
        code = line.strip()
        if not code or code.startswith(("#", ")", "]", "}")) or indent_width(line) >= indent:
            continue  # (a closing bracket goes on a line above: a header's end, say)
        if HEADER.match(line):
            found = _header(lines, i)
            return None if found is None else (*found, i)
        if code.startswith(("class ", "class\t")):
            return None
        indent = indent_width(line)
    return None


def _in_class(lines: list[str], start: int) -> bool | None:
    """True when the block holding `lines[start]` is a class's body, False when it is a
    block of another statement or the module; None when the lines walked do not say
    (the header is further up, or a string's text at a lower indentation is in the way)."""
    indent = indent_width(lines[start])
    if indent == 0:
        return False
    for above, word in code_lines_above(lines[: start + 1]):
        if above < indent:
            return True if word == "class" else (False if word in OPENS else None)
    return None


def _parameters(node: Function) -> tuple[list[str], list[str]]:
    """(the arguments of a call passing every parameter along unchanged, the names)."""
    a = node.args
    spelled = [p.arg for p in a.posonlyargs + a.args]
    spelled += [f"*{a.vararg.arg}"] if a.vararg else []
    spelled += [f"{p.arg}={p.arg}" for p in a.kwonlyargs]
    spelled += [f"**{a.kwarg.arg}"] if a.kwarg else []
    names = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
    names += [p.arg for p in (a.vararg, a.kwarg) if p]
    return spelled, names


def _call_arguments(line: str, start: int) -> list[str] | None:
    """The comma-separated arguments of the call whose `(` is at `line[start]`, without
    spaces; None when the call does not close on the line."""
    depth = 0
    for j in range(start, len(line)):
        depth += DEPTH.get(line[j], 0)
        if depth == 0:
            inner = "".join(line[start + 1 : j].split())
            return [] if not inner else inner.split(",")
    return None


def _quoted(before: str) -> bool:
    """True when what follows `before` on its line is in a comment or a string (odd
    quotes: a rough count, which errs towards letting the line pass)."""
    return "#" in before or before.count('"') % 2 == 1 or before.count("'") % 2 == 1


def _statement(line: str) -> bool:
    code = line.strip()
    try:
        return len(code) <= MAX_LINE and bool(ast.parse(code).body)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _changed(body: list[str], names: list[str]) -> bool:
    """True when a line of `body` may change one of `names`: binds it again, or uses its
    attribute or item (a method may move it on)."""
    named = re.compile(rf"\b(?:{'|'.join(map(re.escape, names))})\b")
    used = re.compile(rf"\b(?:{'|'.join(map(re.escape, names))})\s*[.\[]")
    for row in DOCSTRING.sub("", "\n".join(body)).split("\n"):
        if row.lstrip().startswith("#"):
            continue
        if (BINDS.search(row) and named.search(row)) or used.search(row):
            return True
    return False


def calls_itself(line: str, prefix: str, in_string: bool = False) -> bool:
    """True when `line` (the suggested line, joined to the text before the cursor on its
    line, at the end of `prefix`) calls the function it is in with that function's own
    parameters and nothing shows that anything changed on the way (module docstring);
    `in_string`: the text above leaves a triple-quoted string open (prose, not code)."""
    if in_string or ON_THE_LINE.search(line):
        return False
    lines = prefix.rsplit("\n", MAX_LINES)
    lines[-1] = line
    found = enclosing_function(lines)
    if found is None:
        return False
    at, node, start = found
    if node.name not in line:
        return False
    spelled, names = _parameters(node)
    in_class = _in_class(lines, start)
    method = in_class if in_class is not None else bool(names) and names[0] in METHOD_FIRST
    if method:  # a class's scope is not a method's: only self.name(...) is itself
        if not names or names[0] not in METHOD_FIRST:
            return False  # a static method's bare call reaches a global (`abs(x)`)
        call = re.compile(rf"\b{names[0]}\.{node.name}\s*\(")
        spelled = spelled[1:]
    else:  # (a function's `self.name(...)` calls its argument's attribute)
        call = re.compile(rf"(?<![\w.]){node.name}\s*\(")
    m = call.search(line)
    if not spelled or m is None or _quoted(line[: m.start()]):
        return False
    if _call_arguments(line, m.end() - 1) != spelled or not _statement(line):
        return False
    return not _changed(lines[at + 1 : -1], [*names, node.name])
