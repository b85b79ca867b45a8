"""Keystroke latency through the real server: per-document KV cache on vs off.

Replays typing a function back into a real 1,000+ line stdlib file (the function is cut
out first), one character per edit with an inline-completion request after each, over
stdio exactly as an editor would. The same replay runs twice in one process, against
two fresh servers that differ only in the `documentCache` setting.

    python -m bench.latency [--chars 400] [--threads 2] [--json docs/results/latency.json]
    python -m bench.latency --shape tiny_starcoder_py --chars 60 --json docs/results/latency_164m.json

By default it runs the bundled model (a model with fewer than 2,048 positions is
replaced by a random-weight copy of its shape with 2,048: latency depends on the shape
and the tokens computed, which both replays share, not on what the weights say).
`--shape` runs a random model of one of bench/engine.py's shapes instead.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench.rawlsp import RawServer
from model.progress import Progress
from training.corpus import stdlib_root

NUMBERS = ("lineSearch",)  # settings whose "off" is 0 (the others here are switches)
FILE = "ast.py"  # 1,752 lines, in the bundled model's held-out split
FUNCTION = "def get_source_segment("  # line 344: full windows on both sides of the cursor


def replay_points(source: str, start_marker: str, max_lines: int = 30) -> tuple[str, str, int]:
    """Cut the body of the function at `start_marker`: return (text without it, the cut
    text, the offset where typing resumes)."""
    start = source.index(start_marker)
    line_end = source.index("\n", start) + 1
    lines = source[line_end:].split("\n")
    body = []
    for line in lines[:max_lines]:
        if line.strip() and not line.startswith((" ", "\t")):
            break
        body.append(line + "\n")
    body_text = "".join(body).rstrip("\n") + "\n"
    return source[:line_end] + source[line_end + len(body_text) :], body_text, line_end


def position(text: str, offset: int) -> dict:
    before = text[:offset]
    line = before.count("\n")
    col_text = before[before.rfind("\n") + 1 :]
    return {"line": line, "character": len(col_text.encode("utf-16-le")) // 2}


def random_model(shape: str) -> str:
    """A random-weight model of one of bench/engine.py's shapes, with the bundled
    tokenizer (latency depends on the shape and the tokens computed, not the weights)."""
    import shutil
    import tempfile

    import torch

    from bench.engine import SHAPES
    from model import GPTBigCodeConfig, GPTBigCodeForCausalLM

    bundled = Path(__file__).resolve().parent.parent / "model" / "bundled"
    out = Path(tempfile.mkdtemp(prefix=f"bigcode-latency-{shape}-"))
    torch.manual_seed(0)
    GPTBigCodeForCausalLM(GPTBigCodeConfig(**SHAPES[shape][0])).save_pretrained(out)
    shutil.copy(bundled / "tokenizer.json", out / "tokenizer.json")
    return str(out)


def long_context_model(positions: int = 2048) -> str:
    """The bundled model's shape and tokenizer with `positions` positions, random weights."""
    import shutil
    import tempfile

    import torch

    from model import GPTBigCodeConfig, GPTBigCodeForCausalLM
    from model.tokenizer import load_tokenizer

    bundled = Path(__file__).resolve().parent.parent / "model" / "bundled"
    config = GPTBigCodeConfig.from_pretrained(bundled)
    if config.n_positions >= positions:
        return str(bundled)
    config.n_positions = positions
    out = Path(tempfile.mkdtemp(prefix="bigcode-latency-"))
    torch.manual_seed(0)
    GPTBigCodeForCausalLM(config).save_pretrained(out)
    shutil.copy(bundled / "tokenizer.json", out / "tokenizer.json")
    load_tokenizer(out)
    return str(out)


