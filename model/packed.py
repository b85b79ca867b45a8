"""float32 linear layers in oneDNN's packed weight layout, for CPU inference.

PyTorch's default CPU linear is MKL's sgemm, which on AMD processors runs its AVX2 code
and repacks the weight on every call. oneDNN (bundled with PyTorch) packs the weight once,
at load, into the blocked layout its own kernels read, and picks kernels by the CPU's
features whoever made it. Measured on this project's 2-core AMD EPYC (AVX-512), one
thread, every linear of the bundled model (43 MB of weights, cold in cache): one row 2.55
→ 1.43 ms, nine rows (a prompt-lookup verify pass) 5.29 → 2.21 ms; a 1280×320 layer on
2,048 rows (prefill) 15.3 → 6.4 ms (docs/benchmarks.md §1). The arithmetic is float32
either way; results differ from sgemm's by rounding (about 1e-6 relative).

Only inference: the packed weight is not a parameter, has no gradient and is not saved.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import frozen_bias
from .modeling import GPTBigCodeForCausalLM

# The packing is tuned for a batch of this many rows; every other count works too.
ROWS_HINT = 9


def onednn_problem() -> str | None:
    """Why packed linears cannot run in this PyTorch, or None."""
    if not torch.backends.mkldnn.is_available():
        return "this PyTorch was built without oneDNN"
    ops = torch.ops.mkldnn
    if not (hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise")):
        return "this PyTorch has no packed-linear operators"
    try:  # a smoke test: a build can list the operators yet lack a kernel for this CPU
        layer = nn.Linear(8, 4)
        with torch.inference_mode():
            x = torch.randn(3, 8)
            if not torch.allclose(PackedLinear(layer)(x), layer(x), atol=1e-5):
                return "packed linears disagree with torch.nn.Linear here"
    except RuntimeError as exc:
        return f"packed linears fail here: {exc}"
    return None


class PackedLinear(nn.Module):
    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach()
        if w.dtype != torch.float32 or w.device.type != "cpu":
            raise ValueError("packed linears take float32 weights on a CPU")
        self.packed = torch.ops.mkldnn._reorder_linear_weight(w, ROWS_HINT)
        self.bias = frozen_bias(linear)
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


def pack_linears(lm: GPTBigCodeForCausalLM) -> int:
    """Replace every float32 nn.Linear of the blocks and the LM head in place (a tied LM
    head gets its own packed copy; the embedding table stays); returns how many."""
    if lm.device.type != "cpu":
        raise ValueError("packed linears are for CPU inference only")
    n = 0
    for owner in [lm, *(m for b in lm.transformer.h for m in (b.attn, b.mlp))]:
        for name, child in list(owner.named_children()):
            if type(child) is nn.Linear and child.weight.dtype == torch.float32:
                setattr(owner, name, PackedLinear(child))
                n += 1
    return n


def parameter_count(lm: GPTBigCodeForCausalLM) -> int:
    """The model's parameters as trained, counting the weights that int8 or packing moved
    out of `parameters()` (a tied LM head's copy is not counted twice)."""
    moved = sum(
        m.in_features * m.out_features
        for name, m in lm.named_modules()
        if hasattr(m, "in_features")
        and type(m) is not nn.Linear
        and not (name == "lm_head" and lm.config.tie_word_embeddings)
    )
    return lm.num_parameters() + moved
