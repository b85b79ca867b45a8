"""Rewrite docs/benchmarks.md's headline quality table from a `bench.quality` result.

The section between `<!-- quality:start -->` and `<!-- quality:end -->` is regenerated;
the prose around it is left alone. (docs/model.md's v1 tables are history, written by
hand.)

    python -m bench.report [--quality docs/results/quality_v3.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROWS = [
    (
        "spm+heal+lines+gate",
        "**the server's defaults** (SPM, healing, document lines, minConfidence)",
    ),
    ("spm+heal+lines", "SPM + healing + document lines, nothing hidden"),
    ("spm+heal", "SPM + token healing"),
    ("spm", "SPM, no healing"),
    ("psm+heal", "PSM + token healing"),
    ("psm", "PSM, no healing"),
    ("spm+heal+int8", "SPM + healing, int8 weights"),
]


def quality_table(configs: dict) -> str:
    lines = [
        "| configuration | held-out stdlib whole-line exact match | without codec tables "
        "| first 10 chars | HumanEval single-line exact | HumanEval pass@1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for key, label in ROWS:
        if key in configs:
            c = configs[key]
            he = c.get("humaneval", {})
            code = c["stdlib"].get("code_only")
            lines.append(
                f"| {label} | {c['stdlib']['exact_match']:.1%} ({c['stdlib']['n']}) | "
                + (f"{code['exact_match']:.1%} ({code['n']}) | " if code else "– | ")
                + f"{c['stdlib']['first10_match']:.1%} | "
                + f"{he.get('exact_match', 0):.1%} ({he.get('n', 0)}) | {he.get('pass_at_1', 0):.1%} |"
            )
    return "\n".join(lines)


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no {name} section markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quality", type=Path, default=Path("docs/results/quality_v3.json"))
    args = p.parse_args(argv)
    configs = json.loads(args.quality.read_text())["configs"]
    doc = Path("docs/benchmarks.md")
    doc.write_text(replace(doc.read_text(), "quality", quality_table(configs)))
    print(f"updated {doc} from {args.quality}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
