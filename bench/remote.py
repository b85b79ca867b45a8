"""Keystroke latency through bigcode-ls → a real llama.cpp server vs the in-process engine.

The same replay as bench/latency.py (typing a function back into a 1,700-line file, a
completion request after each key, over stdio as an editor would) runs three times in
one process: with the in-process engine, then with the remote backend against a
`llama-server` serving the same bundled model (converted to GGUF, float32) over the
OpenAI route (three times: as before, with token healing, which asks llama.cpp for a
grammar and, mid-word, for the first token alone, and with `minConfidence` on, which
asks for each token's likeliest alternatives, `n_probs`) and over llama.cpp's /infill. Each
side gets one thread of the two cores. Besides latency it records the prompt tokens the
server had to evaluate per request (its `timings`: prompt_n evaluated, cache_n taken
from its prompt cache).

Then, paired so that a machine's drift cannot bias it, the server's own decode time per
token with and without `n_probs` on the same prompts, asked in alternating order.

    python -m bench.remote [--chars 200] [--json docs/results/remote.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import urllib.request
from pathlib import Path

from bench.latency import FILE, FUNCTION, replay_points, run_replay
from bench.llama_cpp import LlamaServer, cache_dir, convert
from lsp_server.backends.engine import bundled_model_path
from training.corpus import stdlib_root

# (name, protocol, minConfidence, tokenHealing): healing off and nothing gated is the
# remote route as it was before either existed; the others add one each, and
# `minConfidence` asks the server for probabilities (n_probs 8 a token)
REMOTE_RUNS = [
    ("openai", "openai", 0.0, False),
    ("openai_healed", "openai", 0.0, True),
    ("openai_gated", "openai", 0.4, False),
    ("llamacpp", "llamacpp", 0.0, False),
]


def probability_cost(url: str, source: str, pairs: int = 40, tokens: int = 16) -> dict:
    """The server's decode time per token (its `timings.predicted_per_token_ms`) without
    and with `n_probs` 8, on the same growing prompts, alternating which goes first."""
    times: dict[int, list[float]] = {0: [], 8: []}
    for k in range(pairs):
        prompt = "<fim_prefix><fim_suffix>\n<fim_middle>" + source[: 3000 + k]
        for n in (0, 8) if k % 2 else (8, 0):
            body = {"prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
            body.update({"n_probs": n} if n else {})
            request = urllib.request.Request(
                url + "/v1/completions",
                json.dumps(body).encode(),
                {"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=60) as r:
                times[n].append(json.load(r)["timings"]["predicted_per_token_ms"])
    without, with_ = (statistics.median(times[n]) for n in (0, 8))
    print(f"decode per token: {without:.2f} ms, with n_probs 8 {with_:.2f} ms", file=sys.stderr)
    return {
        "pairs": pairs,
        "ms_per_token": without,
        "ms_per_token_n_probs": with_,
        "ratio": with_ / without,
    }


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
        probabilities = probability_cost(server.url, source)
        for name, protocol, gate, heal in REMOTE_RUNS:
            remote = {
                **common,
                "backend": protocol,
                "remoteUrl": server.url,
                "tokenizer": str(model),
                "minConfidence": gate,
                "tokenHealing": heal,
            }
            runs[name] = run_replay(True, typed, base, at, args, extra=remote, label=name)
    finally:
        server.stop()
    result = {"file": FILE, "typed_chars": len(typed), "context_tokens": args.context, **runs}
    result["probability_cost"] = probabilities
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
    for name, *_ in REMOTE_RUNS:
        result[f"{name}_p50_ratio"] = runs[name]["p50_ms"] / runs["local"]["p50_ms"]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
