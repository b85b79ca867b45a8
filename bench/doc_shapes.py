"""Cost of hostile document shapes through the real server: time to answer and RSS.

    python -m bench.doc_shapes [--json docs/results/doc_shapes.json]

One huge line (opened, then typed at its end), a 200,000-line file given 400 edits in
one notification, and a document just over `maxDocumentMib` (declined). The baseline in
the same run is a small document's completion on the same server.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from bench.rawlsp import RawServer


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024  # peak RSS


def timed(fn) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1000, out


def at(line: int, col: int) -> dict:
    return {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", type=Path, default=Path("docs/results/doc_shapes.json"))
    p.add_argument("--line-mb", type=float, default=50)
    args = p.parse_args(argv)
    srv = RawServer("--threads", "1")
    srv.initialize({"bigcode": {"maxNewTokens": 16}})
    srv.wait_model(600)
    out: dict = {}
    srv.open("file:///small.py", "import os\n\nx = ")
    srv.inline("file:///small.py", 2, 4)
    out["small_completion_ms"], _ = timed(lambda: srv.inline("file:///small.py", 2, 4))
    out["rss_mib_baseline"] = rss_mib(srv.proc.pid)

    line = "values = [" + "1, " * int(args.line_mb * 1e6 / 3)
    uri = "file:///oneline.py"
    out["one_line_mb"] = len(line) / 1e6
    out["one_line_open_and_complete_ms"], _ = timed(
        lambda: (srv.open(uri, line), srv.inline(uri, 0, len(line), timeout=600))
    )
    keys = []
    for i in range(5):
        col = len(line) + i
        ms, _ = timed(
            lambda col=col, i=i: (
                srv.change(uri, 2 + i, [{"range": at(0, col), "text": "2"}]),
                srv.inline(uri, 0, col + 1),
            )
        )
        keys.append(ms)
    out["one_line_keystroke_ms"] = keys
    out["rss_mib_after_one_line"] = rss_mib(srv.proc.pid)
    srv.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    uri = "file:///long.py"
    srv.open(uri, "".join(f"row_{i} = {i}\n" for i in range(200_000)))
    edits = [
        {
            "range": {
                "start": {"line": 199_999 - 500 * k, "character": 0},
                "end": {"line": 199_999 - 500 * k, "character": 3},
            },
            "text": "ROW",
        }
        for k in range(400)
    ]
    out["edits_400_on_200k_lines_ms"], _ = timed(lambda: (srv.change(uri, 2, edits), srv.status()))
    out["rss_mib_peak"] = rss_mib(srv.proc.pid)
    srv.close()
    print(json.dumps(out, indent=1))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
