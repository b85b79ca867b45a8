"""Where a forward pass keeps keys and values: the two `KVStore`s of model/layers.py.

`KVCache` is preallocated for one sequence (or a few, as a batch): keys and values for
every layer are written in place (gpt-fast style), so decoding a token allocates nothing
that grows with the sequence. It owns its length and the token ids stored, together:
`advance` moves both, `truncate(n)` rolls both back to the first n tokens in O(1) (the
next write overwrites what lay beyond), and `reuse(ids)` applies the one reuse rule of
the generation engine. Because a pass commits only when it advances, it can be abandoned
between blocks without harm: `interruptible(should_stop)` asks for that.

`MergedPast` is HF's legacy format: one merged key/value tensor per layer, concatenated
with each forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence

import torch

from .config import GPTBigCodeConfig

UNKNOWN_TOKEN = -1  # a position written from embeddings: it never matches a prompt's id


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class KVCache:
    def __init__(
        self,
        config: GPTBigCodeConfig,
        capacity: int | None = None,
        *,
        batch: int = 1,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        capacity = config.n_positions if capacity is None else min(capacity, config.n_positions)
        if capacity <= 0:
            raise ValueError("KVCache capacity must be positive")
        self.head_dim = config.head_dim
        heads = () if config.multi_query else (config.n_head,)
        # MQA: (L, B, cap, hd); MHA: (L, B, H, cap, hd). The sequence axis is -2 either way.
        shape = (config.n_layer, batch, *heads, capacity, config.head_dim)
        self.k = torch.zeros(shape, dtype=dtype, device=device)
        self.v = torch.zeros(shape, dtype=dtype, device=device)
        # Per-layer views, made once: indexing them is cheaper on the per-token path.
        self._k = list(self.k.unbind(0))
        self._v = list(self.v.unbind(0))
        self.capacity = capacity
        self._tokens: list[int] = []
        # asked before each block of a forward pass into this cache (`interruptible`)
        self.should_stop: Callable[[], bool] | None = None

    @property
    def length(self) -> int:
        return len(self._tokens)

    @property
    def tokens(self) -> list[int]:
        """A copy of the ids whose keys and values are stored (UNKNOWN_TOKEN where none
        was given)."""
        return list(self._tokens)

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def write(self, layer: int, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one layer's new merged key/value, (B, [H,] T, 2*hd), after the current
        length; return that layer's keys and values up to and including them."""
        start = self.length
        end = start + kv.shape[-2]
        if end > self.capacity:
            raise ValueError(f"KVCache overflow: {end} tokens > capacity {self.capacity}")
        k, v = self._k[layer], self._v[layer]
        k[..., start:end, :] = kv[..., : self.head_dim]
        v[..., start:end, :] = kv[..., self.head_dim :]
        return k[..., :end, :], v[..., :end, :]

    def advance(self, n: int, tokens: Sequence[int] | None = None) -> None:
        """Called once every layer has written n new positions: they become part of the
        cache, with their token ids when known."""
        if tokens is not None and len(tokens) != n:
            raise ValueError(f"advance({n}) given {len(tokens)} token ids")
        self._tokens.extend(tokens if tokens is not None else [UNKNOWN_TOKEN] * n)

    @contextlib.contextmanager
    def interruptible(self, should_stop: Callable[[], bool] | None) -> Iterator[None]:
        """Within: a forward pass into this cache asks `should_stop()` before each block
        and raises `Interrupted` once it is true, so that work nobody waits for any more
        ends within a block's time instead of a whole pass's."""
        previous, self.should_stop = self.should_stop, should_stop
        try:
            yield
        finally:
            self.should_stop = previous

    def truncate(self, n: int) -> None:
        """Keep the first n tokens; later writes overwrite the rest."""
        del self._tokens[max(0, n) :]

    def reusable(self, ids: Sequence[int]) -> int:
        """How many leading tokens of a prompt `ids` can be kept: the common prefix, but
        never the prompt's last token, whose logits the first new token is drawn from."""
        return min(common_prefix_len(self._tokens, ids), len(ids) - 1)

    def reuse(self, ids: Sequence[int]) -> int:
        """Roll back to what `ids` can reuse; returns that many tokens."""
        keep = self.reusable(ids)
        self.truncate(keep)
        return keep


class MergedPast:
    """HF's tuple past as a KVStore: each write concatenates, `presents` collects the
    merged tensors a caller returns as the new `past_key_values`."""

    def __init__(self, past: Sequence[torch.Tensor] | None, head_dim: int):
        self.past = past
        self.head_dim = head_dim
        self.presents: list[torch.Tensor] = []

    @property
    def length(self) -> int:
        return 0 if self.past is None else self.past[0].shape[-2]

    def write(self, layer: int, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.past is not None:
            kv = torch.cat((self.past[layer], kv), dim=-2)
        self.presents.append(kv)
        return kv.split((self.head_dim, self.head_dim), dim=-1)
