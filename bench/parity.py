"""Worst differences between our GPTBigCode and HF transformers' on random weights.

The tests assert bounds; this prints the measured worst cases for the docs:
logits, loss, hidden states and attention maps in fp32 over MQA/MHA and every
activation, incremental decoding against the full pass, and bf16 against fp32.

    python -m bench.parity [--json docs/results/parity.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM

ACTIVATIONS = ["gelu_pytorch_tanh", "gelu_new", "gelu", "relu", "silu", "tanh"]
SHAPE = dict(
    vocab_size=500,
    n_positions=256,
    n_embd=128,
    n_layer=4,
    n_head=8,
    n_inner=384,
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    attn_pdrop=0.0,
    bos_token_id=0,
    eos_token_id=0,
)


def pair(attn: str, **kw):
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    hf = transformers.GPTBigCodeForCausalLM(
        transformers.GPTBigCodeConfig(**SHAPE, **kw, attn_implementation=attn)
    ).eval()
    ours = GPTBigCodeForCausalLM(GPTBigCodeConfig(**SHAPE, **kw, attn_implementation=attn)).eval()
    ours.load_state_dict(hf.state_dict(), strict=False)
    return hf, ours


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", type=Path, default=Path("docs/results/parity.json"))
    args = p.parse_args(argv)
    worst = {
        "logits": 0.0,
        "loss": 0.0,
        "hidden_states": 0.0,
        "attentions": 0.0,
        "sdpa_vs_eager": 0.0,
        "incremental_vs_full": 0.0,
        "bf16_vs_fp32": 0.0,
    }
    ids = torch.randint(1, 500, (2, 96), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for mq in (True, False):
            for act in ACTIVATIONS:
                hf, ours = pair("eager", multi_query=mq, activation_function=act)
                a = hf(ids, labels=ids, output_hidden_states=True, output_attentions=True)
                b = ours(ids, labels=ids, output_hidden_states=True, output_attentions=True)
                worst["logits"] = max(worst["logits"], (a.logits - b.logits).abs().max().item())
                worst["loss"] = max(worst["loss"], abs(a.loss.item() - b.loss.item()))
                worst["hidden_states"] = max(
                    worst["hidden_states"],
                    *(
                        (x - y).abs().max().item()
                        for x, y in zip(a.hidden_states, b.hidden_states, strict=True)
                    ),
                )
                worst["attentions"] = max(
                    worst["attentions"],
                    *(
                        (x - y).abs().max().item()
                        for x, y in zip(a.attentions, b.attentions, strict=True)
                    ),
                )
            hf, ours = pair("sdpa", multi_query=mq)
            eager = GPTBigCodeForCausalLM(
                GPTBigCodeConfig(**SHAPE, multi_query=mq, attn_implementation="eager")
            ).eval()
            eager.load_state_dict(ours.state_dict())
            full = ours(ids).logits
            worst["sdpa_vs_eager"] = max(
                worst["sdpa_vs_eager"], (full - eager(ids).logits).abs().max().item()
            )
            out = ours(ids[:, :64], use_cache=True)
            pieces, past = [out.logits], out.past_key_values
            for t in range(64, 96):
                step = ours(ids[:, t : t + 1], past_key_values=past, use_cache=True)
                pieces.append(step.logits)
                past = step.past_key_values
            worst["incremental_vs_full"] = max(
                worst["incremental_vs_full"], (torch.cat(pieces, 1) - full).abs().max().item()
            )
            half = GPTBigCodeForCausalLM(ours.config).eval()
            half.load_state_dict(ours.state_dict())
            worst["bf16_vs_fp32"] = max(
                worst["bf16_vs_fp32"],
                (half.to(torch.bfloat16)(ids).logits.float() - full).abs().max().item(),
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(worst, indent=1) + "\n")
    for k, v in worst.items():
        print(f"{k:>22}: {v:.2e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
