"""Where static analysis can steer decoding, and which tokens it then allows.

A trigger is the text ending in `receiver.` or `receiver.partial` (an attribute being
written) outside strings and comments, or in `from module import partial` (a name being
imported; after a comma too). A static analyser lists the names that exist after
`receiver.`; the next token must then keep the attribute a beginning of one of them, or
finish one of them and go on with something that is not part of a name (`(`, ` `, `)`).
The names come from elsewhere (`lsp_server/analysis.py`); this module knows text and
token spellings only, as token healing does (Agrawal et al., 2023, "Monitor-Guided
Decoding of Code LMs with Static Analysis of Repository Context").
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .healing import Vocabulary

ATTRIBUTE = re.compile(
    r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.([A-Za-z_][A-Za-z0-9_]*)?\Z"
)
# `from pkg.mod import`, then what follows: `a, b as c, par` (the name being written last)
FROM_HEAD = re.compile(r"[ \t]*from[ \t]+(\.*[A-Za-z_][\w.]*|\.+)[ \t]+import(?!\w)")
NAME = r"[A-Za-z_]\w*"
FROM_REST = re.compile(
    rf"(?P<open>[ \t]+\(?|[ \t]*\()[ \t]*"
    rf"(?P<done>(?:{NAME}(?:[ \t]+as[ \t]+{NAME})?[ \t]*,[ \t]*)*)(?P<partial>{NAME})?"
)
MAX_IMPORT_LINE = 300  # a longer line is not read (typing speed)
# Receivers whose attribute at a statement's start may be one being defined (`self.x = 1`)
DEFINING = ("self", "cls")


@dataclass(frozen=True)
class Trigger:
    dot: int  # offset in the text where the analyser is asked (just after the `.`)
    receiver: str  # the dotted name before it (or the `from ... import` statement)
    partial: str  # what of the name is written already
    lead: str = ""  # what must come before the name (a space after `import` or `a,`)

    def spellings(self, names: Iterable[str]) -> list[str]:
        """What the text may go on with at the trigger: each name after `lead`."""
        return [self.lead + n for n in names]


def attribute_trigger(text: str) -> Trigger | None:
    """The attribute being written at the end of `text`, unless it sits in a comment or a
    string on its line, or may be one being defined (`self.` at a statement's start)."""
    m = ATTRIBUTE.search(text[-200:])
    if m is None:
        return None
    start = len(text) - len(m.group())
    line = text[text.rfind("\n", 0, start) + 1 : start]
    if in_comment_or_string(line):
        return None
    receiver, partial = m.group(1), m.group(2) or ""
    if receiver in DEFINING and not line.strip():
        return None
    return Trigger(start + len(receiver) + 1, receiver, partial)


def import_trigger(text: str) -> Trigger | None:
    """The name being written in a `from module import ...` line at the end of `text`:
    the first or one after a comma; not after `as`, and not right after a `(`, where the
    layout is the writer's. Its receiver is the statement up to `import`, a question the
    analyser answers with the module's names. Right after `import` or a comma, the name
    must come after a space. A name it is, not `(` or `*`: a suggestion that is only
    `(` is no help, and `*` is what a model writes when the name it wanted is not there."""
    tail = text[-(MAX_IMPORT_LINE + 1) :]  # (a one-line file of megabytes: not scanned)
    line = tail[tail.rfind("\n") + 1 :]
    head = FROM_HEAD.match(line) if len(line) <= MAX_IMPORT_LINE else None
    if head is None:
        return None
    receiver = f"from {head.group(1)} import"
    rest = line[head.end() :]
    if not rest or rest.endswith(","):
        return Trigger(len(text), receiver, "", " ")
    m = FROM_REST.fullmatch(rest)
    if m is None or (rest.rstrip().endswith("(") and not m["done"]):
        return None
    partial = m["partial"] or ""
    return Trigger(len(text) - len(partial), receiver, partial)


def name_trigger(text: str) -> Trigger | None:
    """Where static analysis can list the names that may come next: an attribute, or a
    name imported from a module."""
    return attribute_trigger(text) or import_trigger(text)


def in_comment_or_string(line: str) -> bool:
    """Whether the end of `line` lies in a comment or an open single-line string (a
    cheap scan: no triple quotes across lines)."""
    quote = None
    i = 0
    while i < len(line):
        ch = line[i]
        if quote:
            if ch == "\\":
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return True
        i += 1
    return quote is not None


def is_name_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


class NameConstraint:
    """The token ids that may follow a partial attribute, for one vocabulary."""

    def __init__(self, vocab: Vocabulary):
        self.vocab = vocab
        # tokens that end a name at once: their text starts with no name character
        every = vocab.starting_with("")
        self.closing = frozenset(i for t, i in every if not is_name_char(t[0]))

    def allowed(self, names: Iterable[str], partial: str) -> frozenset[int]:
        """Ids whose text keeps `partial` a beginning of one of `names`, or completes one
        and goes on with a character that is no part of a name. Empty: no name fits."""
        out: set[int] = set()
        for name in names:
            if not name.startswith(partial):
                continue
            rest = name[len(partial) :]
            if not rest:
                out |= self.closing
                continue
            for k in range(1, len(rest) + 1):
                out |= self.vocab.spelling(rest[:k])
            for text, i in self.vocab.starting_with(rest):
                if len(text) > len(rest) and not is_name_char(text[len(rest)]):
                    out.add(i)
        return frozenset(out)
