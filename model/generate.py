"""The generation engine: token ids in, token ids out, one sequence at a time.

Built for completion while typing: a `KVCache` is kept per document by the caller, and
each request reuses the longest common prefix of the cached tokens and the new prompt,
so a keystroke costs the few tokens after the first change. The engine knows nothing of
tokenization or documents.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import torch

from .cache import UNKNOWN_TOKEN, KVCache, common_prefix_len
from .errors import Interrupted
from .file_ngrams import mix
from .lookup import PromptLookup
from .modeling import GPTBigCodeForCausalLM

PREFILL_CHUNK = 1024
LOOKUP_OVERLAP = 4  # prompt-lookup's longest n-gram
TOP_ALTERNATIVES = 8  # the likeliest tokens kept per step in `GenerationStats.top`
# Tokens per pass of `extend` (idle work): the most work a stop throws away, and wide
# enough for a prompt's throughput (at 164 M, 1,500 tokens in 32-token passes took 2.1x
# as long as in 128-token ones; bench/wide_passes.py).
EXTEND_CHUNK = 128
T = TypeVar("T")

__all__ = [
    "GenerationStats",
    "common_prefix_len",
    "decode_one",
    "extend",
    "generate",
    "new_cache",
    "prefill",
    "sample",
]


@dataclass
class GenerationStats:
    """What a `generate` call took from its cache and what it computed."""

    prompt_tokens: int = 0
    reused_tokens: int = 0
    # each yielded token's log-probability under the model's distribution (within the
    # allowed first tokens, before temperature or top-p): how sure the model was of it
    logprobs: list[float] = field(default_factory=list)
    # per yielded token, the likeliest tokens at that step (ids, log-probabilities in the
    # same distribution): what else the model would have written there
    top: list[tuple[list[int], list[float]]] = field(default_factory=list)

    @property
    def prefilled_tokens(self) -> int:
        return self.prompt_tokens - self.reused_tokens


def new_cache(lm: GPTBigCodeForCausalLM, capacity: int | None = None) -> KVCache:
    return KVCache(lm.config, capacity, dtype=lm.dtype, device=lm.device)


def prefill(
    lm: GPTBigCodeForCausalLM, cache: KVCache, token_ids: Sequence[int], chunk: int = PREFILL_CHUNK
) -> torch.Tensor:
    """Append `token_ids` to the cache; return the logits after the last one, (V,).

    Long inputs go in chunks so the attention scores of one chunk bound peak memory.
    """
    if not token_ids:
        raise ValueError("prefill needs at least one token")
    if cache.length + len(token_ids) > cache.capacity:
        raise ValueError(
            f"{cache.length} cached + {len(token_ids)} new tokens exceed the cache's {cache.capacity}"
        )
    logits = None
    with torch.inference_mode():
        for start in range(0, len(token_ids), chunk):
            piece = list(token_ids[start : start + chunk])
            ids = torch.tensor([piece], dtype=torch.long, device=cache.k.device)
            logits = lm(ids, past_key_values=cache, logits_to_keep=1).logits[0, -1]
    return logits


def extend(
    lm: GPTBigCodeForCausalLM,
    cache: KVCache,
    token_ids: Sequence[int],
    should_stop: Callable[[], bool] | None = None,
    chunk: int = EXTEND_CHUNK,
) -> int:
    """Make the cache hold `token_ids`: keep its common prefix with them and compute the
    rest a chunk at a time. Background work that a real request must be able to
    interrupt: `should_stop()` is asked before each block of each pass, and a stop loses
    only the chunk in progress (what is computed stays: a later call, or a prompt that
    shares it, goes on from there). Returns the tokens computed."""
    token_ids = list(token_ids)[: cache.capacity]
    keep = common_prefix_len(cache.tokens, token_ids)
    cache.truncate(keep)
    for start in range(keep, len(token_ids), chunk):
        piece = token_ids[start : start + chunk]
        if unless_stopped(cache, should_stop, lambda p=piece: prefill(lm, cache, p)) is None:
            return start - keep
    return len(token_ids) - keep


def unless_stopped(
    cache: KVCache, should_stop: Callable[[], bool] | None, compute: Callable[[], T]
) -> T | None:
    """`compute()`, whose forward passes into `cache` end between blocks once
    `should_stop()` is true: None then, with the cut pass's work dropped."""
    if should_stop is None:
        return compute()
    if should_stop():
        return None
    with cache.interruptible(should_stop):
        try:
            return compute()
        except Interrupted:
            return None


def decode_one(lm: GPTBigCodeForCausalLM, cache: KVCache, token_id: int) -> torch.Tensor:
    """Feed one token; return the logits for the next, (V,)."""
    with torch.inference_mode():
        return lm.decode_step(token_id, cache)


