"""How to rank the lines a search finds: collect once, compare rules offline.

For each hole of a development set (stdlib holes and HumanEval tasks drawn with seed 1,
none of them in the evaluation sets bench.quality draws with seed 0), the server runs
with `lineSearch` at `--width` and records every line weighed (the greedy line, the
searched ones, the document's: text, log-probability with its end, tokens, source), and
the greedy line's confidence from a run without the search. `--rules` then scores the
ranking rules on that record without running the model again.

    python -m bench.line_search --collect [--holes 300 --humaneval 150 --width 6]
    python -m bench.line_search --rules
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path

from bench.quality import humaneval_tasks, stdlib_holes
from fim.holes import score
from lsp_server.completion import CompletionRequest, CompletionService, line_choice
from lsp_server.settings import Settings
from model.progress import Progress

RECORD = Path("docs/results/line_search_dev.json")


def development_set(holes: int, humaneval: int) -> dict[str, list[dict]]:
    """Seed-1 draws, less anything the seed-0 evaluation draws hold."""
    held = {(h["prefix"], h["suffix"]) for h in stdlib_holes(400) + humaneval_tasks(200)}
    stdlib = [
        h for h in stdlib_holes(holes + 400, seed=1) if (h["prefix"], h["suffix"]) not in held
    ]
    tasks = [h for h in humaneval_tasks(10_000, seed=1) if (h["prefix"], h["suffix"]) not in held]
    return {"stdlib": stdlib[:holes], "humaneval": tasks[:humaneval]}


def collect(args) -> None:
    base = Settings(multiline="single", precompute=False, min_confidence=0.0, threads=args.threads)
    service = CompletionService(replace(base, line_search=0))
    service.load().result()
    weighed: list[list[line_choice.Weighed]] = []
    rank = line_choice.rank
    line_choice.rank = lambda found: weighed.append(list(found)) or rank(found)
    out = {}
    for name, items in development_set(args.holes, args.humaneval).items():
        rows = []
        bar = Progress(len(items), name)
        for i, item in enumerate(items):
            request = CompletionRequest(f"file:///dev/{i}.py", 1, item["prefix"], item["suffix"])
            service.settings = replace(base, line_search=0)
            greedy = service.complete_now(request)
            service.settings = replace(base, line_search=args.width)
            weighed.clear()
            searched = service.complete_now(request)
            rows.append(
                {
                    "target": item["target"],
                    "greedy": greedy.text,
                    "greedy_source": greedy.source,
                    "confidence": greedy.confidence,
                    "searched_ms": searched.ms,
                    "greedy_ms": greedy.ms,
                    "weighed": [asdict(w) for w in (weighed[-1] if weighed else [])],
                }
            )
            bar.update(1)
        bar.close()
        out[name] = rows
    line_choice.rank = rank
    RECORD.write_text(json.dumps(out, indent=1) + "\n")
    service.shutdown(wait_s=5)


def pick(row: dict, rule) -> str:
    """The line a rule shows for a recorded hole (the greedy run's when nothing was weighed)."""
    if not row["weighed"]:
        return row["greedy"]
    return max(row["weighed"], key=rule)["line"]


def per_token(a: float):
    """Log-probability over tokens**a (a = 0: the total, 1: the mean)."""
    return lambda w: w["logprob"] / max(1, w["tokens"]) ** a


def greedy_bonus(m: float):
    """The total, with `m` nats of credit to the greedy line and the document's."""
    return lambda w: w["logprob"] + (m if w["source"] in ("model", "document") else 0)


RULES = {
    "total": lambda w: (w["logprob"], w["source"] == "model"),
    **{f"total/len^{a}": per_token(a) for a in (0.3, 0.5, 0.7, 1.0)},
    **{f"greedy+{m}": greedy_bonus(m) for m in (0.5, 1.0, 2.0, 4.0)},
}


def rules(gate: float, record: Path) -> None:
    data = json.loads(record.read_text())
    for name, rows in data.items():
        print(f"\n{name}: {len(rows)} holes", file=sys.stderr)
        base = [row["greedy"] for row in rows]
        report("greedy+document (today)", rows, base, gate)
        oracle = sum(any(w["line"].strip() == r["target"] for w in r["weighed"]) for r in rows)
        for label, rule in RULES.items():
            report(label, rows, [pick(r, rule) for r in rows], gate)
            for floor in (0.3, 0.4, 0.5):
                shown = [pick(r, rule) for r in rows]
                report(f"  + searched gated {floor}", rows, shown, gate, floor)
        print(f"  any line weighed is right: {oracle / len(rows):.1%}", file=sys.stderr)


def line_confidence(row: dict, line: str) -> float:
    """A searched line's confidence as the server computes it: the geometric mean of its
    token probabilities, its ending included (1 for any other line: not gated)."""
    w = next((w for w in row["weighed"] if w["line"] == line), None)
    if w is None or w["source"] != "search":
        return 1.0
    return math.exp(w["logprob"] / (w["tokens"] + 1))


def report(label: str, rows: list[dict], shown: list[str], gate: float, floor: float = 0) -> None:
    exact = wrong = n = 0
    for row, line in zip(rows, shown, strict=True):
        if line == row["greedy"] and row["greedy_source"] == "model":
            if row["confidence"] is not None and row["confidence"] < gate:
                continue  # the gate hides the greedy line as today
        elif floor and line_confidence(row, line) < floor:
            continue
        hit, first10 = score(line, row["target"])
        exact += hit
        n += bool(line)
        wrong += bool(line) and not first10
    print(
        f"  {label:26s} exact {exact / len(rows):6.1%}  shown {n:4d}  wrong-10 shown {wrong:4d}",
        file=sys.stderr,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--collect", action="store_true")
    p.add_argument("--rules", action="store_true")
    p.add_argument("--holes", type=int, default=300)
    p.add_argument("--humaneval", type=int, default=150)
    p.add_argument("--width", type=int, default=6)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--gate", type=float, default=Settings().min_confidence)
    p.add_argument("--record", type=Path, default=RECORD)
    args = p.parse_args(argv)
    if args.collect:
        collect(args)
    if args.rules or not args.collect:
        rules(args.gate, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
