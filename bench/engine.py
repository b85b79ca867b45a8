"""Engine speed at batch 1: our prefill/decode against HF transformers (and CTranslate2).

Same weights (ours share HF's tensors), same dtype, same thread count, one process, one
machine. Prefill is timed on N prompt tokens; decode as the time for 64 more greedy
tokens after a 16-token prompt, from the difference between generating 65 and 1 tokens.
The memory-bandwidth floor is the weight bytes divided by a measured copy bandwidth:
no batch-1 decoder can run a token faster than it can read its weights once.

    python -m bench.engine [--shapes bundled,tiny_starcoder_py,santacoder] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM
from model.generate import generate, new_cache, prefill
from model.progress import Progress

SHAPES = {
    # name: (config overrides, prefill tokens, decode tokens)
    "bundled": ({}, 1024, 64),
    "tiny_starcoder_py": (
        dict(n_embd=768, n_layer=20, n_head=12, vocab_size=49152, n_positions=8192),
        1024,
        64,
    ),
    "santacoder": (
        dict(n_embd=2048, n_layer=24, n_head=16, vocab_size=49280, n_positions=2048),
        256,
        16,
    ),
    # v4 candidates: the bundled tokenizer (8,192) and context (2,048), MQA, heads of 64
    **{
        f"v4_{d}x{n}": (
            dict(n_embd=d, n_layer=n, n_head=d // 64, vocab_size=8192, n_positions=2048),
            1024,
            64,
        )
        for d, n in ((384, 12), (448, 8), (448, 10), (512, 8), (512, 10), (512, 12))
    },
}


def best_of(fn, repeats: int) -> float:
    """The fastest of `repeats` runs, in seconds (CUDA work waited for on a GPU)."""
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return min(times)


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def copy_bandwidth() -> float:
    """Bytes per second read by a large tensor copy (read + write counted as 2x size)."""
    x = torch.empty(256 << 20, dtype=torch.uint8)
    y = torch.empty_like(x)
    y.copy_(x)
    t = best_of(lambda: y.copy_(x), 5)
    return 2 * x.numel() / t


def build(shape: str, dtype: torch.dtype):
    import transformers

    transformers.logging.set_verbosity_error()
    overrides, n_prefill, n_decode = SHAPES[shape]
    bundled = Path(__file__).resolve().parent.parent / "model" / "bundled"
    if shape == "bundled":
        base = GPTBigCodeConfig.from_pretrained(bundled).to_dict()
    else:
        base = GPTBigCodeConfig(**overrides).to_dict()
    base.pop("extra", None)
    keep = {
        k: v
        for k, v in base.items()
        if k in transformers.GPTBigCodeConfig().to_dict() or k in overrides
    }
    torch.manual_seed(0)
    hf_config = transformers.GPTBigCodeConfig(**keep, attn_implementation="sdpa")
    with torch.device("cpu"):
        hf = transformers.GPTBigCodeForCausalLM(hf_config).to(dtype).eval()
    if shape == "bundled":
        hf = transformers.GPTBigCodeForCausalLM.from_pretrained(
            bundled, dtype=dtype, attn_implementation="sdpa"
        ).eval()
    ours = GPTBigCodeForCausalLM(
        GPTBigCodeConfig(**{k: v for k, v in base.items() if k != "architectures"})
    )
    ours.load_state_dict(hf.state_dict(), strict=False, assign=True)  # share the tensors
    ours.tie_weights()
    ours = ours.to(dtype).eval()
    return hf, ours, n_prefill, n_decode


def bench_ours(
    lm, prompt: list[int], short: list[int], n_decode: int, repeats: int
) -> tuple[float, float, list[int]]:
    def do_prefill():
        prefill(lm, new_cache(lm, len(prompt) + 1), prompt)

    t_prefill = best_of(do_prefill, repeats)
    tokens = list(generate(lm, short, n_decode + 1))
    t1 = best_of(lambda: list(generate(lm, short, 1)), repeats)
    tn = best_of(lambda: list(generate(lm, short, n_decode + 1)), repeats)
    return len(prompt) / t_prefill, n_decode / max(tn - t1, 1e-9), tokens


def bench_variant(ours, transform, prompt, short, n_decode: int, repeats: int):
    """bench_ours on a copy of `ours` changed in place by `transform` (int8, packing)."""
    copy = GPTBigCodeForCausalLM(ours.config)
    copy.load_state_dict(ours.state_dict())
    transform(copy.eval())
    return bench_ours(copy, prompt, short, n_decode, repeats)


def bench_hf(
    hf, prompt: list[int], short: list[int], n_decode: int, repeats: int
) -> tuple[float, float, list[int]]:
    ids = torch.tensor([prompt], device=hf.device)
    sids = torch.tensor([short], device=hf.device)

    def do_prefill():
        with torch.inference_mode():
            hf(ids, use_cache=True, logits_to_keep=1)

    def gen(n):
        with torch.inference_mode():
            return hf.generate(
                sids,
                attention_mask=torch.ones_like(sids),
                max_new_tokens=n,
                min_new_tokens=n,
                do_sample=False,
                pad_token_id=0,
            )

    t_prefill = best_of(do_prefill, repeats)
    tokens = gen(n_decode + 1)[0, len(short) :].tolist()
    t1 = best_of(lambda: gen(1), repeats)
    tn = best_of(lambda: gen(n_decode + 1), repeats)
    return len(prompt) / t_prefill, n_decode / max(tn - t1, 1e-9), tokens


def bench_ct2(
    hf,
    prompt: list[int],
    short: list[int],
    n_decode: int,
    repeats: int,
    threads: int,
    quantization: str = "float32",
):
    try:
        import ctranslate2
        from ctranslate2.converters import TransformersConverter
    except ImportError:
        return None
    from tokenizers import Tokenizer

    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "hf", Path(tmp) / "ct2"
        hf.save_pretrained(src)
        bundled_tok = (
            Path(__file__).resolve().parent.parent / "model" / "bundled" / "tokenizer.json"
        )
        Tokenizer.from_file(str(bundled_tok)).save(str(src / "tokenizer.json"))
        (src / "tokenizer_config.json").write_text(
            json.dumps(
                {
                    "tokenizer_class": "PreTrainedTokenizerFast",
                    "eos_token": "<|endoftext|>",
                    "bos_token": "<|endoftext|>",
                    "unk_token": "<|endoftext|>",
                }
            )
        )
        TransformersConverter(str(src)).convert(str(dst), quantization=quantization, force=True)
        vocab = json.loads((dst / "vocabulary.json").read_text())
        gen = ctranslate2.Generator(str(dst), device="cpu", intra_threads=threads)
        names = [vocab[i] for i in prompt]
        snames = [vocab[i] for i in short]

        def run(tokens, n):
            return gen.generate_batch(
                [tokens],
                max_length=n,
                min_length=n,
                sampling_topk=1,
                include_prompt_in_result=False,
            )

        t_prefill = best_of(lambda: run(names, 1), repeats)
        out = run(snames, n_decode + 1)[0].sequences_ids[0]
        t1 = best_of(lambda: run(snames, 1), repeats)
        tn = best_of(lambda: run(snames, n_decode + 1), repeats)
        return len(prompt) / t_prefill, n_decode / max(tn - t1, 1e-9), out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shapes", default="bundled,tiny_starcoder_py,santacoder")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--no-ct2", action="store_true")
    p.add_argument("--int8", action="store_true", help="also time our weight-only int8 model")
    p.add_argument(
        "--packed", action="store_true", help="also time ours with oneDNN-packed linears"
    )
    p.add_argument("--json", type=Path, default=Path("docs/results/engine.json"))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    bandwidth = copy_bandwidth()
    print(
        f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s, threads {args.threads}, {args.dtype}",
        file=sys.stderr,
    )
    shapes = args.shapes.split(",")
    results = {
        "threads": args.threads,
        "dtype": args.dtype,
        "copy_bandwidth_gbs": bandwidth / 1e9,
        "shapes": {},
    }
    bar = Progress(len(shapes), "shapes", width=10)
    for shape in shapes:
        hf, ours, n_prefill, n_decode = build(shape, dtype)
        g = torch.Generator().manual_seed(1)
        vocab = ours.config.vocab_size
        prompt = torch.randint(1, min(vocab, 8192), (n_prefill,), generator=g).tolist()
        short = prompt[:16]
        repeats = args.repeats if shape != "santacoder" else 1
        o_pre, o_dec, o_tok = bench_ours(ours, prompt, short, n_decode, repeats)
        variants = {}
        if args.int8:
            from model.quantize import quantize_int8

            variants["ours_int8"] = bench_variant(
                ours, quantize_int8, prompt, short, n_decode, repeats
            )
        if args.packed:
            from model.packed import pack_linears

            variants["ours_packed"] = bench_variant(
                ours, pack_linears, prompt, short, n_decode, repeats
            )
        h_pre, h_dec, h_tok = bench_hf(hf, prompt, short, n_decode, repeats)
        weight_bytes = sum(
            t.numel() * t.element_size()
            for t in ours.state_dict().values()
            if t is not ours.lm_head.weight
        )
        row = {
            "parameters_m": ours.num_parameters() / 1e6,
            "prefill_tokens": n_prefill,
            "decode_tokens": n_decode,
            "ours": {"prefill_tok_s": o_pre, "decode_tok_s": o_dec},
            "hf": {"prefill_tok_s": h_pre, "decode_tok_s": h_dec},
            "prefill_ratio": o_pre / h_pre,
            "decode_ratio": o_dec / h_dec,
            "identical_greedy_tokens": o_tok == h_tok,
            "bandwidth_floor_tok_s": bandwidth / 2 / weight_bytes,
        }
        for name, (v_pre, v_dec, v_tok) in variants.items():
            row[name] = {
                "prefill_tok_s": v_pre,
                "decode_tok_s": v_dec,
                "prefill_ratio_vs_hf": v_pre / h_pre,
                "decode_ratio_vs_hf": v_dec / h_dec,
                "greedy_agreement": sum(a == b for a, b in zip(v_tok, o_tok, strict=False))
                / len(o_tok),
            }
        kinds = ("float32", "int8") if args.int8 else ("float32",)
        for kind in kinds if not args.no_ct2 and shape != "santacoder" else ():
            ct2 = bench_ct2(hf, prompt, short, n_decode, repeats, args.threads, kind)
            if ct2 is not None:
                row["ct2" if kind == "float32" else "ct2_int8"] = {
                    "prefill_tok_s": ct2[0],
                    "decode_tok_s": ct2[1],
                    "greedy_agreement": sum(a == b for a, b in zip(ct2[2], o_tok, strict=False))
                    / len(o_tok),
                }
        results["shapes"][shape] = row
        print(
            f"{shape} ({row['parameters_m']:.0f}M): prefill ours {o_pre:.0f} vs HF {h_pre:.0f} tok/s ({row['prefill_ratio']:.2f}x); "
            f"decode ours {o_dec:.1f} vs HF {h_dec:.1f} tok/s ({row['decode_ratio']:.2f}x); "
            f"floor {row['bandwidth_floor_tok_s']:.0f} tok/s; same tokens: {row['identical_greedy_tokens']}"
            + "".join(
                f"; {name[5:]} prefill {row[name]['prefill_tok_s']:.0f}, decode "
                f"{row[name]['decode_tok_s']:.1f} tok/s"
                for name in variants
            )
            + (
                f"; CT2 prefill {row['ct2']['prefill_tok_s']:.0f}, decode {row['ct2']['decode_tok_s']:.1f}"
                if "ct2" in row
                else ""
            ),
            file=sys.stderr,
        )
        del hf, ours
        bar.update(1)
    bar.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
