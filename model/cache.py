"""A preallocated key/value cache for one sequence (or a few, as a batch).

Keys and values for every layer are written in place (gpt-fast style), so decoding a
token allocates nothing that grows with the sequence. `truncate(n)` rolls back to the
first n tokens in O(1): the next write simply overwrites what lay beyond. The engine
keeps `tokens` (the ids whose keys and values are stored) so that a new prompt can reuse
the longest common prefix.
"""

from __future__ import annotations

import torch

from .config import GPTBigCodeConfig


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
        self.multi_query = config.multi_query
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
        self.length = 0
        self.tokens: list[int] = []

    @property
    def nbytes(self) -> int:
        return self.k.nbytes + self.v.nbytes

    def write(self, layer: int, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store one layer's new merged key/value, (B, [H,] T, 2*hd), after the current
        length; return that layer's keys and values up to and including them."""
        T = kv.shape[-2]
        start, end = self.length, self.length + T
        if end > self.capacity:
            raise ValueError(f"KVCache overflow: {end} tokens > capacity {self.capacity}")
        k, v = self._k[layer], self._v[layer]
        k[..., start:end, :] = kv[..., : self.head_dim]
        v[..., start:end, :] = kv[..., self.head_dim :]
        return k[..., :end, :], v[..., :end, :]

    def advance(self, n: int) -> None:
        """Called by the model after all layers have written n new positions."""
        self.length += n

    def truncate(self, n: int) -> None:
        """Keep the first n tokens; later writes overwrite the rest."""
        n = max(0, min(n, self.length))
        self.length = n
        del self.tokens[n:]

    def reset(self) -> None:
        self.truncate(0)
