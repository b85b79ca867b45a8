"""CUDA checks in one short run: our GPTBigCode against HF transformers on a GPU.

At a shape (default santacoder's 1.1 B, random weights, shared by both models):
- correctness: fp32 logits against HF (eager), bf16 against fp32, each attention
  implementation (`sdpa`; PyTorch's flash and math SDPA kernels forced one at a time;
  `flash_attention_2` when the flash_attn package is installed, else the reason), greedy
  tokens of ours against HF's in bf16;
- speed in bf16: prefill tokens/s on N prompt tokens and decode tokens/s (time of 65
  greedy tokens minus 1), ours against HF's `generate()`, CUDA-synchronised;
- the training step of a small shape (tokens/s), eager and, with --compile, compiled.

Every check records its own error instead of stopping the run, and the results go to one
JSON file: a GPU lease is short, and a partial answer beats none.

    python -m bench.gpu_check --json $OUT/gpu_check.json [--shape santacoder] [--compile]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import traceback
from pathlib import Path

import torch

from bench.engine import bench_hf, bench_ours, best_of, sync
from model import GPTBigCodeConfig, GPTBigCodeForCausalLM
from model.generate import generate
from model.layers import flash_problem

SHAPES = {
    "santacoder": dict(n_embd=2048, n_layer=24, n_head=16, vocab_size=49280, n_positions=2048),
    "tiny_starcoder_py": dict(
        n_embd=768, n_layer=20, n_head=12, vocab_size=49152, n_positions=8192
    ),
    "test": dict(n_embd=64, n_layer=2, n_head=4, vocab_size=300, n_positions=512),
}
TRAIN_SHAPE = dict(n_embd=320, n_layer=8, n_head=5, vocab_size=8192, n_positions=2048)


def checked(results: dict, name: str):
    """Decorator-like runner: results[name] = fn() or the error it raised."""

    def run(fn):
        t0 = time.perf_counter()
        try:
            results[name] = fn()
        except Exception as e:  # noqa: BLE001 - a failed check is a result, not a stop
            results[name] = {
                "error": f"{type(e).__name__}: {e}",
                "trace": traceback.format_exc()[-1500:],
            }
        print(f"{name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        return fn

    return run


def hf_pair(shape: dict, device: str):
    """HF's model (fp32, eager) and ours holding a copy of the same random weights."""
    import transformers

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    with torch.device(device):
        hf = transformers.GPTBigCodeForCausalLM(
            transformers.GPTBigCodeConfig(**shape, attn_implementation="eager")
        ).eval()
        ours = GPTBigCodeForCausalLM(GPTBigCodeConfig(**shape)).eval()
    missing = ours.load_state_dict(hf.state_dict(), strict=False)
    assert not missing.missing_keys, missing
    ours.tie_weights()
    return hf, ours


def set_attn(model, impl: str) -> None:
    model.config.attn_implementation = impl  # read at every forward
    if hasattr(model.config, "_attn_implementation"):
        model.config._attn_implementation = impl


def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    with torch.inference_mode():
        return model(ids).logits.float()


def correctness(hf, ours, device: str, n: int) -> dict:
    from torch.nn.attention import SDPBackend, sdpa_kernel

    g = torch.Generator().manual_seed(1)
    top = min(8000, ours.config.vocab_size)
    ids = torch.randint(1, top, (1, n), generator=g).to(device)
    out: dict = {}
    ref = logits_of(hf, ids)
    set_attn(ours, "eager")
    out["fp32_eager_vs_hf_max_abs"] = (logits_of(ours, ids) - ref).abs().max().item()
    set_attn(ours, "sdpa")
    out["fp32_sdpa_vs_hf_max_abs"] = (logits_of(ours, ids) - ref).abs().max().item()
    out["logit_scale"] = ref.abs().max().item()
    hf.to(torch.bfloat16)
    ours.to(torch.bfloat16)
    set_attn(hf, "sdpa")
    bf = logits_of(ours, ids)
    out["bf16_sdpa_vs_fp32_max_abs"] = (bf - ref).abs().max().item()
    out["bf16_argmax_agreement_vs_fp32"] = (bf.argmax(-1) == ref.argmax(-1)).float().mean().item()
    out["bf16_vs_hf_bf16_max_abs"] = (bf - logits_of(hf, ids)).abs().max().item()
    for name, backend in (("flash", SDPBackend.FLASH_ATTENTION), ("math", SDPBackend.MATH)):
        try:
            with sdpa_kernel(backend):
                k = logits_of(ours, ids)
            out[f"bf16_sdpa_{name}_kernel_vs_default_max_abs"] = (k - bf).abs().max().item()
        except RuntimeError as e:
            out[f"bf16_sdpa_{name}_kernel"] = f"unavailable: {e}"[:300]
    problem = flash_problem(ids.device, torch.bfloat16)
    if problem:
        out["flash_attention_2"] = f"not run: {problem}"
    else:
        set_attn(ours, "flash_attention_2")
        out["bf16_flash2_vs_sdpa_max_abs"] = (logits_of(ours, ids) - bf).abs().max().item()
        set_attn(ours, "sdpa")
    short = ids[0, :16].tolist()
    mine = list(generate(ours, short, 64))
    with torch.inference_mode():
        theirs = hf.generate(
            ids[:, :16],
            attention_mask=torch.ones_like(ids[:, :16]),
            max_new_tokens=64,
            min_new_tokens=64,
            do_sample=False,
            pad_token_id=0,
        )[0, 16:].tolist()
    same = sum(a == b for a, b in zip(mine, theirs, strict=False))
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), None
    )
    out["bf16_greedy_same_as_hf"] = f"{same}/{len(mine)}"
    out["bf16_greedy_first_difference"] = first_diff
    return out


