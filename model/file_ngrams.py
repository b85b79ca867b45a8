"""The file's own n-grams, mixed into the model's choice of each next token.

Code is local: a file's names, calls and idioms recur within it far more than in code at
large (Tu, Su and Devanbu, "On the Localness of Software", FSE 2014, where a cache of
the file's n-grams mixed into a global model's estimate was the largest gain). A small
model sees the whole prompt but copies from it worse than it could: after the last few
tokens, what followed the same tokens elsewhere in the prompt (the document's prefix
and suffix, the repository snippets) or in what it has written so far is often what
comes next. `mix` blends those counts (`PromptLookup.follows`) into the model's
distribution with a fixed weight; where the tail occurred nowhere before, the model's
distribution is left as it is.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch


def mix(logits: torch.Tensor, follows: Mapping[int, int], weight: float) -> torch.Tensor:
    """Log-probabilities of `(1 - weight) * p + weight * q`, where p is the softmax of
    `logits` (one step's row) and q each token's share of the counts in `follows`.
    Tokens that `logits` rules out (-inf) or has no row for get no share; `logits` comes
    back unchanged when no count is left, or `weight` is 0."""
    vocab = logits.shape[-1]
    counts = {t: c for t, c in follows.items() if 0 <= t < vocab and c > 0}
    if weight <= 0 or not counts:
        return logits
    ids = torch.tensor(list(counts), dtype=torch.long, device=logits.device)
    shares = torch.tensor(list(counts.values()), dtype=torch.float32, device=logits.device)
    shares = torch.where(torch.isneginf(logits[ids].float()), 0.0, shares)
    if not float(shares.sum()):
        return logits
    p = torch.softmax(logits.float(), -1) * (1.0 - weight)
    p[ids] += weight * shares / shares.sum()
    return torch.log(p)
