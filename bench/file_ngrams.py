"""Choosing `fileNgrams`' weight: single-line holes completed with the server's defaults
at each weight, on draws that the evaluation sets (bench.quality, seed 0) do not hold.

`dev`: bench.line_search's development set (seed-1 stdlib holes and HumanEval tasks);
`third`: 600 more held-out stdlib holes (seed 2), none in the seed-0 or seed-1 draws.

    python -m bench.file_ngrams [--set dev|third] [--weights 0,0.25] [--search 4]

Reports exact match, suggestions shown, shown but wrong in their first ten characters,
and shown suggestions that loop (bench.quality's own detector), per set and weight.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bench.line_search import development_set
from bench.quality import looks_degenerate, stdlib_holes
from fim.holes import score
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.progress import Progress


def third_draw(n: int = 600) -> dict[str, list[dict]]:
    held = {(h["prefix"], h["suffix"]) for h in stdlib_holes(400) + stdlib_holes(700, seed=1)}
    fresh = [h for h in stdlib_holes(n + 200, seed=2) if (h["prefix"], h["suffix"]) not in held]
    return {"stdlib": fresh[:n]}


def measure(service: CompletionService, items: list[dict], label: str) -> dict:
    exact = shown = wrong = looping = 0
    bar = Progress(len(items), label)
    for i, item in enumerate(items):
        done = service.complete_now(
            CompletionRequest(f"file:///ngrams/{i}.py", 1, item["prefix"], item["suffix"])
        )
        text = done.text.split("\n", 1)[0].strip()
        hit, first10 = score(text, item["target"])
        exact += hit
        shown += bool(text)
        wrong += bool(text) and not first10
        looping += looks_degenerate(done.text)
        bar.update(1)
    bar.close()
    return {
        "n": len(items),
        "exact_match": exact / len(items),
        "shown": shown,
        "wrong_first10_shown": wrong,
        "degenerate_shown": looping,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--set", choices=("dev", "third"), default="dev")
    p.add_argument("--weights", default="0,0.25")
    p.add_argument("--search", type=int, default=Settings().line_search, help="lineSearch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    sets = development_set(300, 150) if args.set == "dev" else third_draw()
    base = Settings(
        precompute=False, threads=args.threads, multiline="single", line_search=args.search
    )
    service = CompletionService(base)
    service.load().result()
    out: dict = {"set": args.set, "line_search": args.search, "weights": {}}
    for weight in map(float, args.weights.split(",")):
        service.settings = replace(base, file_ngrams=weight)
        row = {name: measure(service, items, f"{weight} {name}") for name, items in sets.items()}
        out["weights"][str(weight)] = row
        print(weight, json.dumps(row), file=sys.stderr)
    service.shutdown(wait_s=5)
    path = args.json or Path(f"docs/results/file_ngrams_{args.set}.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
