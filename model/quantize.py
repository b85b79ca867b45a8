"""Opt-in weight-only int8 quantisation of the linear layers, for CPU decoding.

At batch 1 a decode step reads every weight once, so its speed is set by bytes moved:
int8 weights with one bf16 scale per output row move a quarter of fp32's bytes. The
matrix product runs in PyTorch's `_weight_int8pack_mm` kernel with bf16 activations;
embeddings, layer norms and biases stay as they are. The LM head gets its own int8 copy
so the (tied) embedding table keeps full precision for lookups.

That kernel is made for a few rows at a time; over a prompt it is slower than float32
(`docs/benchmarks.md`, "Wide passes"). Where the CPU multiplies bf16 natively (AVX-512
BF16, AMX), each layer also keeps a bf16 copy of its weight for passes of `WIDE_ROWS`
rows or more (a prompt, scored lines; not typed keys or checked drafts): a prefill
then runs at bf16's speed and a decode step still reads int8's quarter of the bytes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .layers import WIDE_ROWS, frozen_bias

if TYPE_CHECKING:  # modeling imports this module to quantize in from_pretrained
    from .modeling import GPTBigCodeForCausalLM


def native_bf16() -> bool:
    """The CPU multiplies bf16 in hardware (AVX-512 BF16 or AMX); else bf16 is emulated
    and slower than float32."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear, wide: bool = False):
        super().__init__()
        w = linear.weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.register_buffer(
            "weight_int8", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        )
        self.register_buffer("scales", scales.to(torch.bfloat16))
        # the original weight in bf16, for passes of WIDE_ROWS rows or more (None: none)
        self.register_buffer("weight_wide", w.to(torch.bfloat16) if wide else None)
        self.bias = frozen_bias(linear)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).to(torch.bfloat16)
        if self.weight_wide is not None and rows.shape[0] >= WIDE_ROWS:
            y = nn.functional.linear(rows, self.weight_wide)
        else:
            y = torch._weight_int8pack_mm(rows, self.weight_int8, self.scales)
        y = y.to(x.dtype).view(*shape[:-1], self.out_features)
        return y + self.bias if self.bias is not None else y


def _linears(lm: GPTBigCodeForCausalLM) -> list[nn.Module]:
    blocks = lm.transformer.h
    return [m for b in blocks for m in (b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj)] + [
        lm.lm_head
    ]


def quantize_int8(lm: GPTBigCodeForCausalLM, wide: bool | None = None) -> GPTBigCodeForCausalLM:
    """Replace the blocks' linear layers and the LM head in place; returns `lm`. `wide`:
    keep bf16 copies for passes of many rows, whose attention then runs in bf16 too
    (None: where the CPU has native bf16)."""
    if lm.device.type != "cpu":
        raise ValueError("int8 weight-only quantisation is implemented for CPU decoding only")
    wide = native_bf16() if wide is None else wide
    for block in lm.transformer.h:
        block.attn.c_attn = Int8Linear(block.attn.c_attn, wide)
        block.attn.c_proj = Int8Linear(block.attn.c_proj, wide)
        block.mlp.c_fc = Int8Linear(block.mlp.c_fc, wide)
        block.mlp.c_proj = Int8Linear(block.mlp.c_proj, wide)
        block.attn.wide_dtype = torch.bfloat16 if wide else None
    lm.lm_head = Int8Linear(lm.lm_head, wide)
    lm.config.extra["quantized"] = "int8"
    return lm


def wide_bytes(lm: GPTBigCodeForCausalLM) -> int:
    """What bf16 copies of the linears `quantize_int8` replaces would take."""
    return 2 * sum(linear.weight.numel() for linear in _linears(lm))


def wide_passes(lm: GPTBigCodeForCausalLM) -> bool:
    """The int8 model keeps bf16 copies for passes of many rows."""
    return getattr(lm.lm_head, "weight_wide", None) is not None
