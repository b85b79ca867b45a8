"""Moving the prefix window while typing at a person's pace: computed ahead or not.

The prompt's prefix window starts on a grid line and moves a block ahead once typing
fills it (`fim.prompt`); with absolute positions everything after the start is then
computed again, so the keystroke that moves it pays a near-cold prefill. With
`precompute` on, the idle worker computes the window's next position into a spare cache
once little room is left (`CompletionService._window_ahead`), and the moving keystroke finds it.

Replays typing `--chars` characters of `ast.py` from `get_source_segment` on (cut out
first), one key per `--key-ms` after the previous answer, through the real server; two
fresh servers in one run, `precompute` on and off, the bundled model, one thread.
Reported: every request's latency, and for the keystrokes that moved the window (the
room before the window must move grew by a block) their latency and prefilled tokens.

    python -m bench.window_moves [--chars 2400] [--key-ms 100] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from bench.latency import FILE, FUNCTION, position
from bench.rawlsp import RawServer
from model.progress import Progress
from training.corpus import stdlib_root

# Room grows by a token or two when a typed character merges tokens; a window that moved
# gains a whole block.
MOVE = 32


def replay(precompute: bool, base: str, typed: str, at: int, args) -> dict:
    settings = {"precompute": precompute, "contextTokens": args.context, "maxNewTokens": 16}
    settings.update(json.loads(args.settings))
    server = RawServer("--threads", "1")
    server.initialize({"bigcode": settings})
    uri = "file:///bench/ast.py"
    server.open(uri, base)
    server.wait_model(timeout=600)
    text, rows = base, []
    bar = Progress(len(typed), f"precompute {'on' if precompute else 'off'}")
    for i, ch in enumerate(typed):
        time.sleep(args.key_ms / 1000)  # the person types the next key
        pos = position(text, at + i)
        server.change(uri, i + 2, [{"range": {"start": pos, "end": pos}, "text": ch}])
        text = text[: at + i] + ch + text[at + i :]
        t0 = time.perf_counter()
        server.inline(uri, **position(text, at + i + 1), timeout=120)
        ms = (time.perf_counter() - t0) * 1000
        last = server.status(uri).get("last", {})
        prompt = last.get("promptTokens", 0)
        rows.append(
            {
                "ms": ms,
                "prompt": prompt,
                "prefilled": prompt - last.get("reusedTokens", 0),
                "room": last.get("room"),
            }
        )
        bar.update(1, ms=ms)
    bar.close()
    server.close()
    moves = [
        b
        for a, b in zip(rows, rows[1:], strict=False)
        if a["room"] is not None and b["room"] is not None and b["room"] > a["room"] + MOVE
    ]
    ms = sorted(r["ms"] for r in rows)
    return {
        "precompute": precompute,
        "requests": len(rows),
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[int(0.95 * (len(ms) - 1))],
        "max_ms": ms[-1],
        "moves": len(moves),
        "move_ms": [round(m["ms"], 1) for m in moves],
        "move_prefilled": [m["prefilled"] for m in moves],
        "move_prompt": [m["prompt"] for m in moves],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--chars", type=int, default=2400)
    p.add_argument("--key-ms", type=int, default=100, help="pause before each key")
    p.add_argument("--context", type=int, default=1536, help="prompt budget in tokens")
    p.add_argument("--json", type=Path, default=Path("docs/results/window_moves.json"))
    p.add_argument(
        "--settings", default="{}", help='more server settings, e.g. {"promptLookup": false}'
    )
    args = p.parse_args(argv)
    source = (stdlib_root() / FILE).read_text()
    at = source.index(FUNCTION)
    typed = source[at : at + args.chars]
    base = source[:at] + source[at + len(typed) :]
    runs = [replay(on, base, typed, at, args) for on in (True, False)]
    on, off = runs
    result = {
        "file": FILE,
        "typed_chars": len(typed),
        "key_ms": args.key_ms,
        "context_tokens": args.context,
        "on": on,
        "off": off,
        "move_ms_ratio": statistics.median(off["move_ms"])
        / max(1e-9, statistics.median(on["move_ms"]))
        if on["move_ms"] and off["move_ms"]
        else None,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    for r in runs:
        print(
            f"precompute {'on' if r['precompute'] else 'off'}: p50 {r['p50_ms']:.1f} ms, "
            f"p95 {r['p95_ms']:.1f}, max {r['max_ms']:.1f}; {r['moves']} moves: "
            f"{r['move_ms']} ms, prefilled {r['move_prefilled']} of {r['move_prompt']}",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
