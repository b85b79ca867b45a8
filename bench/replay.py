"""Replay real edits: two released versions of a package, diffed into hunks and replayed
in file order as an editor would send them, through the real server.

For each hunk the cursor jumps to it, the old lines are deleted in one edit, the cursor
rests (`--rest-ms`; with warming, the client's `bigcode/didMoveCursor` is sent when it
comes to rest), and the new lines are typed key by key. Keystrokes come in bursts: after each key a
pause is drawn (seeded; 70 % 60 ms, 30 % 400 ms); a completion request is sent only after
a pause longer than the clients' 150 ms debounce, as the clients do, and the pause itself
is slept only then (fast keys are sent back to back). The same replay runs without and
with warming, each against a fresh server, in one process.

    python -m bench.replay [--package more-itertools --old 10.1.0 --new 10.2.0]
        [--shape bundled|tiny_starcoder_py] [--max-keys 500] [--settings JSON] [--json PATH]

Reports per run: p50/p95/p99 latency, the first request after each jump apart, tokens
prefilled per request, the CPU time the server used while the edits were replayed, and how often the suggestion shown was what was typed next (its
first 10 characters, or the whole rest of the line).
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from bench.latency import long_context_model, position, random_model
from bench.rawlsp import RawServer
from model.progress import Progress

DEBOUNCE_MS = 150
FAST_MS, PAUSE_MS, PAUSE_SHARE = 60, 400, 0.3


def fetch_sources(package: str, version: str, cache: Path) -> dict[str, str]:
    """The .py files of one released wheel (pip download; cached)."""
    folder = cache / f"{package}-{version}"
    if not folder.exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary",
                ":all:",
                "-d",
                str(folder),
                f"{package}=={version}",
            ],
            check=True,
        )
    (wheel,) = folder.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return {
            n: zf.read(n).decode("utf-8", "replace")
            for n in zf.namelist()
            if n.endswith(".py") and "/tests/" not in n
        }


def hunks(old: str, new: str) -> list[tuple[int, int, list[str]]]:
    """(first line, old line count, new lines) per change, top to bottom, in the line
    numbers of the text as it is when the hunk is reached."""
    a, b = old.split("\n"), new.split("\n")
    out, shift = [], 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        out.append((i1 + shift, i2 - i1, b[j1:j2]))
        shift += (j2 - j1) - (i2 - i1)
    return out


def replay(files: dict[str, tuple[str, str]], model: str | None, warm: bool, args) -> dict:
    settings = {"minConfidence": 0.0, "deadlineMs": 60000}  # every suggestion, never cut
    settings |= json.loads(args.settings)
    threads = ["--threads", str(args.threads)] if args.threads else []
    server = RawServer(*(["--model", model] if model else []), *threads)
    server.initialize({"bigcode": settings})
    server.wait_model(timeout=600)
    cpu_at_start = server.cpu_seconds()
    rng = random.Random(args.seed)
    times, first, prefilled, match10, match_line = [], [], [], [], []
    first_detail: list[dict] = []
    typing_phases: list[dict] = []
    typing_tokens: list[int] = []  # generated per typing request: random weights vary it
    new_line: list[float] = []  # typing requests that are the first on their line
    slowest: list[tuple] = []  # typing requests: (ms, detail, phases), the slowest kept
    keys = 0
    bar = Progress(args.max_keys, f"replay ({'warm' if warm else 'cold'} rests)")
    for name, (old, new) in files.items():
        uri = f"file:///replay/{name}"
        text, version = old, 1
        server.open(uri, text)
        for start, removed, added in hunks(old, new):
            if keys >= args.max_keys:
                break
            lines = text.split("\n")
            at = sum(len(ln) + 1 for ln in lines[:start])
            cut = sum(len(ln) + 1 for ln in lines[start : start + removed])
            pos = position(text, at)
            typed = "".join(ln + "\n" for ln in added)
            if cut:  # the jump: the old lines selected and deleted on arrival
                version += 1
                end = position(text, at + cut)
                server.change(uri, version, [{"range": {"start": pos, "end": end}, "text": ""}])
                text = text[:at] + text[at + cut :]
            if warm:  # the client reports where the cursor came to rest
                server.notify(
                    "bigcode/didMoveCursor",
                    {"textDocument": {"uri": uri, "version": version}, "position": pos},
                )
            time.sleep(args.rest_ms / 1000)  # the user thinks before typing, either way
            after_jump, asked_on = True, -1  # asked_on: the typed line of the last request
            for i, ch in enumerate(typed):
                offset = at + i
                p = position(text, offset)
                version += 1
                server.change(uri, version, [{"range": {"start": p, "end": p}, "text": ch}])
                text = text[:offset] + ch + text[offset:]
                keys += 1
                bar.update(1)
                pause = PAUSE_MS if rng.random() < PAUSE_SHARE else FAST_MS
                if pause <= DEBOUNCE_MS or i == len(typed) - 1:
                    continue
                time.sleep(pause / 1000)
                params = {
                    "textDocument": {"uri": uri},
                    "position": position(text, offset + 1),
                    "context": {"triggerKind": 2},
                }
                t0 = time.perf_counter()
                reply = server.request("textDocument/inlineCompletion", params, timeout=300)
                ms = (time.perf_counter() - t0) * 1000
                items = reply.get("result", {}).get("items") or []
                shown = items[0]["insertText"] if items else ""
                last = server.status(uri).get("last", {})
                (first if after_jump else times).append(ms)
                if after_jump:  # what the first request after a jump did, to see its cost
                    keep = (
                        "ms",
                        "promptTokens",
                        "reusedTokens",
                        "generatedTokens",
                        "detail",
                        "source",
                        "phases",
                    )
                    first_detail.append({k: last.get(k) for k in keep} | {"ms": round(ms, 1)})
                else:
                    typing_phases.append(last.get("phases") or {})
                    slowest.append((round(ms, 1), last.get("detail"), last.get("phases")))
                    typing_tokens.append(last.get("generatedTokens", 0))
                    if typed.count("\n", 0, i + 1) != asked_on:  # a line no request saw yet
                        new_line.append(ms)
                after_jump, asked_on = False, typed.count("\n", 0, i + 1)
                prefilled.append(last.get("promptTokens", 0) - last.get("reusedTokens", 0))
                rest_of_line = typed[i + 1 :].split("\n", 1)[0]
                if shown:
                    match10.append(shown[:10] == typed[i + 1 : i + 1 + len(shown[:10])])
                    match_line.append(shown.split("\n", 1)[0] == rest_of_line)
                if keys >= args.max_keys:
                    break
    bar.close()
    model_name = server.status()["model"]
    cpu_s = server.cpu_seconds() - cpu_at_start
    server.close()
    every = times + first
    return {
        "warm_rests": warm,
        "model": model_name,
        "keys": keys,
        "requests": len(every),
        "p50_ms": statistics.median(every),
        "p95_ms": statistics.quantiles(every, n=20)[-1],
        "p99_ms": statistics.quantiles(every, n=100)[-1],
        "typing_p50_ms": statistics.median(times),
        "first_after_jump_p50_ms": statistics.median(first),
        "first_after_jump_p95_ms": statistics.quantiles(first, n=20)[-1],
        "jumps": len(first),
        "first_after_jump": first_detail,
        "typing_generated_tokens_mean": statistics.fmean(typing_tokens),
        "typing_slowest": sorted(slowest, key=lambda r: -r[0])[:8],
        # the like-for-like comparison: a jump's first request is the first on its line too
        "typing_first_on_a_line_p50_ms": statistics.median(new_line) if new_line else None,
        "typing_first_on_a_line_requests": len(new_line),
        "typing_phases_p50_ms": {
            k: statistics.median(p.get(k, 0.0) for p in typing_phases)
            for k in sorted({k for p in typing_phases for k in p})
        },
        "mean_prefilled_tokens": statistics.fmean(prefilled),
        # what the work costs the machine (the battery): the server and its analyser
        "server_cpu_s": cpu_s,
        "server_cpu_s_per_100_keys": 100 * cpu_s / max(1, keys),
        "shown": len(match10),
        "shown_first10_typed_next": sum(match10) / max(1, len(match10)),
        "shown_line_typed_next": sum(match_line) / max(1, len(match_line)),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--package", default="more-itertools")
    p.add_argument("--old", default="10.1.0")
    p.add_argument("--new", default="10.2.0")
    p.add_argument("--shape", default="bundled", help="bundled, or a bench/engine.py shape")
    p.add_argument("--max-keys", type=int, default=500)
    p.add_argument("--rest-ms", type=int, default=1000)
    p.add_argument("--threads", type=int, default=0, help="0: the server's default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--settings", default="{}", help='more server settings, e.g. {"widePasses": false}'
    )
    p.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "bigcode-replay")
    p.add_argument("--json", type=Path, default=Path("docs/results/replay.json"))
    p.add_argument(
        "--warm-only", dest="runs", action="store_const", const=(True,), default=(False, True)
    )
    args = p.parse_args(argv)
    old = fetch_sources(args.package, args.old, args.cache)
    new = fetch_sources(args.package, args.new, args.cache)
    files = {n: (old[n], new[n]) for n in sorted(old) if n in new and old[n] != new[n]}
    model = long_context_model() if args.shape == "bundled" else random_model(args.shape)
    runs = [replay(files, model, warm, args) for warm in args.runs]
    for run in runs:
        print(json.dumps(run), file=sys.stderr)
    result = {
        "package": f"{args.package} {args.old} -> {args.new}",
        "files": list(files),
        "shape": args.shape,
        "rest_ms": args.rest_ms,
        "settings": json.loads(args.settings),
        "runs": runs,
    }
    for run in runs:
        kind = "warm" if run["warm_rests"] else "cold"
        ratio = run["first_after_jump_p50_ms"] / run["typing_p50_ms"]
        result[f"first_after_jump_p50_ratio_{kind}_to_typing"] = ratio
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
