"""Choosing `fileNgrams`' weight: single-line holes completed with the server's defaults
at each weight, on draws that the evaluation sets (bench.quality, seed 0) do not hold.

`dev`: bench.line_search's development set (seed-1 stdlib holes and HumanEval tasks);
`third`: 600 more held-out stdlib holes (seed 2), none in the seed-0 or seed-1 draws.

    python -m bench.file_ngrams [--set dev|third] [--weights 0,0.25] [--search 4]

Reports bench.quality's figures (exact match, suggestions shown, shown but wrong in their
first ten characters, shown suggestions that loop) per set and weight.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

from bench.line_search import development_set
from bench.quality import evaluate, stdlib_holes
from lsp_server.completion import CompletionService
from lsp_server.settings import Settings


def third_draw(n: int = 600) -> dict[str, list[dict]]:
    held = {(h["prefix"], h["suffix"]) for h in stdlib_holes(400) + stdlib_holes(700, seed=1)}
    fresh = [h for h in stdlib_holes(n + 200, seed=2) if (h["prefix"], h["suffix"]) not in held]
    return {"stdlib": fresh[:n]}


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
        row = {
            name: evaluate(service, items, f"{weight} {name}", run_tests=False)
            for name, items in sets.items()
        }
        out["weights"][str(weight)] = row
        print(weight, json.dumps(row), file=sys.stderr)
    service.shutdown(wait_s=5)
    path = args.json or Path(f"docs/results/file_ngrams_{args.set}.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
