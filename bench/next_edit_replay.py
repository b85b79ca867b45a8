"""Next edits on real edit sequences: two released versions of a package diffed into
hunks, each hunk's changes made as an editor sends them (per changed stretch of
characters, top to bottom), and after each hunk `textDocument/copilotInlineEdit` asked.

    python -m bench.next_edit_replay [--package more-itertools --old 10.1.0 --new 10.2.0]

A proposal is right when the line it makes is a line of the new release and the line it
changes is not (it moves the file towards what the authors wrote next); wrong otherwise.
Most hunks have no next edit to propose: what counts is how rarely a proposal is wrong,
and how often one is right.
"""

from __future__ import annotations

import argparse
import difflib
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.latency import position
from bench.rawlsp import RawServer
from bench.replay import fetch_sources, hunks


def changes(old: str, new: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each changed stretch turning `old` into `new`, in offsets of
    the text as it is when the change is made (top to bottom)."""
    out, shift = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
        None, old, new, autojunk=False
    ).get_opcodes():
        if tag != "equal":
            out.append((i1 + shift, i2 + shift, new[j1:j2]))
            shift += (j2 - j1) - (i2 - i1)
    return out


def replay_file(server: RawServer, uri: str, old: str, new: str, tally: dict) -> None:
    server.open(uri, old)
    text, version = old, 1
    final_lines = set(new.split("\n"))
    for start, removed, added in hunks(old, new):
        lines = text.split("\n")
        at = sum(len(ln) + 1 for ln in lines[:start])
        was = "\n".join(lines[start : start + removed])
        now = "\n".join(added)
        if removed and added:  # lines changed in place: the stretches that differ
            steps = [(at + a, at + b, t) for a, b, t in changes(was, now)]
        else:  # lines added or removed: one edit
            cut = sum(len(ln) + 1 for ln in lines[start : start + removed])
            steps = [(at, at + cut, "".join(ln + "\n" for ln in added))]
        for a, b, t in steps:
            version += 1
            rng = {"start": position(text, a), "end": position(text, b)}
            server.change(uri, version, [{"range": rng, "text": t}])
            text = text[:a] + t + text[b:]
        params = {
            "textDocument": {"uri": uri, "version": version},
            "position": position(text, steps[-1][0]),
        }
        t0 = time.perf_counter()
        edits = server.request("textDocument/copilotInlineEdit", params)["result"]["edits"]
        tally["ms"].append((time.perf_counter() - t0) * 1000)
        tally["hunks"] += 1
        if not edits:
            continue
        e = edits[0]
        lines = text.split("\n")
        row = e["range"]["start"]["line"]
        if e["range"]["end"]["line"] != row:
            tally["wrong"] += 1
            continue
        line = lines[row]
        a, b = e["range"]["start"]["character"], e["range"]["end"]["character"]
        made = line[:a] + e["text"] + line[b:]
        right = all(x in final_lines for x in made.split("\n")) and line not in final_lines
        tally["right" if right else "wrong"] += 1
        tally["examples"].append(
            {"kind_line": line.strip()[:80], "proposed": made.strip()[:80], "right": right}
        )
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--package", default="more-itertools")
    p.add_argument("--old", default="10.1.0")
    p.add_argument("--new", default="10.2.0")
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "bigcode-replay")
    p.add_argument("--json", type=Path, default=Path("docs/results/next_edit_replay.json"))
    args = p.parse_args(argv)
    old = fetch_sources(args.package, args.old, args.cache)
    new = fetch_sources(args.package, args.new, args.cache)
    server = RawServer("--threads", "1")  # the bundled model: next edits do not use it
    server.initialize({"bigcode": {"maxNewTokens": 2}})
    tally: dict = {"hunks": 0, "right": 0, "wrong": 0, "ms": [], "examples": []}
    for name in sorted(old):
        if name in new and old[name] != new[name]:
            replay_file(server, f"file:///replay/{name}", old[name], new[name], tally)
    server.close()
    out = {
        "package": f"{args.package} {args.old} -> {args.new}",
        "hunks": tally["hunks"],
        "proposed": tally["right"] + tally["wrong"],
        "right": tally["right"],
        "wrong": tally["wrong"],
        "p50_ms": round(statistics.median(tally["ms"]), 1) if tally["ms"] else None,
        "examples": tally["examples"],
    }
    print(json.dumps(out, indent=1))
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
