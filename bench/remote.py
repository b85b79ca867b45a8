"""Keystroke latency through bigcode-ls → a real llama.cpp server vs the in-process engine.

The same replay as bench/latency.py (typing a function back into a 1,700-line file, a
completion request after each key, over stdio as an editor would) runs three times in
one process: with the in-process engine, then with the remote backend against a
`llama-server` serving the same bundled model (converted to GGUF, float32) over the
OpenAI route and over llama.cpp's /infill. Each side gets one thread of the two cores.
Besides latency it records the prompt tokens the server had to evaluate per request
(its `timings`: prompt_n evaluated, cache_n taken from its prompt cache).

    python -m bench.remote [--chars 200] [--json docs/results/remote.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.latency import FILE, FUNCTION, replay_points, run_replay
from bench.llama_cpp import LlamaServer, cache_dir, convert
from lsp_server.engine import bundled_model_path
from training.corpus import stdlib_root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--chars", type=int, default=200)
    p.add_argument("--context", type=int, default=1536)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--json", type=Path, default=Path("docs/results/remote.json"))
    args = p.parse_args(argv)
    args.model, args.threads, args.accepts, args.accept_pause_ms = None, 1, 0, 0

    model = bundled_model_path()
    gguf = convert(model, cache_dir() / "models" / "bundled-f32.gguf")
    source = (stdlib_root() / FILE).read_text()
    base, body, at = replay_points(source, FUNCTION)
    typed = body[: args.chars]
    common = {"precompute": False}
    runs = {"local": run_replay(True, typed, base, at, args, extra=common, label="in-process")}
    server = LlamaServer(gguf, threads=1).start()
    try:
        for protocol in ("openai", "llamacpp"):
            remote = {
                **common,
                "backend": protocol,
                "remoteUrl": server.url,
                "tokenizer": str(model),
            }
            runs[protocol] = run_replay(True, typed, base, at, args, extra=remote, label=protocol)
    finally:
        server.stop()
    result = {"file": FILE, "typed_chars": len(typed), "context_tokens": args.context, **runs}
    for name, run in runs.items():
        evaluated = run["mean_prefilled_tokens"]
        share = 1 - evaluated / run["mean_prompt_tokens"]
        run["prompt_cache_share"] = share
        print(
            f"{name:9s} p50 {run['p50_ms']:6.1f} ms  p95 {run['p95_ms']:6.1f} ms  "
            f"prompt {run['mean_prompt_tokens']:.0f} tokens, evaluated {evaluated:.1f}/request "
            f"({share:.1%} from cache)",
            file=sys.stderr,
        )
    for name in ("openai", "llamacpp"):
        result[f"{name}_p50_ratio"] = runs[name]["p50_ms"] / runs["local"]["p50_ms"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
