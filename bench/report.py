"""Rewrite the model-dependent tables of the docs from the results after a re-export.

Sections between `<!-- NAME:start -->` and `<!-- NAME:end -->` in docs/model.md and
docs/benchmarks.md are regenerated from model/bundled/training.json and
docs/results/quality.json; the prose around them is left alone.

    python -m bench.report
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROWS = [
    ("spm+heal", "SPM + token healing (the server's default)"),
    ("spm", "SPM, no healing"),
    ("psm+heal", "PSM + token healing"),
    ("psm", "PSM, no healing"),
    ("spm+heal+int8", "SPM + healing, int8 weights"),
]


def quality_table(configs: dict) -> str:
    lines = [
        "| configuration | held-out stdlib whole-line exact match | without codec tables "
        "| HumanEval single-line exact | HumanEval pass@1 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, label in ROWS:
        if key in configs:
            c = configs[key]
            he = c.get("humaneval", {})
            code = c["stdlib"].get("code_only")
            lines.append(
                f"| {label} | {c['stdlib']['exact_match']:.1%} ({c['stdlib']['n']}) | "
                + (f"{code['exact_match']:.1%} ({code['n']}) | " if code else "– | ")
                + f"{he.get('exact_match', 0):.1%} ({he.get('n', 0)}) | {he.get('pass_at_1', 0):.1%} |"
            )
    return "\n".join(lines)


def checkpoint_line(training: dict) -> str:
    recipe = training["recipe"]
    phase = (
        f" (phase 2 from step {recipe['schedule_start']:,})" if recipe.get("schedule_start") else ""
    )
    return (
        f"Shipped checkpoint: step {training['steps']:,} of {recipe['max_steps']:,}{phase}, "
        f"{training['tokens'] / 1e6:.1f} M tokens, {training['cpu_hours']:.2f} CPU-hours for run B "
        f"(plus 0.63 h spent on run A); held-out loss **{training['final_eval_loss']:.2f}** nats/token."
    )


def replace(text: str, name: str, body: str) -> str:
    pattern = re.compile(rf"(<!-- {name}:start -->\n).*?(\n<!-- {name}:end -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no {name} section markers")
    return pattern.sub(lambda m: m.group(1) + body + m.group(2), text)


def main() -> int:
    training = json.loads(Path("model/bundled/training.json").read_text())
    configs = json.loads(Path("docs/results/quality.json").read_text())["configs"]
    for doc in (Path("docs/model.md"), Path("docs/benchmarks.md")):
        text = doc.read_text()
        text = replace(text, "quality", quality_table(configs))
        if "<!-- checkpoint:start -->" in text:
            text = replace(text, "checkpoint", checkpoint_line(training))
        doc.write_text(text)
    print("updated docs/model.md and docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
