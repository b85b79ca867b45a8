"""Attributes that do not exist in what the model writes, with and without static
analysis in the decoding loop (`staticAnalysis`), on held-out packages with their folder
as the workspace (bench.repo_quality's packages and holes, seed 0).

Each hole's file is opened (the analyser reads it, as on a real didOpen, and the run waits
for that), one single-line completion is asked at the line's indentation, in process,
with the server's defaults otherwise. For every attribute access in a shown suggestion
(`a.b`, `a.b.c`, outside strings and comments, not an assignment's target), Jedi is asked,
without a time limit, for the names after the receiver in the document with the
suggestion in it; an access counts where Jedi knows the receiver, and is wrong when the
name is not among them. Also: exact match, suggestions shown, wrong in their first ten
characters, per-request latency.

    python -m bench.attributes [--holes-per-package 60] [--json docs/results/attributes.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import statistics
import sys
from dataclasses import replace
from pathlib import Path

from bench.repo_quality import package_holes, unpack
from fim.holes import score
from fim.monitor import in_comment_or_string
from lsp_server.analysis import Analysis
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.repo_context import RepoContext
from lsp_server.settings import Settings
from lsp_server.workspace import WorkspaceIndex
from model.progress import Progress

QUESTIONS = itertools.count()
CHAIN = re.compile(r"(?<![\w.])[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")


def accesses(line: str) -> list[tuple[int, str, str]]:
    """(offset of the dot in `line`, receiver, attribute) of each attribute read."""
    out = []
    for m in CHAIN.finditer(line):
        if in_comment_or_string(line[: m.start()]):
            continue
        parts = m.group().split(".")
        assigned = re.match(r"\s*=(?!=)", line[m.end() :]) is not None
        offset = m.start()
        for k in range(1, len(parts)):
            offset += len(parts[k - 1]) + (1 if k > 1 else 0)
            if k == len(parts) - 1 and assigned:
                break  # `self.total = 0` defines it
            out.append((offset, ".".join(parts[:k]), parts[k]))
    return out


def check(analysis: Analysis, hole: dict, line: str, root: Path) -> tuple[int, list[str]]:
    """(accesses Jedi knows the receiver of, those of them that name nothing)."""
    code = hole["prefix"] + line + hole["suffix"]
    start = len(hole["prefix"])
    known, wrong = 0, []
    for offset, receiver, attr in accesses(line):
        dot = start + offset + 1
        row = code.count("\n", 0, dot) + 1
        col = dot - (code.rfind("\n", 0, dot) + 1)
        # a fresh key each time: the answer is this document's (an id can be reused)
        key = f"{receiver}@{next(QUESTIONS)}"
        names = analysis.attributes(code, row, col, key, str(hole["path"]), root, 120)
        if names:
            known += 1
            if attr not in names:
                wrong.append(f"{receiver}.{attr}")
    return known, wrong


def run(
    service: CompletionService, folder: Path, holes: list[dict], checker: Analysis, bar
) -> list[dict]:
    rows = []
    for i, h in enumerate(holes):
        uri = Path(h["path"]).as_uri()
        warm = service.read_ahead(uri, h["prefix"] + h["suffix"])
        if warm is not None:
            warm.result()
        request = CompletionRequest(uri, i, h["prefix"], h["suffix"], h["file"])
        result = service.complete_now(request)
        service.close(uri)
        line = result.text.split("\n", 1)[0]
        hit, first10 = score(line, h["target"])
        known, wrong = check(checker, h, line, folder) if line else (0, [])
        rows.append(
            {
                "exact": hit,
                "first10": first10,
                "shown": bool(line.strip()),
                "known": known,
                "wrong": len(wrong),
                "ms": result.ms,
                "source": result.source,
                "line": line,
                "not_existing": wrong,
            }
        )
        bar.update(1)
    return rows


def summary(rows: list[dict]) -> dict:
    shown = [r for r in rows if r["shown"]]
    known = sum(r["known"] for r in rows)
    wrong = sum(r["wrong"] for r in rows)
    return {
        "holes": len(rows),
        "exact_match": sum(r["exact"] for r in rows) / len(rows),
        "shown": len(shown),
        "wrong_first10_shown": sum(1 for r in shown if not r["first10"]),
        "attribute_accesses_known": known,
        "attributes_not_existing": wrong,
        "not_existing_rate": wrong / known if known else None,
        "p50_ms": statistics.median(r["ms"] for r in rows),
        "not_existing_examples": [(r["line"], r["not_existing"]) for r in rows if r["wrong"]],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--holes-per-package", type=int, default=60)
    p.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    p.add_argument("--workspaces", type=Path, default=Path("runs/repos"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--configs",
        default="before,off,on",
        help="before: lineSearch 0, staticAnalysis off, fileNgrams 0; off: staticAnalysis off; "
        "ngrams-off: fileNgrams 0; on: defaults",
    )
    p.add_argument("--json", type=Path, default=Path("docs/results/attributes.json"))
    args = p.parse_args(argv)
    folders = unpack(args.wheels, args.workspaces)
    index = WorkspaceIndex()
    base = Settings(multiline="single", precompute=False, threads=args.threads)
    service = CompletionService(base, RepoContext(index))
    service.load().result()
    checker = Analysis()
    results: dict = {"model": service.backend.description, "configs": {}}
    holes = {f: package_holes(f, args.holes_per_package) for f in folders}
    for config in args.configs.split(","):
        before = config == "before"
        service.settings = replace(
            base,
            static_analysis=config in ("on", "ngrams-off"),
            line_search=0 if before else base.line_search,
            file_ngrams=0.0 if before or config == "ngrams-off" else base.file_ngrams,
        )
        rows = []
        bar = Progress(sum(map(len, holes.values())), config)
        for folder, hs in holes.items():
            index.set_folders([folder]).result()
            rows += run(service, folder, hs, checker, bar)
        bar.close()
        results["configs"][config] = s = summary(rows)
        rate = s["not_existing_rate"]
        print(
            f"{config}: exact {s['exact_match']:.1%}, shown {s['shown']}, "
            f"wrong-10 shown {s['wrong_first10_shown']}, attributes known "
            f"{s['attribute_accesses_known']}, not existing {s['attributes_not_existing']} "
            f"({'-' if rate is None else f'{rate:.1%}'}), p50 {s['p50_ms']:.0f} ms",
            file=sys.stderr,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    service.shutdown(wait_s=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