def run_replay(
    cache: bool,
    typed: str,
    base: str,
    at: int,
    args,
    deadline_ms: int = 60000,
    env: dict | None = None,
    label: str = "",
    extra: dict | None = None,
) -> dict:
    """One replay against a fresh server; `args.threads` 0 leaves the server's default;
    `extra` adds settings (a remote backend, say)."""
    settings = {
        "documentCache": cache,
        "contextTokens": args.context,
        "maxNewTokens": args.max_new_tokens,
        "deadlineMs": deadline_ms,
        # every suggestion shown, as before minConfidence: random weights are unsure of
        # all of them, and the accepts and look-aheads need suggestions
        "minConfidence": 0.0,
        **(extra or {}),
    }
    threads = ["--threads", str(args.threads)] if args.threads else []
    server = RawServer(*(["--model", args.model] if args.model else []), *threads, env=env)
    server.initialize({"bigcode": settings})
    uri = "file:///bench/ast.py"
    server.open(uri, base)
    server.wait_model(timeout=600)
    text, version, times, prompt_tokens, prefilled, cut = base, 1, [], [], [], 0
    document_lines = 0
    bar = Progress(len(typed), label or f"typing (cache {'on' if cache else 'off'})")
    for i, ch in enumerate(typed):
        pos = position(text, at + i)
        version += 1
        server.change(uri, version, [{"range": {"start": pos, "end": pos}, "text": ch}])
        text = text[: at + i] + ch + text[at + i :]
        params = {
            "textDocument": {"uri": uri},
            "position": position(text, at + i + 1),
            "context": {"triggerKind": 2},
        }
        t0 = time.perf_counter()
        reply = server.request("textDocument/inlineCompletion", params, timeout=120)
        times.append((time.perf_counter() - t0) * 1000)
        assert "result" in reply, reply
        last = server.status(uri).get("last", {})
        prompt_tokens.append(last.get("promptTokens", 0))
        prefilled.append(last.get("promptTokens", 0) - last.get("reusedTokens", 0))
        cut += bool(last.get("cutByDeadline"))
        document_lines += last.get("source") == "document"
        bar.update(1, ms=times[-1])
    bar.close()

    # Accepting: type exactly what was suggested, then ask again, after the pause a person
    # takes to read ghost text (the server computes the next suggestion meanwhile).
    accept_ms, accept_prefill, precomputed = [], [], 0
    for _ in range(4 * args.accepts if cache else 0):
        if len(accept_ms) == args.accepts:
            break
        offset = at + len(typed)
        params = {
            "textDocument": {"uri": uri},
            "position": position(text, offset),
            "context": {"triggerKind": 2},
        }
        items = server.request("textDocument/inlineCompletion", params, timeout=120)["result"][
            "items"
        ]
        suggestion = items[0]["insertText"] if items else ""
        time.sleep(args.accept_pause_ms / 1000)
        if not suggestion:  # nothing to accept at a line's end: Enter, indented as above
            line = text[text.rfind("\n", 0, offset) + 1 : offset]
            suggestion = "\n" + line[: len(line) - len(line.lstrip())]
            timed = False
        else:
            timed = True
        pos = position(text, offset)
        version += 1
        server.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": pos, "end": pos}, "text": suggestion}],
            },
        )
        text = text[:offset] + suggestion + text[offset:]
        typed += suggestion
        if not timed:
            continue
        params["position"] = position(text, offset + len(suggestion))
        t0 = time.perf_counter()
        server.request("textDocument/inlineCompletion", params, timeout=120)
        accept_ms.append((time.perf_counter() - t0) * 1000)
        last = server.request("bigcode/status", {"uri": uri})["result"]["last"]
        accept_prefill.append(last["promptTokens"] - last["reusedTokens"])
        precomputed = server.request("bigcode/status", {})["result"]["precomputedHits"]
    model = server.request("bigcode/status", {})["result"]["model"]
    server.close()
    return {
        "cache": cache,
        "model": model,
        "requests": len(times),
        "p50_ms": statistics.median(times),
        "p95_ms": statistics.quantiles(times, n=20)[-1],
        "mean_ms": statistics.fmean(times),
        "mean_prompt_tokens": statistics.fmean(prompt_tokens),
        "mean_prefilled_tokens": statistics.fmean(prefilled),
        "cut_by_deadline": cut,
        "document_lines": document_lines,
        "accept_ms": accept_ms,
        "accept_prefilled_tokens": accept_prefill,
        "accept_precomputed": precomputed,
        "times_ms": times,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="model directory (default: see above)")
    p.add_argument(
        "--shape",
        default=None,
        help="a random model of bench/engine.py's shape, e.g. tiny_starcoder_py",
    )
    p.add_argument("--chars", type=int, default=400, help="characters to type")
    p.add_argument("--context", type=int, default=1536, help="prompt budget in tokens")
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--threads", type=int, default=0, help="0: the server's default")
    p.add_argument("--accepts", type=int, default=10)
    p.add_argument("--accept-pause-ms", type=int, default=400, help="before each accept")
    p.add_argument(
        "--default-kernels",
        action="store_true",
        help="also replay with packedLinears off (PyTorch's default CPU kernels)",
    )
    p.add_argument(
        "--without-line-candidates",
        action="store_true",
        help="also replay (cache on) with lineCandidates off",
    )
    p.add_argument(
        "--without",
        action="append",
        default=[],
        metavar="SETTINGS",
        help="also replay (cache on) with these settings off, comma-separated (a number: 0), "
        "e.g. lineSearch,staticAnalysis; repeatable",
    )
    p.add_argument("--no-cold", action="store_true", help="skip the replay with the cache off")
    p.add_argument("--json", type=Path, default=Path("docs/results/latency.json"))
    args = p.parse_args(argv)

    if args.shape:
        args.model = random_model(args.shape)
    elif args.model is None:
        args.model = long_context_model()
    source = (stdlib_root() / FILE).read_text()
    base, body, at = replay_points(source, FUNCTION)
    typed = body[: args.chars]
    print(
        f"{FILE}: {source.count(chr(10))} lines; typing {len(typed)} characters at line {source[:at].count(chr(10))}",
        file=sys.stderr,
    )
    warm = run_replay(True, typed, base, at, args)
    cold = warm if args.no_cold else run_replay(False, typed, base, at, args)
    kernels = {}
    if args.default_kernels:
        off = {"packedLinears": False}
        kernels = {
            "warm_default_kernels": run_replay(True, typed, base, at, args, extra=off),
            "cold_default_kernels": run_replay(False, typed, base, at, args, extra=off),
        }
    if args.without_line_candidates:
        off = {"lineCandidates": False}
        kernels["warm_without_line_candidates"] = run_replay(True, typed, base, at, args, extra=off)
    for names in args.without:
        off = {name: 0 if name in NUMBERS else False for name in names.split(",")}
        label = "warm_without_" + "_".join(names.split(","))
        kernels[label] = run_replay(True, typed, base, at, args, extra=off)
    result = {
        "model_dir": args.model,
        "file": FILE,
        "lines": source.count("\n"),
        "typed_chars": len(typed),
        "context_tokens": args.context,
        "threads": args.threads,
        "warm": warm,
        "cold": cold,
        "p50_speedup": cold["p50_ms"] / warm["p50_ms"],
        "p95_speedup": cold["p95_ms"] / warm["p95_ms"],
        **kernels,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for name in ("warm", *(() if args.no_cold else ("cold",)), *kernels):
        r = result[name]
        print(
            f"{name}: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, prompt {r['mean_prompt_tokens']:.0f} tokens, "
            f"prefilled {r['mean_prefilled_tokens']:.1f} tokens/request",
            file=sys.stderr,
        )
    print(
        f"cache speed-up: p50 {result['p50_speedup']:.1f}x, p95 {result['p95_speedup']:.1f}x",
        file=sys.stderr,
    )
    if warm["accept_ms"]:
        print(
            f"after accepting a suggestion: median {statistics.median(warm['accept_ms']):.1f} ms, "
            f"prefilled {statistics.median(warm['accept_prefilled_tokens'])} tokens",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
