"""Several models side by side on the same holes, through the server's own path.

    python -m bench.models model/bundled runs/v2-export [--holes 400] [--humaneval 200]

Holes: whole-line holes in the held-out packages of the training corpus (code the
models never saw, training/packages.py HELDOUT), in held-out stdlib files (with and
without codec tables), and HumanEval single-line infilling. SPM with token healing,
single-line mode, greedy: what the server does by default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.quality import HUMANEVAL, evaluate, humaneval_tasks, stdlib_holes
from fim.holes import line_holes
from lsp_server.completion import CompletionService
from lsp_server.settings import Settings
from training.corpus import iter_packages
from training.packages import HELDOUT, PACKAGES, fetch


def package_holes(wheels: Path, n: int, seed: int = 0) -> list[dict]:
    fetch(wheels, tuple(p for p in PACKAGES if p.name in HELDOUT))
    held = tuple(p for p in PACKAGES if p.name in HELDOUT)
    return line_holes(list(iter_packages(wheels, held)), n, seed)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("models", nargs="+", help="model directories ('bundled' for the shipped one)")
    p.add_argument("--holes", type=int, default=400)
    p.add_argument("--humaneval", type=int, default=200)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    p.add_argument("--json", type=Path, default=Path("docs/results/models.json"))
    args = p.parse_args(argv)

    sets = {
        "packages": package_holes(args.wheels, args.holes),
        "stdlib": stdlib_holes(args.holes),
    }
    if args.humaneval and HUMANEVAL.exists():
        sets["humaneval"] = humaneval_tasks(args.humaneval)
    results = {}
    for name in args.models:
        settings = Settings(
            model=None if name == "bundled" else name,
            threads=args.threads,
            max_new_tokens=48,
            multiline="single",
            precompute=False,  # holes are scored, not accepted
            min_confidence=0,  # what each model writes, none hidden
        )
        service = CompletionService(settings)
        engine = service.load().result()
        row = {"model": engine.description}
        for label, items in sets.items():
            row[label] = evaluate(service, items, f"{name} {label}", run_tests=label == "humaneval")
            print(f"{name} {label}: exact {row[label]['exact_match']:.1%}", file=sys.stderr)
        results[name] = row
        service.shutdown()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
