"""HF transformers' GPTBigCode as the reference, holding the same random weights as ours."""

from __future__ import annotations

import torch

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM


def hf_and_ours(seed: int = 0, attn: str = "eager", **kw):
    transformers = __import__("transformers")
    transformers.logging.set_verbosity_error()
    attn = kw.pop("attn_implementation", attn)
    torch.manual_seed(seed)
    hf = transformers.GPTBigCodeForCausalLM(
        transformers.GPTBigCodeConfig(**kw, attn_implementation=attn)
    ).eval()
    ours = GPTBigCodeForCausalLM(GPTBigCodeConfig(**kw, attn_implementation=attn)).eval()
    result = ours.load_state_dict(hf.state_dict(), strict=False)
    assert not result.missing_keys and not result.unexpected_keys, result
    return hf, ours
