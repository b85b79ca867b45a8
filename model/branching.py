"""Several greedy continuations of one prompt at once: the branches of a search.

Each branch starts with a few given tokens (say, the greedy line up to some step and then
another token there) and goes on greedily until it writes an end token (a newline, end
of text) or reaches its cap. All branches share the cached prompt: the first pass feeds
the prompt's last token and every branch's start under a tree-shaped mask (as
`scoring.tree_pass` does); each later pass feeds one token per live branch, each seeing
the cache, the prompt's last token and its own tokens only. A step of four branches costs
about one decode step, so a search costs the longest branch's steps, not their sum. The
cache is rolled back to the prompt afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import torch

from .cache import KVCache
from .generate import prefill, unless_stopped
from .modeling import GPTBigCodeForCausalLM
from .scoring import tree_forward, tree_layout


def greedy_branches(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    prompt_ids: Sequence[int],
    starts: Sequence[Sequence[int]],
    ends: Collection[int],
    max_tokens: int,
    should_stop: Callable[[], bool] | None = None,
) -> list[list[int]] | None:
    """Each start followed by its greedy continuation, up to and including the first token
    in `ends`, at most `max_tokens` in all (a start that ends, or is that long, is returned
    as it is). None when `should_stop()` turned true (the cache keeps the prompt either
    way). Branches stop early, as they are, when the cache runs out of room."""
    prompt_ids = list(prompt_ids)
    if not prompt_ids:
        raise ValueError("greedy_branches needs a non-empty prompt")
    if not starts or any(not s for s in starts):
        raise ValueError("every branch needs at least one start token")
    held = len(prompt_ids) - 1
    keep = cache.reuse(prompt_ids)
    if keep < held:
        prefill(lm, cache, prompt_ids[keep:held])
    branches = [list(s) for s in starts]
    if 1 + sum(map(len, branches)) > cache.capacity - held:
        return branches  # no room to look further
    grown = unless_stopped(
        cache, should_stop, lambda: _grow(lm, cache, prompt_ids[-1], branches, ends, max_tokens)
    )
    cache.truncate(held)
    return grown


def _grow(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    last: int,
    branches: list[list[int]],
    ends: Collection[int],
    max_tokens: int,
) -> list[list[int]]:
    held, device = cache.length, cache.k.device
    ids, positions, owner, sees = tree_layout(last, branches, held, device)
    logits = tree_forward(lm, cache, ids, positions, sees)
    ends_at = torch.cumsum(torch.tensor([len(t) for t in branches]), 0).tolist()
    nexts = {b: int(torch.argmax(logits[end])) for b, end in enumerate(ends_at)}
    live = [b for b, t in enumerate(branches) if t[-1] not in ends and len(t) < max_tokens]
    while live and cache.length + len(live) <= cache.capacity:
        for b in live:
            branches[b].append(nexts[b])
        live = [b for b in live if branches[b][-1] not in ends and len(branches[b]) < max_tokens]
        if not live or cache.length + len(live) > cache.capacity:
            break
        tree = torch.tensor(owner, device=device)
        mine = torch.tensor(live, device=device)
        sees = torch.cat(
            [
                (tree[None, :] == mine[:, None]) | (tree[None, :] == -1),
                torch.eye(len(live), dtype=torch.bool, device=device),
            ],
            dim=1,
        )
        step = [branches[b][-1] for b in live]
        where = [held + len(branches[b]) for b in live]
        logits = tree_forward(lm, cache, step, where, sees)
        owner += live
        nexts = {b: int(torch.argmax(logits[i])) for i, b in enumerate(live)}
    return branches


def first_deviations(
    greedy: Sequence[int],
    logprobs: Sequence[float],
    top: Sequence[tuple[Sequence[int], Sequence[float]]],
    width: int,
) -> list[list[int]]:
    """The `width` likeliest ways to leave the greedy path: `greedy[:j]` and then another
    of step j's likeliest tokens (`top[j]`), ranked by the log-probability of that start
    (the greedy tokens' before it, and the other token's). Steps past `len(greedy)` are
    not considered; a token at -inf (outside a constraint) never starts a branch."""
    found: list[tuple[float, list[int]]] = []
    before = 0.0
    for j, token in enumerate(greedy):
        ids, lps = top[j]
        for other, lp in zip(ids, lps, strict=True):
            if other != token and lp > float("-inf"):
                found.append((before + lp, [*greedy[:j], other]))
        before += logprobs[j]
    found.sort(key=lambda f: -f[0])
    return [start for _, start in found[:width]]
