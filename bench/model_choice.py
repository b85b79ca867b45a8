"""What each checkpoint a user can pick costs on this machine, through the server's own
loading path and defaults (threads, `quantize` auto, packed linears): load time, memory,
the first completion after opening a file (a cold 512-token prompt) and decoding speed.

    python -m bench.model_choice [--shapes tiny_starcoder_py,santacoder] [--json PATH]

Random weights at each checkpoint's shape (the speed does not depend on the values); the
bundled model is measured as shipped. Results go to README "Which model?" and
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

from lsp_server.backends.engine import Engine, bundled_model_path
from lsp_server.settings import Settings
from model import GPTBigCodeConfig, GPTBigCodeForCausalLM

SHAPES = {
    "tiny_starcoder_py": dict(
        n_embd=768, n_layer=20, n_head=12, vocab_size=49152, n_positions=8192
    ),
    # santacoder (vocab 49,280, 2,048 positions) and starcoderbase-1b (49,152, 8,192)
    # differ only in their embedding tables
    "santacoder": dict(n_embd=2048, n_layer=24, n_head=16, vocab_size=49280, n_positions=2048),
}
PROMPT, DECODE = 512, 32


def write_random(shape: str, root: Path) -> Path:
    directory = root / shape
    torch.manual_seed(0)
    lm = GPTBigCodeForCausalLM(GPTBigCodeConfig(**SHAPES[shape], bos_token_id=0, eos_token_id=0))
    lm.save_pretrained(directory)
    del lm
    shutil.copy(bundled_model_path() / "tokenizer.json", directory / "tokenizer.json")
    return directory


def measure(path: Path) -> dict:
    s = Settings()  # the server's defaults
    t0 = time.perf_counter()
    engine = Engine.load(
        path, s.device, s.dtype, s.threads, s.quantize, packed=s.packed_linears, wide=s.wide_passes
    )
    load_s = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    prompt = [(i * 37) % 8000 + 100 for i in range(PROMPT)]
    cache = engine.new_cache(PROMPT + DECODE + 8)
    t0 = time.perf_counter()
    run = engine.generate(prompt, 1, cache=cache)
    list(run.tokens)
    first_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    tokens = list(engine.generate(prompt + [5], DECODE, cache=cache).tokens)
    decode_tok_s = len(tokens) / (time.perf_counter() - t0)
    weights = sum(f.stat().st_size for f in path.glob("*.safetensors"))
    return {
        "description": engine.description,
        "disk_mb": round(weights / 1e6),
        "load_s": round(load_s, 1),
        "peak_rss_mib": round(rss_mib),
        "first_completion_s": round(first_s, 2),
        "decode_tok_s": round(decode_tok_s, 1),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shapes", default="bundled,tiny_starcoder_py,santacoder")
    p.add_argument("--json", type=Path, default=Path("docs/results/model_choice.json"))
    args = p.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes.split(","):
            # each in a process of its own, so that peak memory is that model's alone
            import subprocess

            code = (
                "import json, sys; from pathlib import Path; from bench.model_choice import *; "
                "shape, tmp = sys.argv[1], Path(sys.argv[2]); "
                "path = bundled_model_path() if shape == 'bundled' else write_random(shape, tmp); "
                "print(json.dumps(measure(path)))"
            )
            out = subprocess.run(
                [sys.executable, "-c", code, shape, tmp], capture_output=True, text=True, check=True
            )
            results[shape] = json.loads(out.stdout.strip().splitlines()[-1])
            print(shape, results[shape], file=sys.stderr)
            shutil.rmtree(Path(tmp) / shape, ignore_errors=True)
    cpu = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in open("/proc/cpuinfo")
            if ln.startswith("model name")
        ),
        "?",
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cpu": cpu, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
