"""The GPTBigCode block: attention with one shared key/value head (MQA), MLP, layer norms.

This is the only implementation of the block arithmetic. The HF-compatible forward and
the generation engine's one-token decode step both run it; what differs between them is
where keys and values are kept (a `KVStore`: the preallocated `KVCache` or HF's merged
tuple past) and the mask. Inner layers are called as functions (`linear`,
`F.layer_norm`) rather than modules: at batch 1 a small model's decode step is dominated
by per-call overhead.

Shape letters: B batch, T new tokens, S keys (past + new), H query heads, hd head size,
D = H*hd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .config import GPTBigCodeConfig


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's tanh approximation written out, as HF's NewGELUActivation computes it.
    return (
        0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    )


ACTIVATION_FNS = {
    "relu": F.relu,
    "silu": F.silu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


def linear(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """`layer(x)` without the module call's overhead (hooks are never used here): a
    plain nn.Linear, an int8 (model/quantize.py) or a packed one (model/packed.py)."""
    if type(layer) is nn.Linear:
        return F.linear(x, layer.weight, layer.bias)
    return layer.forward(x)


def frozen_bias(layer: nn.Linear) -> nn.Parameter | None:
    """A copy of `layer`'s bias for a linear that replaces it at inference (int8, packed)."""
    if layer.bias is None:
        return None
    return nn.Parameter(layer.bias.detach().clone(), requires_grad=False)


def layer_norm(ln: nn.LayerNorm, x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, ln.eps)


