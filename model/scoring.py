"""Scoring given continuations of a prompt: how likely the model finds each of a few
candidate texts (document lines, `fim/candidates.py`), without generating.

All candidates go through the model in one pass under a tree-shaped mask that keeps them
apart, after the cached prompt; the pass is rolled back, so the cache keeps the prompt.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence

import torch

from .cache import KVCache
from .generate import prefill, unless_stopped, verify
from .modeling import GPTBigCodeForCausalLM


def continuation_logprobs(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    prompt_ids: Sequence[int],
    continuations: Sequence[Sequence[int]],
    should_stop: Callable[[], bool] | None = None,
    end_ids: Collection[int] | None = None,
) -> list[float]:
    """The log-probability of each continuation after `prompt_ids` (a sum over its tokens),
    and with `end_ids` of its ending there: plus the log of the probability that the
    next token is one of them (any of the ways text can end, added up).

    The cache keeps the prompt but its last token; that token and every continuation go
    through the model in one pass, each continuation seeing only the cache, that token and
    its own earlier tokens (`tree_pass`); the pass is then rolled back, or abandoned
    between blocks once `should_stop()` is true ([] then). flash-attn takes no such mask:
    there, one pass per continuation, and `should_stop()` is asked between them (a
    shorter list comes back when it turns true). An empty continuation scores its ending
    alone; one that cannot fit in the cache scores -inf.
    """
    prompt_ids = list(prompt_ids)
    if not prompt_ids:
        raise ValueError("continuation_logprobs needs a non-empty prompt")
    held = len(prompt_ids) - 1
    keep = cache.reuse(prompt_ids)
    if keep < held:
        prefill(lm, cache, prompt_ids[keep:held])
    room = cache.capacity - held - 1
    fits = [len(c) <= room for c in continuations]
    scored = [list(c) for c, ok in zip(continuations, fits, strict=True) if ok]
    if should_stop is not None and should_stop():
        return []
    if lm.config.attn_implementation != "flash_attention_2" and sum(map(len, scored)) <= room:
        tree = unless_stopped(
            cache, should_stop, lambda: tree_pass(lm, cache, prompt_ids[-1], scored, end_ids)
        )
        if tree is None:
            return []
        scores = iter(tree)
    else:
        scores = iter(one_by_one(lm, cache, prompt_ids[-1], scored, should_stop, end_ids))
    out = []
    for ok in fits:
        score = next(scores, None) if ok else float("-inf")
        if score is None:  # stopped
            break
        out.append(score)
    return out


def tree_pass(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    last: int,
    continuations: list[list[int]],
    end_ids: Collection[int] | None = None,
) -> list[float]:
    """Score continuations in one forward pass after `last` (the prompt's last token, not
    yet in the cache), then roll the cache back to where it was."""
    held, device = cache.length, cache.k.device
    ids, positions, _, sees = tree_layout(last, continuations, held, device)
    logits = tree_forward(lm, cache, ids, positions, sees).float()
    cache.truncate(held)
    norm = torch.logsumexp(logits, dim=-1)
    out, start = [], 1
    for c in continuations:
        # the token before c[k] sits in row 0 for k = 0, else in row start + k - 1
        rows_before = [0, *range(start, start + len(c) - 1)][: len(c)]
        before = torch.tensor(rows_before, dtype=torch.long, device=device)
        picked = logits[before, torch.tensor(c, dtype=torch.long, device=device)] - norm[before]
        after = start + len(c) - 1 if c else 0  # the row that says what follows c
        out.append(float(picked.sum()) + ending(logits[after], end_ids))
        start += len(c)
    return out


def tree_layout(
    last: int, continuations: Sequence[Sequence[int]], held: int, device
) -> tuple[list[int], list[int], list[int], torch.Tensor]:
    """The inputs of one pass of `last` and every continuation after `held` cached tokens:
    ids, positions (each continuation's restart after `last`), the owner of each position
    (-1 for `last`, else the continuation's index) and which of them each row sees (the
    last token, and its own continuation's earlier tokens)."""
    ids, positions, owner = [last], [held], [-1]
    for j, c in enumerate(continuations):
        ids += c
        positions += range(held + 1, held + 1 + len(c))
        owner += [j] * len(c)
    owners = torch.tensor(owner, device=device)
    rows = torch.arange(len(ids), device=device)
    shared = owners[None, :] == -1
    sees = ((owners[:, None] == owners[None, :]) | shared) & (rows[None, :] <= rows[:, None])
    return ids, positions, owner, sees


def tree_forward(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    ids: list[int],
    positions: list[int],
    sees: torch.Tensor,
) -> torch.Tensor:
    """One pass of `ids` at `positions` into the cache, each row attending to everything
    cached before the tree and to the tree's positions that `sees` (rows × tree) allows."""
    device = cache.k.device
    held = cache.length - (sees.shape[1] - len(ids))
    shared = torch.ones(len(ids), held, dtype=torch.bool, device=device)
    mask = torch.cat([shared, sees], dim=1)
    with torch.inference_mode():
        return lm(
            torch.tensor([ids], device=device),
            past_key_values=cache,
            attention_mask=mask[None, None],
            position_ids=torch.tensor([positions], device=device),
        ).logits[0]


def ending(logits: torch.Tensor, end_ids: Collection[int] | None) -> float:
    """The log of the probability mass of `end_ids` in a row of logits (0 without them)."""
    if end_ids is None:
        return 0.0
    ids = torch.tensor(sorted(end_ids), device=logits.device)
    return float(torch.logsumexp(logits[ids].float(), 0) - torch.logsumexp(logits.float(), 0))


def one_by_one(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    last: int,
    continuations: list[list[int]],
    should_stop: Callable[[], bool] | None,
    end_ids: Collection[int] | None = None,
) -> Iterator[float]:
    """Score continuations one pass each after `last`, rolling back after each."""
    held = cache.length
    for ids in continuations:
        if should_stop is not None and should_stop():
            return
        logits = verify(lm, cache, last, ids if end_ids is not None else ids[:-1])
        cache.truncate(held)
        targets = torch.tensor(ids, device=logits.device)[:, None]
        picked = torch.log_softmax(logits[: len(ids)].float(), dim=-1).gather(1, targets)
        yield float(picked.sum()) + (ending(logits[-1], end_ids) if end_ids is not None else 0.0)
