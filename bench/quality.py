"""Completion quality through the server's own path (prompt, healing, post-processing).

1. Held-out stdlib: whole-line holes in files the bundled model never trained on; the
   cursor sits at the line's indentation, the suggestion must equal the line.
2. HumanEval single-line infilling (../shared/data): exact match, and pass@1 by running
   each task's tests in a subprocess with a timeout.

Each is run for PSM and SPM prompts, with and without token healing, and once with the
int8 weight-only model (the quality delta of `quantize="int8"`); `+default-kernels`
turns `packedLinears` off (PyTorch's default CPU kernels); `+lines` turns
`lineCandidates` on (off otherwise, so that older configurations mean what they did),
`+gate` the default `minConfidence` (0 otherwise), `+search` the default `lineSearch` (0
otherwise: no search over lines), `+ngrams` the default `fileNgrams` (0 otherwise). `--remote` runs the `remote-` configs
through a real llama.cpp server serving the same model (bench/llama_cpp.py), over the
OpenAI route: `remote-spm` without healing, `remote-spm+heal` with the grammar that
stands for the first-token constraint (`lsp_server/remote_healing.py`).

    python -m bench.quality [--model DIR] [--holes 400] [--humaneval 300]
    python -m bench.quality --remote --configs spm+heal,remote-spm+heal,remote-spm

`--curve FILE` also records the first configuration's held-out exact match against the
checkpoint's step and CPU-hours (from the model's training.json), for the training plot.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import random
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bench.repo_quality import gates
from fim.holes import line_holes, score
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.progress import Progress
from training.corpus import load_split

HUMANEVAL = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "humaneval-infilling"
    / "HumanEval-SingleLineInfilling.jsonl.gz"
)


def stdlib_holes(n: int, seed: int = 0) -> list[dict]:
    """Whole-line holes from held-out stdlib files: code lines, not comments or blanks."""
    return line_holes(load_split("heldout"), n, seed)


def humaneval_tasks(n: int, seed: int = 0) -> list[dict]:
    with gzip.open(HUMANEVAL, "rt") as fh:
        tasks = [json.loads(line) for line in fh]
    random.Random(seed).shuffle(tasks)
    out = []
    for t in tasks[:n]:
        hole = t["canonical_solution"]
        first = hole.split("\n", 1)[0]
        indent = first[: len(first) - len(first.lstrip())]
        out.append(
            {
                "task_id": t["task_id"],
                "prefix": t["prompt"] + indent,
                "suffix": hole[len(first) :] + t["suffix"],
                "target": first.strip(),
                "test": t["test"],
                "entry_point": t["entry_point"],
                "prompt": t["prompt"],
                "raw_suffix": t["suffix"],
                "indent": indent,
            }
        )
    return out


def passes(task: dict, line: str, timeout: float = 10.0) -> bool:
    program = (
        task["prompt"]
        + task["indent"]
        + line
        + "\n"
        + task["raw_suffix"]
        + "\n"
        + task["test"]
        + f"\ncheck({task['entry_point']})\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(program)
    try:
        return (
            subprocess.run(
                [sys.executable, fh.name], capture_output=True, timeout=timeout
            ).returncode
            == 0
        )
    except subprocess.TimeoutExpired:
        return False
    finally:
        Path(fh.name).unlink(missing_ok=True)


# Held-out codec tables (encodings/cp*.py ...) are generated, highly regular lines that a
# small model completes far more often than code: reported apart so they cannot flatter.
TABLES = "encodings/"


def looks_degenerate(text: str) -> bool:
    """The benchmark's own loop detector, apart from the server's (fim/degenerate.py): a
    run of 8+ characters that recurs 3+ times without overlap, or a line 3 times over."""
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    if any(lines.count(ln) >= 3 for ln in lines):
        return True
    for start in range(len(text) - 8):
        run = text[start : start + 8]
        if run.strip() and text.count(run) >= 3:
            return True
    return False


def evaluate(service: CompletionService, items: list[dict], label: str, run_tests: bool) -> dict:
    exact = passed = prefix10 = degenerate = 0
    hits, shown, looped = [], [], []
    bar = Progress(len(items), label)
    examples = []
    for i, item in enumerate(items):
        result = service.complete_now(
            CompletionRequest(f"file:///eval/{i}.py", 1, item["prefix"], item["suffix"])
        )
        if looks_degenerate(result.text):
            degenerate += 1
            looped.append({"target": item["target"], "suggestion": result.text})
        text = result.text.split("\n", 1)[0].strip()
        hit, first10 = score(text, item["target"])
        exact += hit
        prefix10 += first10
        hits.append(hit)
        if text:
            shown.append({"exact": hit, "first10": first10, "confidence": result.confidence})
        if run_tests:
            passed += passes(item, text)
        if len(examples) < 8:
            examples.append({"target": item["target"], "suggestion": text})
        bar.update(1, exact=exact / (i + 1))
    bar.close()
    out = {
        "n": len(items),
        "exact_match": exact / len(items),
        "first10_match": prefix10 / len(items),
        "suggestions": len(shown),
        "wrong_first10_shown": sum(1 for s in shown if not s["first10"]),
        "degenerate_shown": degenerate,  # by looks_degenerate, not the server's detector
        "degenerate_examples": looped[:20],
        "gates": gates(shown),  # what each minConfidence would keep (exact when it is 0 here)
        "examples": examples,
    }
    code = [
        h
        for h, item in zip(hits, items, strict=True)
        if not item.get("file", "").startswith(TABLES)
    ]
    if len(code) < len(items):
        out["code_only"] = {"n": len(code), "exact_match": sum(code) / max(1, len(code))}
    if run_tests:
        out["pass_at_1"] = passed / len(items)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="model directory (default: bundled)")
    p.add_argument("--holes", type=int, default=400, help="held-out stdlib holes")
    p.add_argument(
        "--humaneval", type=int, default=300, help="HumanEval single-line tasks (0: skip)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--configs", default="spm+heal,spm,psm+heal,psm,spm+heal+int8")
    p.add_argument("--json", type=Path, default=Path("docs/results/quality.json"))
    p.add_argument("--curve", type=Path, default=None, help="exact-match curve (JSON) to update")
    p.add_argument("--remote", action="store_true", help="serve the model with llama.cpp too")
    args = p.parse_args(argv)
    with remote_server(args) as remote:
        return run(args, remote)


@contextlib.contextmanager
def remote_server(args) -> Iterator[dict]:
    """Settings for a llama.cpp server that serves the model (none without --remote)."""
    if not args.remote:
        yield {}
        return
    from bench.llama_cpp import LlamaServer, cache_dir, convert
    from lsp_server.backends.engine import bundled_model_path

    model = Path(args.model) if args.model else bundled_model_path()
    gguf = convert(model, cache_dir() / "models" / f"{model.name}-f32.gguf")
    server = LlamaServer(gguf, threads=args.threads).start()
    try:
        yield {"backend": "openai", "remote_url": server.url, "tokenizer": str(model)}
    finally:
        server.stop()


def run(args, remote: dict) -> int:
    base = Settings(
        model=args.model,
        threads=args.threads,
        max_new_tokens=args.max_new_tokens,
        multiline="single",
        precompute=False,  # holes are scored, not accepted
        line_candidates=False,  # `+lines` turns it on
        line_search=0,  # `+search` turns it on
        file_ngrams=0.0,  # `+ngrams` turns it on
        min_confidence=0,  # `+gate`: hide what the model doubts, as the server does by default
    )
    service = CompletionService(base)
    engine = service.load().result()
    holes = stdlib_holes(args.holes)
    tasks = humaneval_tasks(args.humaneval) if args.humaneval and HUMANEVAL.exists() else []
    results = {"model": engine.description, "configs": {}}
    services = {("none", True): service}
    for config in args.configs.split(","):
        order = config.split("+")[0].removeprefix("remote-")
        weights = {
            "quantize": "int8" if "+int8" in config else "none",
            "packed_linears": "+default-kernels" not in config,
        }
        if config.startswith("remote-"):
            weights = {"quantize": "none", "packed_linears": True, **remote}
        key = tuple(weights.values())
        if key not in services:  # another engine: the same weights, changed at load
            services[key] = CompletionService(replace(base, **weights))
            services[key].load().result()
        service = services[key]
        service.settings = replace(
            base,
            fim_order=order,
            token_healing="+heal" in config,
            line_candidates="+lines" in config,
            line_search=Settings().line_search if "+search" in config else 0,
            file_ngrams=Settings().file_ngrams if "+ngrams" in config else 0.0,
            min_confidence=Settings().min_confidence if "+gate" in config else 0.0,
            **weights,
        )
        row = {"stdlib": evaluate(service, holes, f"{config} stdlib", run_tests=False)}
        if tasks:
            row["humaneval"] = evaluate(service, tasks, f"{config} humaneval", run_tests=True)
        results["configs"][config] = row
        he = row.get("humaneval", {})
        print(
            f"{config}: stdlib exact {row['stdlib']['exact_match']:.1%}"
            + (
                f"; HumanEval exact {he['exact_match']:.1%}, pass@1 {he['pass_at_1']:.1%}"
                if he
                else ""
            ),
            file=sys.stderr,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    if args.curve:
        first = args.configs.split(",")[0]
        record_curve_point(args.curve, engine.path, first, results["configs"][first]["stdlib"])
    return 0


def record_curve_point(curve: Path, model_dir: Path, config: str, stdlib: dict) -> None:
    """Add (or replace) this checkpoint's point in the exact-match curve."""
    training = json.loads((model_dir / "training.json").read_text())
    point = {
        "step": training["steps"],
        "tokens": training["tokens"],
        "cpu_hours": training["cpu_hours"],
        "config": config,
        "holes": stdlib["n"],
        "exact_match": stdlib["exact_match"],
        "exact_match_code_only": stdlib.get("code_only", {}).get("exact_match"),
    }
    points = json.loads(curve.read_text()) if curve.exists() else []
    points = [q for q in points if (q["step"], q["config"]) != (point["step"], config)]
    points = sorted([*points, point], key=lambda q: q["step"])
    curve.write_text(json.dumps(points, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
