"""What post-processing needs to know of a language: where blocks open and close, what
an enclosing definition's header looks like, how comments start.

Python blocks end by dedenting; brace languages end a block with a closing line at the
opener's indentation, which a suggestion keeps when the text after the cursor does not
already close the block. A file's language comes from its name (the LSP language ids
clients send differ: `javascriptreact`, `js`, a major mode's name).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Language:
    name: str
    opener: re.Pattern  # a line (or a line's end) after which a block is written
    header: re.Pattern  # an enclosing definition's first line (a suggestion must not echo it)
    closer: str = ""  # the line that ends a block ("}"), or "" where dedenting does


def indent_width(line: str, tab_size: int = 4) -> int:
    """The columns a line's indentation takes, a tab reaching the next multiple of
    `tab_size`."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += tab_size - width % tab_size
        else:
            break
    return width


FIRST_WORD = re.compile(r"\s*(?:async\s+)?(\w+)")


def first_word(code: str) -> str:
    """A Python line's first word, `async` passed over (`async def` → "def")."""
    m = FIRST_WORD.match(code)
    return m.group(1) if m else ""


def code_lines_above(lines: list[str]) -> Iterator[tuple[int, str]]:
    """(indentation, first word) of each Python code line above the last of `lines`,
    nearest first: blanks and comments are left out, and so is a line that opens with a
    closing bracket (it ends a statement begun above)."""
    for line in reversed(lines[:-1]):
        code = line.strip()
        if code and not code.startswith(("#", ")", "]", "}")):
            yield indent_width(line), first_word(code)


C_COMMENT = r"\s*(?://.*|/\*.*)?$"
CASE = r"\b(?:case\b[^:]*|default\s*):"
C_FUNCTION = r"\s*(?:[\w:*&<>,\[\]]+\s+)+[*&]*[\w:~]+\s*\([^;]*\)\s*(?:const\s*)?(?:\{\s*)?$"

PYTHON = Language(
    "python",
    opener=re.compile(r"[:{(\[]\s*(#.*)?$"),
    header=re.compile(r"\s*(?:async\s+def|def|class)\s"),
)
JAVASCRIPT = Language(
    "javascript",
    opener=re.compile(rf"(?:[{{(\[]|{CASE}){C_COMMENT}"),
    header=re.compile(
        r"\s*(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\b|class\s)"
        r"|\s*(?:static\s+|async\s+|get\s+|set\s+)*[A-Za-z_$][\w$]*\s*\([^)]*\)\s*\{\s*$"
    ),
    closer="}",
)
TYPESCRIPT = Language(
    "typescript",
    opener=JAVASCRIPT.opener,
    header=re.compile(
        r"\s*(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?"
        r"(?:function\b|class\s|interface\s|enum\s)"
        r"|\s*(?:(?:public|private|protected|static|readonly|async)\s+)*[A-Za-z_$][\w$]*"
        r"\s*\([^)]*\)\s*(?::\s*[^{]+)?\{\s*$"
    ),
    closer="}",
)
GO = Language(
    "go",
    opener=re.compile(rf"(?:[{{(\[]|{CASE}){C_COMMENT}"),
    header=re.compile(r"\s*(?:func|type)\s"),
    closer="}",
)
RUST = Language(
    "rust",
    opener=re.compile(rf"(?:[{{(\[]|=>){C_COMMENT}"),
    header=re.compile(
        r"\s*(?:pub(?:\([^)]*\))?\s+)?(?:(?:async|const|unsafe|extern(?:\s+\"\w+\")?)\s+)*"
        r"(?:fn|impl|struct|enum|trait|mod)\b"
    ),
    closer="}",
)
JAVA = Language(
    "java",
    opener=re.compile(rf"(?:[{{(\[]|{CASE}|->){C_COMMENT}"),
    header=re.compile(
        r"\s*(?:@\w+\s+)*(?:(?:public|private|protected|static|final|abstract|sealed|"
        r"synchronized|native|default)\s+)*(?:class|interface|enum|record)\s"
        r"|\s*(?:(?:public|private|protected|static|final|abstract|synchronized)\s+)+"
        r"[\w<>\[\],.?\s]+\s+\w+\s*\([^;]*\)\s*(?:throws\s+[\w.,\s]+)?\{?\s*$"
    ),
    closer="}",
)
C = Language(
    "c",
    opener=re.compile(rf"(?:[{{(\[]|{CASE}){C_COMMENT}"),
    header=re.compile(rf"\s*(?:struct|union|enum|typedef)\b|{C_FUNCTION}"),
    closer="}",
)
CPP = Language(
    "cpp",
    opener=C.opener,
    header=re.compile(
        rf"\s*(?:template\s*<.*>\s*)?(?:class|struct|namespace|union|enum)\b|{C_FUNCTION}"
    ),
    closer="}",
)

LANGUAGES = {lang.name: lang for lang in (PYTHON, JAVASCRIPT, TYPESCRIPT, GO, RUST, JAVA, C, CPP)}
SUFFIXES = {
    ".py": PYTHON, ".pyi": PYTHON, ".pyw": PYTHON, ".ipynb": PYTHON,
    ".js": JAVASCRIPT, ".jsx": JAVASCRIPT, ".mjs": JAVASCRIPT, ".cjs": JAVASCRIPT,
    ".ts": TYPESCRIPT, ".tsx": TYPESCRIPT, ".mts": TYPESCRIPT, ".cts": TYPESCRIPT,
    ".go": GO, ".rs": RUST, ".java": JAVA,
    ".c": C, ".h": C,
    ".cc": CPP, ".cpp": CPP, ".cxx": CPP, ".hpp": CPP, ".hh": CPP, ".hxx": CPP,
}  # fmt: skip


def language_of(path: str) -> Language:
    """The language of a file by its name; Python's rules for any other (as before)."""
    return SUFFIXES.get(PurePosixPath(path.split("?", 1)[0]).suffix.lower(), PYTHON)
