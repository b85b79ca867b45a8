"""Text no programmer would take: a small model's loops.

A model that has lost its way repeats itself: the same call nested again and again
(`f(x.g(x.g(x.g(`), the same argument appended until the token cap (`, "a", "a", "a"`),
the same clause twice in a row (`if o not in o if o not in o`), the same line again. The
finisher hides or cuts such text, and decoding stops as soon as it appears.

A repetition counts only when the repeated unit holds content (a name other than `None`,
`True`, `False` or `self`, or a string literal), and short units must repeat more often, so that code
that really repeats itself (`[0, 0, 0, 0]`, `(None, None, None)`) is left alone.
"""

from __future__ import annotations

import re

TOKEN = re.compile(r""""[^"\n]*"|'[^'\n]*'|\w+|[^\w\s]""")
NOT_CONTENT = frozenset({"None", "True", "False", "self", "cls", "_"})
MAX_UNIT = 12  # tokens in the longest repeated unit looked for
MAX_TOKENS = 400  # a line longer than this is judged on its first tokens


def repeats_needed(unit: list[str]) -> int:
    """Consecutive copies of `unit` that make a loop: more for short units, and four for
    one that opens a bracket (`os.path.dirname(` three deep is an idiom)."""
    opens = sum(t in "([{" for t in unit) > sum(t in ")]}" for t in unit)
    return 4 if len(unit) <= 2 or opens else 3 if len(unit) <= 4 else 2


def _content(tokens: list[str]) -> bool:
    return any(
        (t[0] in "\"'" and len(t) > 3) or (t.isidentifier() and t not in NOT_CONTENT)
        for t in tokens
    )


def loop_start(line: str) -> int | None:
    """The character offset in `line` where it starts repeating itself (the end of the
    unit's first copy), or None when it does not loop."""
    spans = [(m.start(), m.end()) for m in TOKEN.finditer(line)][:MAX_TOKENS]
    tokens = [line[a:b] for a, b in spans]
    for start in range(len(tokens)):
        for unit in range(1, min(MAX_UNIT, (len(tokens) - start) // 2) + 1):
            first = tokens[start : start + unit]
            need = repeats_needed(first)
            if start + unit * need > len(tokens) or not _content(first):
                continue
            copies = 1
            while tokens[start + copies * unit : start + (copies + 1) * unit] == first:
                copies += 1
                if copies >= need:
                    return spans[start + unit][0]
    return None


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