class KVStore(Protocol):
    def write(self, layer: int, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep one layer's new merged key/value (B, [H,] T, 2*hd); return that layer's
        keys and values over all positions, past and new."""
        ...


@dataclass
class AttentionMask:
    """The mask of one forward pass, built once and shared by every layer.

    `mask` is boolean (B, 1, T, S), True where a query may attend; None when every query
    sees every key it is causally allowed to and `causal` says whether T > 1 needs the
    causal triangle (which SDPA and flash-attn then apply themselves).
    """

    mask: torch.Tensor | None
    causal: bool
    _bias_cache: dict = field(default_factory=dict, repr=False, compare=False)

    def folded_bias(self, heads: int, dtype: torch.dtype) -> torch.Tensor:
        """The first sequence's mask as an additive bias with one row per (head, query),
        (heads * T, S), for attention with the heads folded into the query rows; built
        once per forward pass, on first use."""
        key = (heads, dtype)
        if key not in self._bias_cache:
            allowed = self.mask[0, 0].repeat(heads, 1)
            zeros = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
            self._bias_cache[key] = zeros.masked_fill_(~allowed, float("-inf"))
        return self._bias_cache[key]


NO_MASK = AttentionMask(None, causal=False)  # one new token: it sees every key


def build_attention_mask(
    attention_mask: torch.Tensor | None, batch: int, new: int, past: int, device: torch.device
) -> AttentionMask:
    total = past + new
    if attention_mask is not None and attention_mask.dim() == 4:  # the caller's own mask
        if attention_mask.shape != (batch, 1, new, total):
            raise ValueError(
                f"a 4-D attention_mask has shape {tuple(attention_mask.shape)}, expected "
                f"({batch}, 1, {new}, {total})"
            )
        return AttentionMask(attention_mask.bool(), causal=False)
    if attention_mask is not None and bool(attention_mask.all()):
        attention_mask = None  # no padding: let the kernels use their causal fast path
    if attention_mask is None:
        if new == 1:
            return NO_MASK
        if past == 0:
            return AttentionMask(None, causal=True)
        # New tokens after a past: query i sees keys [0, past + i].
        causal = torch.ones(new, total, dtype=torch.bool, device=device).tril(diagonal=past)
        return AttentionMask(causal[None, None], causal=False)
    if attention_mask.shape != (batch, total):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}, expected ({batch}, {total}) "
            "covering past and new tokens"
        )
    causal = torch.ones(new, total, dtype=torch.bool, device=device).tril(diagonal=past)
    mask = causal[None, None] & attention_mask.bool()[:, None, None, :]  # (B, 1, T, S)
    # A query on a padding position may see no key at all; let it see everything so the
    # softmax stays finite. Its output is never used.
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    return AttentionMask(mask, causal=False)


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except Exception:
        return False
    return True


def flash_problem(device: torch.device, dtype: torch.dtype) -> str | None:
    """Why flash_attention_2 cannot run here, or None. Checked at load and at run time."""
    if not flash_attn_available():
        return (
            "attn_implementation='flash_attention_2' needs the flash_attn package "
            "(pip install 'bigcode-ls[cuda]' on a CUDA machine); use 'sdpa' otherwise"
        )
    if device.type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        return (
            "flash_attention_2 runs only on CUDA in float16/bfloat16, "
            f"got {device.type} {str(dtype).replace('torch.', '')}; use 'sdpa'"
        )
    return None


FEW_QUERIES = 16  # up to this many new tokens take the folded path (a draft is 9)
# From this many rows a pass of an int8 model with bf16 copies computes in bf16
# (model/quantize.py). The kernels cross at 8 rows at 164 M parameters and at 16 at
# 11.8 M (bench/wide_passes.py); typed keys and checked drafts (up to FEW_QUERIES rows)
# stay on the decode step's int8 kernel, so a draft is accepted only where the step
# itself would have chosen its tokens.
WIDE_ROWS = FEW_QUERIES + 1


def few_queries_on_cpu(q: torch.Tensor, mask: AttentionMask, multi_query: bool, dropout) -> bool:
    """Whether `GPTBigCodeAttention._folded` serves this pass: one sequence of a few
    float32 queries after a past (an explicit causal mask), one key/value head, on a CPU.
    Long prompts keep SDPA's blocked kernel, which never holds all T x S scores."""
    return (
        1 < q.shape[2] <= FEW_QUERIES  # first: a decode step (one query) leaves at once
        and multi_query
        and not dropout
        and q.device.type == "cpu"
        and q.dtype == torch.float32
        and q.shape[0] == 1
        and mask.mask is not None
    )


class GPTBigCodeAttention(nn.Module):
    def __init__(self, config: GPTBigCodeConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.kv_heads = config.kv_heads
        self.embed_dim = config.n_embd
        self.multi_query = config.multi_query
        self.scale = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        # MQA: [q (D) | k (hd) | v (hd)]; MHA: per head [q | k | v] (HF's layout).
        self.c_attn = nn.Linear(self.embed_dim, self.embed_dim + 2 * self.kv_heads * self.head_dim)
        self.c_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.attn_dropout = config.attn_pdrop
        self.resid_dropout = config.resid_pdrop
        # Set with an int8 model's bf16 copies (model/quantize.py): the attention of a
        # long float32 pass runs in this type (a prompt's attention is then a third of
        # its time at 164 M instead of a half; softmax still accumulates in float32).
        self.wide_dtype: torch.dtype | None = None

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> query (B, H, T, hd) and merged key/value in HF's past format."""
        B, T, _ = x.shape
        qkv = linear(self.c_attn, x)
        if self.multi_query:
            q, kv = qkv.split((self.embed_dim, 2 * self.head_dim), dim=-1)  # kv: (B, T, 2*hd)
            q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        else:
            qkv = qkv.view(B, T, self.n_head, 3 * self.head_dim).transpose(1, 2)
            q, kv = qkv.split((self.head_dim, 2 * self.head_dim), dim=-1)  # kv: (B, H, T, 2*hd)
        return q, kv

    def forward(
        self,
        x: torch.Tensor,
        store: KVStore,
        mask: AttentionMask,
        head_mask: torch.Tensor | None = None,
        want_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = x.shape
        q, kv = self.split_qkv(x)
        k, v = store.write(self.layer_idx, kv)  # (B, [H,] S, hd) each
        if self.multi_query:
            k, v = k.unsqueeze(1), v.unsqueeze(1)  # (B, 1, S, hd)
        impl = self.config.attn_implementation
        weights = None
        if impl == "eager" or want_weights:
            y, weights = self._eager(q, k, v, mask, head_mask)
        elif impl == "sdpa":
            y = self._sdpa(q, k, v, mask, head_mask)
        else:
            y = self._flash(q, k, v, mask, head_mask)
        y = linear(self.c_proj, y.transpose(1, 2).reshape(B, T, self.embed_dim))
        return F.dropout(y, self.resid_dropout, self.training), weights

    def _eager(self, q, k, v, mask: AttentionMask, head_mask):
        """The reference: HF's arithmetic, including the fp32 softmax un-scaling trick."""
        softmax_dtype = torch.float32 if self.config.attention_softmax_in_fp32 else q.dtype
        upcast = q.dtype != softmax_dtype
        # In half precision the scores are divided by (layer_idx + 1) before the matmul so
        # that deep layers do not overflow, then multiplied back in fp32.
        unscale = (
            self.layer_idx + 1 if upcast and self.config.scale_attention_softmax_in_fp32 else 1
        )
        scores = torch.matmul(q * (self.scale / unscale), k.transpose(-1, -2))  # (B, H, T, S)
        scores = scores.to(softmax_dtype) * unscale
        T, S = scores.shape[-2:]
        m = mask.mask
        if m is None and mask.causal:
            m = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=S - T)
        if m is not None:
            scores = scores.masked_fill(~m, torch.finfo(softmax_dtype).min)
        probs = torch.softmax(scores, dim=-1).to(q.dtype)
        probs = F.dropout(probs, p=self.attn_dropout, training=self.training)
        if head_mask is not None:
            probs = probs * head_mask
        return torch.matmul(probs, v), probs

    def _sdpa(self, q, k, v, mask: AttentionMask, head_mask):
        dropout = self.attn_dropout if self.training else 0.0
        if few_queries_on_cpu(q, mask, self.multi_query, dropout):
            return self._folded(q, k, v, mask, head_mask)
        if self.multi_query and q.shape[2] == 1 and mask.mask is None and not dropout:
            # One query token and one key/value head: fold the heads into the query rows
            # of a single head, (B, 1, H, hd) x (B, 1, S, hd), with no mask and no
            # grouped-query bookkeeping. The decode step's hot path.
            y = F.scaled_dot_product_attention(q.transpose(1, 2), k, v, scale=self.scale)
            y = y.transpose(1, 2)  # (B, H, 1, hd)
        else:
            wide = self.wide_dtype if q.shape[2] >= WIDE_ROWS else None
            back = q.dtype
            if wide is not None:  # one key/value head: its copy is small beside the queries
                q, k, v = q.to(wide), k.to(wide), v.to(wide)
            # SDPA's grouped-query mode reads the one key/value head without a copy per head.
            y = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask.mask,
                dropout_p=dropout,
                is_causal=mask.causal,
                scale=self.scale,
                enable_gqa=self.multi_query,
            ).to(back)
        # A head mask scales attention probabilities; per head that equals scaling outputs.
        return y * head_mask if head_mask is not None else y

    def _folded(self, q, k, v, mask: AttentionMask, head_mask):
        """A few new tokens over a cache (a draft's verify pass, typed keys) with one
        key/value head: every head's queries as rows of one matmul against the shared
        keys, an additive mask, softmax, one matmul with the values. On a CPU this does
        the same arithmetic as SDPA's masked grouped-query kernel in three quarters of the
        time (9 queries over 1,500 keys: 213 against 288 us, docs/benchmarks.md §11)."""
        B, H, T, hd = q.shape
        bias = mask.folded_bias(H, q.dtype)  # (H*T, S)
        scores = torch.addmm(bias, q.reshape(H * T, hd), k[0, 0].t(), alpha=self.scale)
        y = (torch.softmax(scores, dim=-1) @ v[0, 0]).view(B, H, T, hd)
        return y * head_mask if head_mask is not None else y

    def _flash(self, q, k, v, mask: AttentionMask, head_mask):
        problem = flash_problem(q.device, q.dtype)
        if problem is None and mask.mask is not None and not mask.mask.all():
            problem = "flash_attention_2 here does not support padded batches; use 'sdpa'"
        if problem:
            raise RuntimeError(problem)
        from flash_attn import flash_attn_func

        y = flash_attn_func(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            dropout_p=self.attn_dropout if self.training else 0.0,
            softmax_scale=self.scale,
            causal=q.shape[2] > 1,  # flash-attn aligns the triangle to the newest key
        ).transpose(1, 2)
        return y * head_mask if head_mask is not None else y


class GPTBigCodeMLP(nn.Module):
    def __init__(self, config: GPTBigCodeConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.inner_dim)
        self.c_proj = nn.Linear(config.inner_dim, config.n_embd)
        self.act = ACTIVATION_FNS[config.activation_function]
        self.dropout = config.resid_pdrop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = linear(self.c_proj, self.act(linear(self.c_fc, x)))
        return F.dropout(y, self.dropout, self.training)


class GPTBigCodeBlock(nn.Module):
    def __init__(self, config: GPTBigCodeConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPTBigCodeAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPTBigCodeMLP(config)

    def forward(
        self,
        x: torch.Tensor,
        store: KVStore,
        mask: AttentionMask,
        head_mask: torch.Tensor | None = None,
        want_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, D) through one block; its new keys and values go to `store`."""
        a, weights = self.attn(layer_norm(self.ln_1, x), store, mask, head_mask, want_weights)
        x = x + a
        x = x + self.mlp(layer_norm(self.ln_2, x))
        return x, weights
