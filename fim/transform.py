"""BigCode's FIM transformation of training documents (pure and seeded).

With probability `fim_rate` a document is cut at two uniformly drawn character positions
into prefix / middle / suffix and laid out as PSM, or as SPM with probability `spm_rate`;
otherwise it stays plain left-to-right text. Cuts are in characters, as in BigCode's
Megatron-LM, and each part is tokenized separately afterwards.
"""

from __future__ import annotations

import random
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
    document: str, rng: random.Random, fim_rate: float = 0.5, spm_rate: float = 0.5
) -> FimExample:
    if not document or rng.random() >= fim_rate:
        return FimExample(document, "", "", None)
    lo, hi = sorted(rng.randint(0, len(document)) for _ in range(2))
    order: Order = "spm" if rng.random() < spm_rate else "psm"
    return FimExample(document[:lo], document[lo:hi], document[hi:], order)
