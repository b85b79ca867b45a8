"""BigCode's FIM transformation of training documents (pure and seeded).

With probability `fim_rate` a document is cut into prefix / middle / suffix and laid out
as PSM, or as SPM with probability `spm_rate`; otherwise it stays plain left-to-right
text. Each part is tokenized separately afterwards. Cuts are drawn one of two ways:

* character cuts (BigCode's Megatron-LM): two uniform character positions;
* editor cuts, a `line_rate` share of the FIM examples: the cursor where an editor puts
  it (a line's indentation, or inside its code), the middle running to the end of that
  line or of a few lines more. With `boundary` (the server's token-healing boundary),
  the prefix ends where the server's healed prompt would end, so training sees exactly
  the prompts the server sends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from .formats import FimFormat, Order


@dataclass(frozen=True)
class FimExample:
    prefix: str
    middle: str
    suffix: str
    order: Order | None  # None: plain left-to-right, the whole document is `prefix`

    def pieces(self, fmt: FimFormat) -> list[str]:
        """Text and `Special` pieces to tokenize, without the end-of-text token."""
        if self.order is None:
            return [self.prefix] if self.prefix else []
        return fmt.layout(self.prefix, self.suffix, order=self.order, middle=self.middle)


def fim_transform(
    document: str,
    rng: random.Random,
    fim_rate: float = 0.5,
    spm_rate: float = 0.5,
    line_rate: float = 0.0,
    boundary: Callable[[str], int] | None = None,
) -> FimExample:
    if not document or rng.random() >= fim_rate:
        return FimExample(document, "", "", None)
    # `line_rate and` keeps the random stream of character-cut recipes unchanged.
    if line_rate and rng.random() < line_rate:
        lo, hi = editor_cuts(document, rng)
        if boundary is not None:
            lo = boundary(document[:lo])
    else:
        lo, hi = sorted(rng.randint(0, len(document)) for _ in range(2))
    order: Order = "spm" if rng.random() < spm_rate else "psm"
    return FimExample(document[:lo], document[lo:hi], document[hi:], order)


def editor_cuts(document: str, rng: random.Random, more_lines: float = 0.4) -> tuple[int, int]:
    """(cursor, end of middle): the cursor at a code line's indentation (half the time)
    or inside its code; the middle ends at that line's end, or, with probability
    `more_lines` for each further line, a few lines later (a block suggestion)."""

    def line_end(at: int) -> int:
        nl = document.find("\n", at)
        return len(document) if nl == -1 else nl

    starts = [0] + [i + 1 for i, ch in enumerate(document) if ch == "\n"]
    code = [s for s in starts if document[s : line_end(s)].strip()]
    if not code:
        return len(document), len(document)
    k = rng.randrange(len(code))  # the same draw as rng.choice(code)
    start = code[k]
    end = line_end(start)
    line = document[start:end]
    indent = start + len(line) - len(line.lstrip())
    cursor = indent if rng.random() < 0.5 else rng.randint(indent, end)
    later = iter(code[k + 1 :])  # blank lines never end a middle
    while (nxt := next(later, None)) is not None and rng.random() < more_lines:
        end = line_end(nxt)
    return cursor, end