def verify(
    lm: GPTBigCodeForCausalLM, cache: KVCache, token_id: int, draft: Sequence[int]
) -> torch.Tensor:
    """Feed `token_id` and a draft in one pass; row j holds the logits that follow the
    token and draft[:j], (1 + len(draft), V). The cache then holds all of them."""
    ids = torch.tensor([[token_id, *draft]], dtype=torch.long, device=cache.k.device)
    with torch.inference_mode():
        return lm(ids, past_key_values=cache).logits[0]


def sample(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> int:
    if temperature <= 0.0:
        return int(torch.argmax(logits))
    logits = logits.float() / temperature
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.numel())).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        probs = torch.softmax(sorted_logits, dim=-1)
        # Drop a token once the tokens before it already cover top_p; the first stays.
        drop = probs.cumsum(-1) - probs > top_p
        logits = logits.masked_fill(drop.scatter(0, order, drop), float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


def only(logits: torch.Tensor, allowed_ids: Collection[int]) -> torch.Tensor:
    """`logits` with every id outside `allowed_ids` at -inf."""
    allowed = torch.tensor(sorted(allowed_ids), dtype=torch.long, device=logits.device)
    masked = torch.full_like(logits, float("-inf"))
    masked[allowed] = logits[allowed]
    return masked


def generate(
    lm: GPTBigCodeForCausalLM,
    prompt_ids: Sequence[int],
    max_new_tokens: int,
    *,
    temperature: float = 0.0,
    top_p: float = 1.0,
    top_k: int = 0,
    stop_token_ids: Collection[int] = (),
    cache: KVCache | None = None,
    should_stop: Callable[[], bool] | None = None,
    seed: int | None = None,
    allowed_first_ids: Collection[int] | None = None,
    stats: GenerationStats | None = None,
    lookup: bool = False,
    constrain: Callable[[list[int]], Collection[int] | None] | None = None,
    file_ngrams: float = 0.0,
) -> Iterator[int]:
    """Yield up to `max_new_tokens` new token ids after `prompt_ids`: greedy at temperature
    0 (HF's greedy tokens exactly), else top-k / top-p sampled. Stops at a stop token
    (yielded), when the context is full, or once `should_stop()` is true (asked before
    each block of each decode step). A `cache` keeps its longest common prefix with the
    prompt, and the generated tokens for a request that extends them. `allowed_first_ids`
    restricts the first token (healing); `constrain(tokens so far)` any (None: free; an
    empty set ends), narrowing `allowed_first_ids` unless none would be left. `stats`
    gets the prompt's size, what came from the cache, and each token's log-probability
    and likeliest rivals in the model's own distribution. `lookup` (greedy only): the same
    tokens, fewer passes where text repeats (`Successor`). `file_ngrams`: the weight of
    the prompt's n-grams in each choice (`Choice`)."""
    prompt_ids = list(prompt_ids)
    cache = cache if cache is not None else new_cache(lm, len(prompt_ids) + max_new_tokens)
    check_room(len(prompt_ids), cache)
    held = cache.tokens if lookup else []
    keep = cache.reuse(prompt_ids)
    if stats is not None:
        stats.prompt_tokens, stats.reused_tokens = len(prompt_ids), keep
    logits = prefill(lm, cache, prompt_ids[keep:])  # whole: a newer request goes on from it
    drafting = lookup and temperature <= 0
    index = ngram_index(prompt_ids, held, keep) if drafting or file_ngrams > 0 else None
    generator = sampling_generator(temperature, seed, logits.device)
    choose = Choice(temperature, top_k, top_p, generator, index, file_ngrams)
    successor = Successor(lm, cache, index, drafting)
    stops, out = set(stop_token_ids), []
    for i in range(max_new_tokens):
        allowed = narrowed(allowed_first_ids if i == 0 else None, constrain, out)
        if allowed is not None:
            logits = only(logits, allowed) if allowed else None
        if logits is None or (i == 0 and should_stop is not None and should_stop()):
            return  # no token allowed, stopped, or the next step abandoned mid-pass
        token = choose(logits)
        if stats is not None:
            record(stats, logits, token)
        out.append(token)
        yield token
        # P + i tokens fed so far (the cache may hold more: a verified draft is pending)
        if token in stops or i + 1 == max_new_tokens or len(prompt_ids) + i + 1 >= cache.capacity:
            return
        step = functools.partial(successor.after, token, max_new_tokens - i - 2)
        logits = unless_stopped(cache, should_stop, step)


@dataclass
class Choice:
    """How each token is chosen from its step's logits: greedy or sampled (`sample`),
    with the prompt's own n-grams mixed in at weight `file_ngrams` (`file_ngrams.mix`;
    `index` holds the prompt and the tokens generated so far)."""

    temperature: float
    top_k: int
    top_p: float
    generator: torch.Generator | None
    index: PromptLookup | None
    file_ngrams: float = 0.0

    def __call__(self, logits: torch.Tensor) -> int:
        if self.file_ngrams > 0 and self.index is not None:
            logits = mix(logits, self.index.follows(), self.file_ngrams)
        return sample(logits, self.temperature, self.top_k, self.top_p, self.generator)


def narrowed(
    allowed: Collection[int] | None,
    constrain: Callable[[list[int]], Collection[int] | None] | None,
    out: list[int],
) -> Collection[int] | None:
    """`allowed` restricted further by `constrain(out)`, unless that leaves nothing of it."""
    more = constrain(out) if constrain is not None else None
    if more is None or allowed is None:
        return more if allowed is None else allowed
    both = set(allowed).intersection(more)
    return both or allowed


def record(stats: GenerationStats, logits: torch.Tensor, token: int) -> None:
    """Add `token`'s log-probability and the step's likeliest tokens to `stats`."""
    logp = torch.log_softmax(logits.float(), -1)
    top = torch.topk(logp, min(TOP_ALTERNATIVES, logp.numel()))
    stats.logprobs.append(float(logp[token]))
    stats.top.append((top.indices.tolist(), top.values.tolist()))


def check_room(prompt_tokens: int, cache: KVCache) -> None:
    if not prompt_tokens:
        raise ValueError("generate needs a non-empty prompt")
    if prompt_tokens >= cache.capacity:
        raise ValueError(
            f"prompt of {prompt_tokens} tokens leaves no room in a context of {cache.capacity}"
        )


def sampling_generator(temperature: float, seed: int | None, device) -> torch.Generator | None:
    """The random generator a sampled generation draws from (None when greedy)."""
    if temperature <= 0.0:
        return None
    generator = torch.Generator(device=device)
    generator.manual_seed(seed if seed is not None else torch.seed())
    return generator


def ngram_index(prompt_ids: list[int], held: list[int], keep: int) -> PromptLookup:
    """The n-grams of the prompt, and of the cache's last output (`last_output`)."""
    return PromptLookup(prompt_ids, recent=last_output(held, keep))


def last_output(held: list[int], keep: int) -> list[int]:
    """What a cache held past the `keep` tokens a new prompt shares with it (the last
    output), with the few shared tokens before it, so that an n-gram running into it is
    found; cut where a position was written from embeddings (no token id)."""
    recent = held[max(0, keep - LOOKUP_OVERLAP) :] if len(held) > keep else []
    return recent[: recent.index(UNKNOWN_TOKEN)] if UNKNOWN_TOKEN in recent else recent


class Successor:
    """The logits that follow each generated token: one decode step, or while `drafting`
    a draft from the `index` of the prompt's n-grams (prompt lookup) checked in one pass,
    whose accepted tokens' logits are then handed out without computing anything. Each
    generated token joins the index."""

    def __init__(
        self,
        lm: GPTBigCodeForCausalLM,
        cache: KVCache,
        index: PromptLookup | None,
        drafting: bool = False,
    ):
        self.lm, self.cache = lm, cache
        self.index, self.drafting = index, drafting
        # the accepted draft tokens not yet generated, each with the logits after it
        self.pending: list[tuple[int, torch.Tensor]] = []

    def after(self, token: int, wanted: int) -> torch.Tensor:
        """Logits after `token`; `wanted` is how many more tokens may follow it."""
        if self.index is not None:
            self.index.extend((token,))
        if self.pending and self.pending[0][0] == token:  # the draft guessed this token
            return self.pending.pop(0)[1]
        if self.pending:  # a constraint or the n-grams chose another token: void the rest
            self.cache.truncate(self.cache.length - len(self.pending))
            self.pending = []
        if not self.drafting or self.index is None:
            return decode_one(self.lm, self.cache, token)
        draft = self.index.draft(min(wanted, self.cache.capacity - self.cache.length - 1))
        if not draft:
            return decode_one(self.lm, self.cache, token)
        rows = verify(self.lm, self.cache, token, draft)  # rows[j]: after draft[:j]
        kept = 0
        while kept < len(draft) and int(torch.argmax(rows[kept])) == draft[kept]:
            kept += 1
        self.cache.truncate(self.cache.length - (len(draft) - kept))  # drop the rejected
        self.pending = list(zip(draft[:kept], rows[1 : kept + 1], strict=True))
        return rows[0]
