"""How often the finisher's Python checks flag code a person wrote: every line of this
machine's Python library and site-packages (written, run and shipped, so none of it is
what the checks are for), each checked as if suggested at its indentation with the file
above it as the prefix. A check that flags real code hides good suggestions.

    python -m bench.false_flags [--checks placement,header,recursion] [--json PATH]

Prints each flagged line (file, line number) and, per check, the lines checked, the
flags and the time a check takes (mean, and how many took over 5 ms).
"""

from __future__ import annotations

import argparse
import json
import sysconfig
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from fim.placement import misplaced
from fim.python_check import bad_block_header, triple_quotes
from fim.recursion import calls_itself
from model.progress import Progress

MAX_FILE = 2_000_000  # larger files are generated data, not code anyone types

# name: (does the check look at this line, the check(line, prefix, in_string))
Check = tuple[Callable[[str], bool], Callable[[str, str, bool], bool]]
CHECKS: dict[str, Check] = {
    "placement": (
        lambda code: (
            code.split(" ", 1)[0].rstrip(":")
            in ("return", "yield", "break", "continue", "else", "elif", "except", "finally")
        ),
        misplaced,
    ),
    "header": (lambda code: code.endswith(":"), lambda line, _, s: bad_block_header(line, s)),
    "recursion": (lambda code: "(" in code, calls_itself),
}


def python_files() -> list[Path]:
    roots = {sysconfig.get_paths()[key] for key in ("stdlib", "purelib", "platlib")}
    return sorted({f for root in roots for f in Path(root).rglob("*.py")})


def lines_of(path: Path) -> Iterator[tuple[int, str, str, bool]]:
    """(line number, line, the file above its code, inside a triple-quoted string)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    if len(text) > MAX_FILE:
        return
    offset, quotes = 0, 0
    for number, line in enumerate(text.split("\n"), 1):
        indent = len(line) - len(line.lstrip())
        yield number, line, text[: offset + indent], quotes % 2 == 1
        quotes += triple_quotes(line)
        offset += len(line) + 1


def run(names: list[str]) -> dict:
    files = python_files()
    totals = {name: {"lines": 0, "flags": 0, "seconds": 0.0, "over_5ms": 0} for name in names}
    bar = Progress(len(files), "files")
    for path in files:
        for number, line, prefix, in_string in lines_of(path):
            code = line.strip()
            for name in names:
                wanted, check = CHECKS[name]
                if not code or not wanted(code):
                    continue
                start = time.perf_counter()
                flagged = check(line, prefix, in_string)
                took = time.perf_counter() - start
                t = totals[name]
                t["lines"] += 1
                t["seconds"] += took
                t["over_5ms"] += took > 0.005
                if flagged:
                    t["flags"] += 1
                    print(f"{name}: {path}:{number}: {code[:80]}", flush=True)
        bar.update(1)
    bar.close()
    for t in totals.values():
        t["mean_us"] = round(1e6 * t.pop("seconds") / max(t["lines"], 1), 1)
    return {"files": len(files), "checks": totals}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checks", default=",".join(CHECKS))
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    names = [n for n in args.checks.split(",") if n]
    unknown = set(names) - set(CHECKS)
    if unknown:
        p.error(f"unknown checks: {', '.join(sorted(unknown))} (known: {', '.join(CHECKS)})")
    result = run(names)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
