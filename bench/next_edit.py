"""Next edits through the real server: renames, missing imports, repeated edits, and
controls where nothing should be proposed, made from real code (the standard library).

    python -m bench.next_edit [--per-kind 60] [--json docs/results/next_edit.json]

Each scenario opens a real file, makes the user's edit as an editor sends it (a selection
deleted, then a name typed key by key; a line typed key by key), then asks
`textDocument/copilotInlineEdit`. Scenarios are drawn with a fixed seed before anything is
scored. Right means: every edit proposed is one the user would make (a rename: another use
of the old name in that scope; an import: `import m` placed among the head's imports, judged on the syntax tree; a repeat:
the same change on the nearest line it fits), and at least one is proposed.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import statistics
import sys
import time
from pathlib import Path

from bench.latency import position
from bench.rawlsp import RawServer

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"


def sources() -> list[tuple[str, str]]:
    out = []
    for path in sorted(STDLIB.glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if 2_000 < len(text) < 120_000 and "\t" not in text:
            try:
                out.append((path.name, text, ast.parse(text)))
            except SyntaxError:
                continue
    return out


def renames(files, rng: random.Random, n: int) -> list[dict]:
    """A function's parameter or local, renamed at its first use; the others are expected."""
    found = []
    for name, text, tree in files:
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef) or fn.col_offset:
                continue
            uses: dict[str, list[ast.Name]] = {}
            for node in ast.walk(fn):
                if isinstance(node, ast.Name):
                    uses.setdefault(node.id, []).append(node)
            params = {a.arg for a in ast.walk(fn) if isinstance(a, ast.arg)}
            params |= {
                n for g in ast.walk(fn) if isinstance(g, ast.Global | ast.Nonlocal) for n in g.names
            }
            for var, nodes in uses.items():
                if len(nodes) >= 3 and var not in params and len(var) > 2 and var.islower():
                    nodes.sort(key=lambda x: (x.lineno, x.col_offset))
                    found.append((name, text, var, [(x.lineno, x.col_offset) for x in nodes]))
    return [
        {"kind": "rename", "file": f, "text": t, "old": v, "new": v + "_renamed", "uses": u}
        for f, t, v, u in rng.sample(found, min(n, len(found)))
    ]


def bindings(tree: ast.AST, name: str) -> int:
    """How many places bind `name` (imports, assignments, definitions, parameters, ...)."""
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            count += sum((a.asname or a.name.split(".")[0]) == name for a in node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            count += node.id == name
        elif isinstance(node, ast.arg):
            count += node.arg == name
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            count += node.name == name
        elif isinstance(node, ast.ExceptHandler):
            count += getattr(node, "name", None) == name
    return count


def imports(files, rng: random.Random, n: int) -> list[dict]:
    """A public standard-library module imported alone (`import m`), bound nowhere else
    and used as `m.`: the import line removed, then `m.` typed on a new line in a function."""
    found = []
    for name, text, tree in files:
        for node in tree.body:
            if isinstance(node, ast.Import) and len(node.names) == 1 and not node.names[0].asname:
                module = node.names[0].name
                if "." in module or module not in sys.stdlib_module_names or module[0] == "_":
                    continue
                if f"{module}." in text and bindings(tree, module) == 1:
                    found.append((name, text, module, node.lineno))
    return [
        {"kind": "import", "file": f, "text": t, "module": m, "line": ln}
        for f, t, m, ln in rng.sample(found, min(n, len(found)))
    ]


GET = re.compile(r"(\w+)\.get\(('[^']*'|\"[^\"]*\")\)")


def repeats(files, rng: random.Random, n: int) -> list[dict]:
    """Two lines near each other with `x.get("k")`: the first becomes `x["k"]`."""
    found = []
    for name, text, _ in files:
        lines = text.split("\n")
        hits = [i for i, ln in enumerate(lines) if GET.search(ln)]
        for a, b in zip(hits, hits[1:], strict=False):
            if b - a <= 6:
                found.append((name, text, a, b))
    return [
        {"kind": "repeat", "file": f, "text": t, "first": a, "second": b}
        for f, t, a, b in rng.sample(found, min(n, len(found)))
    ]


def controls(files, rng: random.Random, n: int) -> list[dict]:
    """A comment line, or an ordinary new statement, typed inside a function."""
    out = []
    for i in range(n):
        name, text, tree = rng.choice(files)
        fns = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.body]
        fn = rng.choice(fns)
        typed = "# keep the order stable here" if i % 2 else "result_total = 0"
        out.append(
            {
                "kind": "control",
                "file": name,
                "text": text,
                "line": fn.body[0].lineno,
                "typed": typed,
            }
        )
    return out


def offset_of(text: str, line: int, col: int) -> int:
    return sum(len(x) + 1 for x in text.split("\n")[: line - 1]) + col


class Editor:
    """A document in the server, edited as an editor sends it."""

    def __init__(self, server: RawServer, uri: str, text: str) -> None:
        self.server, self.uri, self.text, self.version = server, uri, text, 1
        server.open(uri, text)

    def replace(self, start: int, end: int, new: str) -> None:
        self.version += 1
        rng = {"start": position(self.text, start), "end": position(self.text, end)}
        self.server.change(self.uri, self.version, [{"range": rng, "text": new}])
        self.text = self.text[:start] + new + self.text[end:]

    def type(self, at: int, typed: str) -> int:
        for ch in typed:
            self.replace(at, at, ch)
            at += 1
        return at

    def ask(self) -> tuple[list[dict], float]:
        params = {
            "textDocument": {"uri": self.uri, "version": self.version},
            "position": {"line": 0, "character": 0},
        }
        t0 = time.perf_counter()
        reply = self.server.request("textDocument/copilotInlineEdit", params)
        return reply["result"]["edits"], (time.perf_counter() - t0) * 1000

    def offset(self, pos: dict) -> int:
        return offset_of(self.text, pos["line"] + 1, pos["character"])


