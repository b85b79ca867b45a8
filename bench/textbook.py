"""The textbook set: snippets a newcomer types first (bench/data/textbook.json, with the
answers a programmer would accept, written before any model ran on them), completed
through the server's own path with its default settings.

    python -m bench.textbook [--model DIR] [--threads 1] [--json PATH]

Reports how many are acceptable, how many are shown but wrong, how many show nothing
(and why), and how many shown suggestions loop (bench.quality's own detector).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from bench.quality import looks_degenerate
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings

DATA = Path(__file__).resolve().parent / "data" / "textbook.json"


def acceptable(text: str, patterns: list[str]) -> bool:
    line = " ".join(text.strip().split())
    return any(re.fullmatch(p, line) for p in patterns)


def run(service: CompletionService) -> dict:
    snippets = json.loads(DATA.read_text())["snippets"]
    rows, reasons = [], Counter()
    for i, s in enumerate(snippets):
        done = service.complete_now(
            CompletionRequest(f"file:///textbook/{i}.py", 1, s["prefix"], s["suffix"], "a.py")
        )
        ok = bool(done.text) and acceptable(done.text, s["accept"])
        if not done.text:
            reasons[done.detail or done.status] += 1
        rows.append({"snippet": s["prefix"][-40:], "shown": done.text, "ok": ok})
    shown = [r for r in rows if r["shown"]]
    return {
        "n": len(rows),
        "acceptable": sum(r["ok"] for r in rows),
        "shown_wrong": sum(1 for r in shown if not r["ok"]),
        "empty": len(rows) - len(shown),
        "empty_reasons": dict(reasons),
        "degenerate_shown": sum(looks_degenerate(r["shown"]) for r in shown),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="model directory or name (default: bundled)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=Path("docs/results/textbook.json"))
    p.add_argument(
        "--off",
        default="",
        help="settings to turn off (a number: 0), comma-separated, e.g. line_search,static_analysis",
    )
    args = p.parse_args(argv)
    settings = Settings(model=args.model, threads=args.threads, precompute=False)
    off = {n: type(getattr(settings, n))(0) for n in args.off.split(",") if n}
    service = CompletionService(replace(settings, **off))
    service.load().result()
    result = run(service)
    service.shutdown(wait_s=5)
    for r in result["rows"]:
        print(
            f"{'OK ' if r['ok'] else '   '} {r['snippet']!r:45} -> {r['shown']!r}", file=sys.stderr
        )
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary), file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
