"""Whole-line holes cut from source files, and how a suggestion is scored against one.

The evaluation unit of the quality benchmarks and of `bigcode-ls tune`'s before/after
report: the cursor sits at a code line's indentation, the rest of the file is the suffix,
and the suggestion's first line must equal the line's code.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Protocol


class HasText(Protocol):
    relpath: str
    text: str


def line_holes(files: Iterable[HasText], n: int, seed: int = 0) -> list[dict]:
    """Up to `n` holes, drawn at random (fixed by `seed`) from every code line of `files`
    past the third that is not a comment or a docstring opener."""
    rng = random.Random(seed)
    candidates = []
    for f in files:
        lines = f.text.split("\n")
        offset = 0
        for i, line in enumerate(lines):
            body = line.strip()
            if i >= 3 and len(body) >= 4 and not body.startswith(("#", '"""', "'''")):
                cursor = offset + len(line) - len(line.lstrip())
                candidates.append(
                    {
                        "file": f.relpath,
                        "prefix": f.text[:cursor],
                        "suffix": f.text[offset + len(line) :],
                        "target": body,
                    }
                )
            offset += len(line) + 1
    rng.shuffle(candidates)
    return candidates[:n]


def score(suggestion: str, target: str) -> tuple[bool, bool]:
    """(exact match, first-10-characters match) of a suggestion's first line."""
    text = suggestion.split("\n", 1)[0].strip()
    return text == target, bool(text) and text[:10] == target[:10]