def speed(hf, ours, n_prefill: int, n_decode: int, repeats: int) -> dict:
    """bench/engine.py's measurements (prefill tok/s, decode tok/s as the time of
    n_decode + 1 tokens minus 1), on whatever device the models are."""
    g = torch.Generator().manual_seed(2)
    top = min(8000, ours.config.vocab_size)
    prompt = torch.randint(1, top, (n_prefill,), generator=g).tolist()
    o_pre, o_dec, _ = bench_ours(ours, prompt, prompt[:16], n_decode, repeats)
    h_pre, h_dec, _ = bench_hf(hf, prompt, prompt[:16], n_decode, repeats)
    return {
        "prefill_tokens": n_prefill,
        "decode_tokens": n_decode,
        "ours_prefill_tok_s": o_pre,
        "hf_prefill_tok_s": h_pre,
        "ours_decode_tok_s": o_dec,
        "hf_decode_tok_s": h_dec,
        "prefill_ratio": o_pre / h_pre,
        "decode_ratio": o_dec / h_dec,
    }


def train_step_speed(device: str, compile_: bool, steps: int = 12, batch: int = 16) -> dict:
    """Tokens/s of forward + backward + fused AdamW on the training shape, bf16 autocast."""
    torch.manual_seed(0)
    model = GPTBigCodeForCausalLM(GPTBigCodeConfig(**TRAIN_SHAPE, multi_query=True)).to(device)
    model.train()
    fused = device == "cuda"
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=fused)
    step_model = torch.compile(model) if compile_ else model
    x = torch.randint(0, 8192, (batch, TRAIN_SHAPE["n_positions"]), device=device)

    def one():
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16):
            loss = step_model(x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    one(), one()  # warm-up (and compilation)
    sync()
    warm = time.perf_counter() - t0
    t = best_of(lambda: [one() for _ in range(steps)], 1) / steps
    return {"tokens_per_step": x.numel(), "tok_s": x.numel() / t, "warmup_s": warm}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shape", default="santacoder", choices=list(SHAPES))
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--prefill", type=int, default=1024)
    p.add_argument("--decode", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compile", action="store_true", help="also time a compiled training step")
    p.add_argument("--skip-train-step", action="store_true")
    p.add_argument("--json", type=Path, default=Path("docs/results/gpu_check.json"))
    args = p.parse_args(argv)
    results: dict = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "shape": args.shape,
    }
    try:
        import transformers

        results["transformers"] = transformers.__version__
    except ImportError:
        results["transformers"] = None

    if not args.skip_train_step:
        checked(results, "train_step_eager")(lambda: train_step_speed(args.device, False))
        if args.compile:
            checked(results, "train_step_compiled")(lambda: train_step_speed(args.device, True))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")

    pair: list = []
    checked(results, "build")(lambda: pair.extend(hf_pair(SHAPES[args.shape], args.device)) or "ok")
    if pair:
        hf, ours = pair
        checked(results, "correctness")(lambda: correctness(hf, ours, args.device, 256))
        checked(results, "speed_bf16")(
            lambda: speed(hf, ours, args.prefill, args.decode, args.repeats)
        )
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
