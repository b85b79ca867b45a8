"""Holes after a statement keyword or an assignment's `=`: the cursor after `return `
(or `yield `, `raise `, `assert `, `if `, `elif `, `while `) or `name = `, where a
programmer stops to see what comes, and where the search over lines may run too
(`lsp_server/completion/finishing.py`: `SEARCH_AFTER`, `ASSIGNED`). Each is measured
twice in one process, with the search only at a line's start and with it at those places
too, with the shipped defaults otherwise.

The holes are bench.quality's whole-line holes whose line starts with such a keyword or
assigns to a name, cut after the keyword or the `=`: stdlib lines of held-out files and
HumanEval's single-line tasks.
`--seed 1` draws the development set (none of the evaluation draws' holes); `--seed 0`
the evaluation set (HumanEval's 200-task evaluation draw; stdlib holes of a seed-0 draw
that the seed-1 draw does not hold).

    python -m bench.keyword_holes [--seed 0] [--draw 3000] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.quality import evaluate, humaneval_tasks, stdlib_holes
from lsp_server.completion import CompletionService, finishing
from lsp_server.settings import Settings

KEYWORDS = ("return", "yield", "raise", "assert", "if", "elif", "while")
ASSIGNMENT = re.compile(r"([A-Za-z_][\w.]*\s*=\s*)(?!=)(\S.*)")  # `name = value`, not `==`
NEVER = re.compile(r"(?!)")  # the server's ASSIGNED, off
FIELDS = ("n", "exact_match", "first10_match", "suggestions", "wrong_first10_shown", "pass_at_1")


def after_keyword(holes: list[dict]) -> list[dict]:
    """The holes whose line starts with a keyword and more, cut after the keyword."""
    out = []
    for h in holes:
        word, _, rest = h["target"].partition(" ")
        if word in KEYWORDS and rest.strip():
            out.append(_cut(h, word + " ", rest.strip()))
    return out


def _cut(hole: dict, typed: str, target: str) -> dict:
    """`hole` with `typed` typed before the cursor; a HumanEval task's line for its tests
    (`bench.quality.passes`) starts with it too."""
    out = {**hole, "prefix": hole["prefix"] + typed, "target": target}
    if "indent" in hole:
        out["indent"] = hole["indent"] + typed
    return out


def after_assignment(holes: list[dict]) -> list[dict]:
    """The holes whose line assigns to a name or an attribute, cut after the `=`."""
    out = []
    for h in holes:
        m = ASSIGNMENT.fullmatch(h["target"])
        if m:
            out.append(_cut(h, m.group(1), m.group(2)))
    return out


def _key(hole: dict) -> tuple[str, str]:
    return hole["prefix"], hole["suffix"]


def hole_sets(seed: int, draw: int) -> dict[str, list[dict]]:
    """The four sets of holes (stdlib and HumanEval, after a keyword and after `=`) of the
    development draw (`seed` 1) or the evaluation draw (0), apart from each other."""
    if seed == 0:
        held = {_key(h) for h in stdlib_holes(draw, seed=1)}
        tasks = humaneval_tasks(200)
    else:
        held = {_key(h) for h in stdlib_holes(400) + humaneval_tasks(200)}
        tasks = [h for h in humaneval_tasks(10_000, seed=seed) if _key(h) not in held]
    stdlib = [h for h in stdlib_holes(draw, seed=seed) if _key(h) not in held]
    return {
        "stdlib, keyword": after_keyword(stdlib),
        "humaneval, keyword": after_keyword(tasks),
        "stdlib, assignment": after_assignment(stdlib),
        "humaneval, assignment": after_assignment(tasks),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--draw", type=int, default=3000, help="stdlib holes drawn before the filter")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=Path("docs/results/keyword_holes.json"))
    args = p.parse_args(argv)
    sets = hole_sets(args.seed, args.draw)
    service = CompletionService(
        Settings(multiline="single", precompute=False, threads=args.threads)
    )
    service.load().result()
    shipped, out = (finishing.SEARCH_AFTER, finishing.ASSIGNED), {}
    for label, after in (("line start only", (frozenset(), NEVER)), ("mid-line too", shipped)):
        finishing.SEARCH_AFTER, finishing.ASSIGNED = after
        for name, holes in sets.items():
            tests = name.startswith("humaneval")  # pass@1 too
            result = evaluate(service, holes, f"{label}: {name}", run_tests=tests)
            out.setdefault(name, {})[label] = {k: result[k] for k in FIELDS if k in result}
    finishing.SEARCH_AFTER, finishing.ASSIGNED = shipped
    service.shutdown(wait_s=5)
    args.json.write_text(json.dumps({"seed": args.seed, "sets": out}, indent=1) + "\n")
    for name, rows in out.items():
        for label, r in rows.items():
            print(
                f"{name:22s} {label:16s} n {r['n']:4d}  exact {r['exact_match']:6.1%}  shown "
                f"{r['suggestions']:4d}  wrong in first 10, shown {r['wrong_first10_shown']:4d}"
                + (f"  pass@1 {r['pass_at_1']:6.1%}" if "pass_at_1" in r else ""),
                file=sys.stderr,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
