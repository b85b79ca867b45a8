"""Opt-in weight-only int8 quantisation of the linear layers, for CPU decoding.

At batch 1 a decode step reads every weight once, so its speed is set by bytes moved:
int8 weights with one bf16 scale per output row move a quarter of fp32's bytes. The
matrix product runs in PyTorch's `_weight_int8pack_mm` kernel with bf16 activations;
embeddings, layer norms and biases stay as they are. The LM head gets its own int8 copy
so the (tied) embedding table keeps full precision for lookups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from .layers import frozen_bias

if TYPE_CHECKING:  # modeling imports this module to quantize in from_pretrained
    from .modeling import GPTBigCodeForCausalLM


class Int8Linear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()
        scales = w.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        self.register_buffer(
            "weight_int8", torch.round(w / scales[:, None]).clamp(-127, 127).to(torch.int8)
        )
        self.register_buffer("scales", scales.to(torch.bfloat16))
        self.bias = frozen_bias(linear)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch._weight_int8pack_mm(
            x.reshape(-1, shape[-1]).to(torch.bfloat16), self.weight_int8, self.scales
        )
        y = y.to(x.dtype).view(*shape[:-1], self.out_features)
        return y + self.bias if self.bias is not None else y


def quantize_int8(lm: GPTBigCodeForCausalLM) -> GPTBigCodeForCausalLM:
    """Replace the blocks' linear layers and the LM head in place; returns `lm`."""
    if lm.device.type != "cpu":
        raise ValueError("int8 weight-only quantisation is implemented for CPU decoding only")
    for block in lm.transformer.h:
        block.attn.c_attn = Int8Linear(block.attn.c_attn)
        block.attn.c_proj = Int8Linear(block.attn.c_proj)
        block.mlp.c_fc = Int8Linear(block.mlp.c_fc)
        block.mlp.c_proj = Int8Linear(block.mlp.c_proj)
    lm.lm_head = Int8Linear(lm.lm_head)
    lm.config.extra["quantized"] = "int8"
    return lm
