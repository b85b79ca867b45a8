"""Passes of many rows on an int8 model: the int8 kernel against a bf16 copy of the weights.

`_weight_int8pack_mm` is built for a decode step's single row; over a prompt it is slower
than float32. Where the CPU multiplies bf16 natively, `quantize_int8(wide=True)` keeps a
bf16 copy of each weight for passes of `WIDE_ROWS` rows or more. This times one forward
pass of `rows` tokens on a cache that already holds `--held` tokens, for every row count
asked, with the three weight layouts side by side in one process: float32 (packed, as
the server runs it), int8 alone, int8 with the bf16 copies. Random weights at each shape;
one thread unless told.

    python -m bench.wide_passes [--shapes bundled,tiny_starcoder_py] [--rows 1,2,4,...]
        [--threads 1] [--json docs/results/wide_passes.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from bench.engine import SHAPES
from model import GPTBigCodeConfig, GPTBigCodeForCausalLM, layers, quantize
from model.generate import EXTEND_CHUNK, extend, generate, new_cache, prefill
from model.packed import pack_linears
from model.quantize import native_bf16, quantize_int8

SHIPPED_WIDE_ROWS = layers.WIDE_ROWS

# "bf16 copy": every pass on the bf16 copies (to find where they overtake int8);
# "int8+bf16": as shipped, the copies from WIDE_ROWS rows on
LAYOUTS = ("fp32", "int8", "bf16 copy", "int8+bf16")


def shaped(shape: str) -> GPTBigCodeForCausalLM:
    bundled = Path(__file__).resolve().parent.parent / "model" / "bundled"
    if shape == "bundled":
        config = GPTBigCodeConfig.from_pretrained(bundled)
    else:
        config = GPTBigCodeConfig(**SHAPES[shape][0], multi_query=True)
    torch.manual_seed(0)
    return GPTBigCodeForCausalLM(config).eval()


def laid_out(base: GPTBigCodeForCausalLM, layout: str) -> GPTBigCodeForCausalLM:
    lm = GPTBigCodeForCausalLM(base.config)
    lm.load_state_dict(base.state_dict())
    lm.eval()
    if layout == "fp32":
        pack_linears(lm)
    else:
        quantize_int8(lm, wide=layout != "int8")
    return lm


def pass_ms(lm, held: list[int], rows: list[int], repeats: int) -> float:
    """The fastest of `repeats` passes of `rows` tokens after `held` cached ones."""
    cache = new_cache(lm, len(held) + len(rows) + 1)
    if held:
        prefill(lm, cache, held)
    best = float("inf")
    for _ in range(repeats):
        cache.truncate(len(held))
        t0 = time.perf_counter()
        prefill(lm, cache, rows)
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def extend_ms(lm, tokens: list[int], chunk: int) -> float:
    """A cold prompt computed as the server's idle work computes it (`extend`)."""
    cache = new_cache(lm, len(tokens) + 1)
    t0 = time.perf_counter()
    extend(lm, cache, tokens, chunk=chunk)
    return (time.perf_counter() - t0) * 1000


def measure(shape: str, widths: list[int], held_n: int, repeats: int) -> dict:
    base = shaped(shape)
    vocab = base.config.vocab_size
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, vocab, (held_n + max(widths),), generator=g).tolist()
    held = tokens[:held_n]
    out: dict = {"parameters_m": round(sum(p.numel() for p in base.parameters()) / 1e6, 1)}
    greedy = {}
    for layout in LAYOUTS:
        lm = laid_out(base, layout)
        layers.WIDE_ROWS = quantize.WIDE_ROWS = 1 if layout == "bf16 copy" else SHIPPED_WIDE_ROWS
        with torch.inference_mode():
            out[layout] = {
                str(w): round(pass_ms(lm, held, tokens[held_n : held_n + w], repeats), 2)
                for w in widths
            }
            greedy[layout] = list(generate(lm, held[:256], 48))
            out[layout]["prompt"] = {  # the whole held prompt, cold: one pass, or idle passes
                "one_pass_ms": round(pass_ms(lm, [], held, 1), 1),
                **{
                    f"extend_{chunk}_ms": round(extend_ms(lm, held, chunk), 1)
                    for chunk in (32, EXTEND_CHUNK)
                },
            }
    out["greedy_tokens_equal_to_fp32"] = {
        layout: sum(a == b for a, b in zip(greedy[layout], greedy["fp32"], strict=True))
        for layout in LAYOUTS[1:]
    }
    layers.WIDE_ROWS = quantize.WIDE_ROWS = SHIPPED_WIDE_ROWS
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shapes", default="bundled,tiny_starcoder_py")
    p.add_argument("--rows", default="1,4,8,12,16,17,24,32,128,512")
    p.add_argument("--held", type=int, default=1500)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", type=Path, default=Path("docs/results/wide_passes.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.rows.split(",")]
    result = {
        "threads": args.threads,
        "held_tokens": args.held,
        "native_bf16": native_bf16(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "shapes": {},
    }
    for shape in args.shapes.split(","):
        result["shapes"][shape] = measure(shape, widths, args.held, args.repeats)
        print(shape, json.dumps(result["shapes"][shape]), file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
