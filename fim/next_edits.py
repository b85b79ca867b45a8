"""The edit a user will make next, from the edit just made: plain text in, edits out.

Three predictors, each precise before it is clever (Python source; other files get none):

* rename by hand: the last edit replaced a whole identifier with another -> the same
  change at the old name's other uses in the same scope (tokens, not a regex: strings and
  comments are left alone; attribute names only where the edited one was one), nearest
  first;
* a missing import: the last edit typed a name used as `name.`, that no line binds and
  that is a standard-library module, or a top-level name the workspace defines -> the
  import line after the file's last top-level import;
* a repeated edit: the last edit turned one line into another -> the same change on the
  nearest line nearby that it fits (what the line kept is a hole: `x.get("a")` ->
  `x["a"]` carries `y.get("b")` -> `y["b"]`).
"""

from __future__ import annotations

import ast
import io
import re
import sys
import tokenize
from collections.abc import Callable
from dataclasses import dataclass
from difflib import SequenceMatcher

from .languages import PYTHON

IDENTIFIER = re.compile(r"[A-Za-z_]\w*\Z")
WORD = re.compile(r"[A-Za-z_]\w*")
NEARBY_LINES = 12
MIN_LOOKED_FOR = 3  # characters a repeated edit's pattern must match besides its holes
MAX_PROPOSALS = 3


@dataclass(frozen=True)
class LastEdit:
    """One logical edit: at `start` (an offset into the text after it), `old` became `new`."""

    start: int
    old: str
    new: str


@dataclass(frozen=True)
class Proposal:
    start: int  # offsets into the current text
    end: int
    text: str
    kind: str  # rename | import | repeat


def propose(
    text: str, edit: LastEdit, defined_in: Callable[[str], str | None] = lambda name: None
) -> list[Proposal]:
    """Ranked proposals after `edit`; `defined_in(name)` is the module that defines a
    top-level `name` in the workspace (or None)."""
    for predictor in (_rename, _missing_import, _repeat):
        found = predictor(text, edit, defined_in)
        if found:
            return found[:MAX_PROPOSALS]
    return []


# --- rename by hand ------------------------------------------------------------------------


def _whole_word(text: str, start: int, end: int) -> str | None:
    """The identifier that spans start..end exactly, or None."""
    word = text[start:end]
    if not IDENTIFIER.match(word):
        return None
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    return None if (before.isalnum() or before == "_" or after.isalnum() or after == "_") else word