def run(server: RawServer, s: dict, i: int) -> tuple[bool, bool, float]:
    """(right, proposed anything, ms)."""
    ed = Editor(server, f"file:///next/{i}_{s['file']}", s["text"])
    if s["kind"] == "rename":
        (line, col), *others = s["uses"]
        at = offset_of(ed.text, line, col)
        ed.replace(at, at + len(s["old"]), "")
        ed.type(at, s["new"])
        edits, ms = ed.ask()
        shift = len(s["new"]) - len(s["old"])
        want = {offset_of(s["text"], ln, c) + shift for ln, c in others}
        got = [(ed.offset(e["range"]["start"]), e["text"]) for e in edits]
        right = bool(got) and all(o in want and t == s["new"] for o, t in got)
    elif s["kind"] == "import":
        lines = s["text"].split("\n")
        removed = "\n".join(lines[: s["line"] - 1] + lines[s["line"] :])
        ed = Editor(server, f"file:///next/{i}b_{s['file']}", removed)
        at = _function_line(ed.text)
        body = ed.text[at:].lstrip("\n")
        indent = body[: len(body) - len(body.lstrip(" "))] or "    "
        ed.type(at, "\n")  # a new line above the body's first, then typed on
        ed.type(at, indent + f"value = {s['module']}.")
        edits, ms = ed.ask()
        right = len(edits) >= 1 and edits[0]["text"] == f"import {s['module']}\n"
        right = right and _import_well_placed(
            removed, ed.offset(edits[0]["range"]["start"]), edits[0]["text"]
        )
    elif s["kind"] == "repeat":
        lines = s["text"].split("\n")
        first = sum(len(x) + 1 for x in lines[: s["first"]])
        m = GET.search(lines[s["first"]])
        ed.replace(first + m.start(), first + m.end(), f"{m.group(1)}[{m.group(2)}]")
        edits, ms = ed.ask()
        right = len(edits) >= 1 and _repeats_the_change(ed, edits[0])
    else:
        at = offset_of(ed.text, s["line"], 0)
        ed.type(at, "    ")
        ed.type(at + 4, s["typed"] + "\n")
        edits, ms = ed.ask()
        right = not edits
    server.notify("textDocument/didClose", {"textDocument": {"uri": ed.uri}})
    return right, bool(edits), ms


def _import_well_placed(text: str, at: int, line: str) -> bool:
    """Judged on its own: `line` inserted at `at` is a top-level import statement above
    every definition, right after the docstring or another top-level import (or a
    `try`/`if` block, as `try: import x` is)."""
    if at != 0 and text[at - 1] != "\n":
        return False
    tree = ast.parse(text[:at] + line + text[at:])
    row = text.count("\n", 0, at) + 1
    body = tree.body
    k = next((i for i, n in enumerate(body) if n.lineno == row), None)
    if k is None or not isinstance(body[k], ast.Import):
        return False
    if any(isinstance(n, ast.FunctionDef | ast.ClassDef) and n.lineno < row for n in body):
        return False
    before = body[k - 1] if k else None
    heads = ast.Import | ast.ImportFrom | ast.Try | ast.If | ast.Expr
    return before is None or isinstance(before, heads)


def _repeats_the_change(ed: Editor, edit: dict) -> bool:
    """The edit makes another line what the same change makes it: its first `x.get(k)`
    becomes `x[k]`, the rest of the line as it was."""
    start, end = ed.offset(edit["range"]["start"]), ed.offset(edit["range"]["end"])
    line_start = ed.text.rfind("\n", 0, start) + 1
    line_end = ed.text.find("\n", end)
    line = ed.text[line_start:line_end]
    after = line[: start - line_start] + edit["text"] + line[end - line_start :]
    return after != line and after == GET.sub(r"\1[\2]", line, count=1)


def _function_line(text: str) -> int:
    """The start of the line after the first top-level function's `def` line."""
    m = re.search(r"^def .*:\n", text, re.MULTILINE)
    return m.end() if m else len(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--per-kind", type=int, default=60)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path("docs/results/next_edit.json"))
    args = p.parse_args(argv)
    files, rng = sources(), random.Random(args.seed)
    scenarios = [
        *renames(files, rng, args.per_kind),
        *imports(files, rng, args.per_kind),
        *repeats(files, rng, args.per_kind),
        *controls(files, rng, args.per_kind),
    ]
    server = RawServer("--threads", "1")  # the bundled model: next edits do not use it
    server.initialize({"bigcode": {"maxNewTokens": 2}})
    results: dict[str, dict] = {}
    times = []
    for i, s in enumerate(scenarios):
        right, proposed, ms = run(server, s, i)
        r = results.setdefault(s["kind"], {"scenarios": 0, "right": 0, "proposed": 0})
        r["scenarios"] += 1
        r["right"] += right
        r["proposed"] += proposed
        times.append(ms)
    server.close()
    for r in results.values():
        r["right_share"] = round(r["right"] / r["scenarios"], 3)
    times.sort()
    out = {
        "source": f"Python {sys.version_info.major}.{sys.version_info.minor} standard library",
        "kinds": results,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(len(times) * 0.95) - 1], 1),
    }
    print(json.dumps(out, indent=1))
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