def _names(text: str) -> list[tuple[tokenize.TokenInfo, bool]]:
    """The NAME tokens of `text` that name a variable, as far as it tokenizes (a file
    mid-edit may not), each with whether it follows a `.` (an attribute). Keyword
    arguments (`f(loader=loader)`: the first) and names in import statements (a module's
    name) are left out: renaming those changes what they refer to."""
    skip = (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)
    tokens = []
    try:
        tokens = [
            t for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    out, depth, statement_start = [], 0, True
    importing = False
    for i, tok in enumerate(tokens):
        if tok.type == tokenize.NEWLINE:
            statement_start, importing = True, False
            continue
        if statement_start and tok.string in ("import", "from"):
            importing = True
        statement_start = False
        if tok.type == tokenize.OP:
            depth += tok.string in "([{"
            depth -= tok.string in ")]}" and depth > 0
            continue
        if tok.type != tokenize.NAME or importing:
            continue
        after = tokens[i + 1].string if i + 1 < len(tokens) else ""
        if depth and after == "=":
            continue  # a keyword argument's name
        after_dot = i > 0 and tokens[i - 1].string == "."
        out.append((tok, after_dot))
    return out


def _offsets(text: str) -> list[int]:
    """Where each line starts (lines end at "\n" only, as for the tokenizer), and the end."""
    starts, at = [0], 0
    for line in text.split("\n")[:-1]:
        at += len(line) + 1
        starts.append(at)
    return starts + [len(text)]


def _scope(text: str, line: int) -> tuple[int, int]:
    """(first, last) line (1-based) of the top-level block holding `line`: the enclosing
    top-level `def`/`class` and its body, or the whole module for a top-level line."""
    lines = text.split("\n")
    first = line
    while first > 1 and (not lines[first - 1].strip() or lines[first - 1][:1].isspace()):
        first -= 1
    if not PYTHON.header.match(lines[first - 1]):
        return 1, len(lines)
    last = line
    while last < len(lines) and (not lines[last].strip() or lines[last][:1].isspace()):
        last += 1
    return first, last


def _rename(text: str, edit: LastEdit, _defined_in) -> list[Proposal]:
    end = edit.start + len(edit.new)
    new = _whole_word(text, edit.start, end)
    old = edit.old if IDENTIFIER.match(edit.old or "") else None
    if not new or not old or old == new:
        return []
    offsets = _offsets(text)
    tokens = _names(text)
    here = next(
        (t for t in tokens if offsets[t[0].start[0] - 1] + t[0].start[1] == edit.start), None
    )
    if here is None:
        return []  # the edit is not a name in code (a string, a comment)
    first, last = _scope(text, here[0].start[0])
    found = []
    for t, after_dot in tokens:
        if t.string != old or not first <= t.start[0] <= last or after_dot != here[1]:
            continue  # another name, another scope, or `self.count` against a local `count`
        at = offsets[t.start[0] - 1] + t.start[1]
        found.append(Proposal(at, at + len(old), new, "rename"))
    return sorted(found, key=lambda p: abs(p.start - edit.start))


# --- a missing import ----------------------------------------------------------------------


def _parsed(text: str, cursor: int) -> ast.Module | None:
    """The file's syntax tree with the cursor's line (mid-edit, rarely valid) left out, or
    None when it does not parse even so."""
    start = text.rfind("\n", 0, cursor) + 1
    end = text.find("\n", cursor)
    line = text[start : len(text) if end < 0 else end]
    indent = line[: len(line) - len(line.lstrip())]
    try:
        return ast.parse(text[:start] + indent + "pass" + (text[end:] if end >= 0 else ""))
    except (SyntaxError, ValueError):
        return None


def _bound(tree: ast.Module | None, text: str, name: str) -> bool:
    """Whether anything in the file binds `name`; a file that does not parse is read line
    by line, erring towards bound."""
    if tree is None:
        n = re.escape(name)
        return (
            re.search(rf"\b{n}\s*(?:=[^=]|,|\)|:|$)|import\s.*\b{n}\b", text, re.MULTILINE)
            is not None
        )
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if any((a.asname or a.name.split(".")[0]) == name for a in node.names):
                return True
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            if node.id == name:
                return True
        elif isinstance(node, ast.arg | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if getattr(node, "arg", None) == name or getattr(node, "name", None) == name:
                return True
        elif isinstance(node, ast.ExceptHandler | ast.Global | ast.Nonlocal):
            if name == getattr(node, "name", None) or name in getattr(node, "names", ()):
                return True
    return False


def _import_at(text: str, tree: ast.Module | None) -> int:
    """Where a new import line goes: after the imports at the head of the file (top-level
    statements, before the first other one; a `try`/`if` of imports and `__all__ = ...`
    count), else after the module docstring, else at the top. A file that does not
    parse: at the top."""
    last = 0
    for i, node in enumerate(tree.body if tree else ()):
        docstring = i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        dunder = isinstance(node, ast.Assign) and all(  # `__all__ = [...]` above the imports
            isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets
        )
        imports = (
            dunder
            or isinstance(node, ast.Import | ast.ImportFrom)
            or (
                isinstance(node, ast.Try | ast.If)
                and all(isinstance(n, ast.Import | ast.ImportFrom) for n in node.body)
            )
        )
        if not (docstring or imports):
            break
        if not dunder:  # a new import goes above a `__all__` that follows the imports
            last = node.end_lineno or last
    return _offsets(text)[last] if last < text.count("\n") + 1 else len(text)


def _missing_import(text: str, edit: LastEdit, defined_in) -> list[Proposal]:
    if not edit.new or edit.old:
        return []
    cursor = edit.start + len(edit.new)
    dot = cursor - 1 if text[cursor - 1 : cursor] == "." else cursor
    m = re.search(r"[A-Za-z_]\w*\Z", text[max(0, dot - 64) : dot])
    if m is None or text[dot : dot + 1] != ".":
        return []  # only a name used as `name.` (a module, or a workspace name's attribute)
    name = m.group(0)
    tree = _parsed(text, cursor)
    if text[: dot - len(name)].rstrip().endswith(".") or _bound(tree, text, name):
        return []
    if name in sys.stdlib_module_names and not name.startswith("_"):
        line = f"import {name}\n"
    elif (module := defined_in(name)) is not None:
        line = f"from {module} import {name}\n"
    else:
        return []
    at = _import_at(text, tree)
    return [Proposal(at, at, line, "import")]


# --- a repeated edit -----------------------------------------------------------------------


def _template(old: str, new: str) -> tuple[re.Pattern, str] | None:
    """What turned `old` into `new`, with what both kept between the changes as holes:
    a pattern over old text and its replacement."""
    ops = SequenceMatcher(None, old, new, autojunk=False).get_opcodes()
    changed = [i for i, op in enumerate(ops) if op[0] != "equal"]
    if not changed:
        return None
    first, last = changed[0], changed[-1]
    pattern, replacement, hole, looked_for = "", "", 0, ""
    for tag, i1, i2, j1, j2 in ops[first : last + 1]:
        if tag == "equal":
            hole += 1
            pattern += r"(.+?)"
            replacement += f"\\{hole}"
        else:
            looked_for += old[i1:i2]
            pattern += re.escape(old[i1:i2])
            replacement += new[j1:j2].replace("\\", "\\\\")
    if len(looked_for.strip()) < MIN_LOOKED_FOR or not re.search(r"\w", looked_for):
        return None  # nothing specific enough to look for (a `)` deleted fits any line)
    return re.compile(pattern), replacement


def _repeat(text: str, edit: LastEdit, _defined_in) -> list[Proposal]:
    if "\n" in edit.old or "\n" in edit.new or not (edit.old or edit.new):
        return []
    line_start = text.rfind("\n", 0, edit.start) + 1
    line_end = text.find("\n", edit.start)
    line_end = len(text) if line_end < 0 else line_end
    new_line = text[line_start:line_end]
    k = edit.start - line_start
    old_line = new_line[:k] + edit.old + new_line[k + len(edit.new) :]
    if IDENTIFIER.match(edit.new or "_") and IDENTIFIER.match(edit.old or "_"):
        return []  # a name changed: that is a rename's business
    made = _template(old_line, new_line)
    if made is None:
        return []
    pattern, replacement = made
    lines = text.split("\n")
    row = text.count("\n", 0, line_start)
    offsets = _offsets(text)
    nearby = sorted(
        (
            r
            for r in range(max(0, row - NEARBY_LINES), min(len(lines), row + NEARBY_LINES + 1))
            if r != row
        ),
        key=lambda r: (abs(r - row), r),
    )
    for r in nearby:
        m = pattern.search(lines[r])
        if m is None or m.group(0) == m.expand(replacement):
            continue
        at = offsets[r] + m.start()
        return [Proposal(at, at + len(m.group(0)), m.expand(replacement), "repeat")]
    return []
