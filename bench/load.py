"""Keystroke latency on an idle machine and on one whose cores are all busy.

The latency replay (bench/latency.py: typing a function back into ast.py, one inline
completion request per character, per-document cache on, the product's 4 s deadline)
runs against fresh servers in several thread configurations, first idle, then while a
CPU hog saturates the machine (started and stopped here): one spinning process per CPU
(a build), then one PyTorch process multiplying matrices on every CPU (a training run).
Reported per configuration: p50/p95, the busy/idle p50 ratio, and how many suggestions
the deadline cut short.

    python -m bench.load [--chars 120] [--model DIR] [--json docs/results/load.json]

Configurations: `default` is what a user gets (threads 0 = automatic, half the CPUs:
lsp_server/engine.py); `2 threads spinning` is the previous default on a 2-CPU machine
(all CPUs, OpenMP's own spin-then-sleep waiting); `2 threads passive` the same with
OMP_WAIT_POLICY=PASSIVE (idle OpenMP threads sleep at once).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
from pathlib import Path

from bench.latency import FILE, FUNCTION, long_context_model, replay_points, run_replay
from training.corpus import stdlib_root

# name -> (threads, environment)
CONFIGS = {
    "default": (0, {}),
    "2 threads spinning": (2, {}),
    "2 threads passive": (2, {"OMP_WAIT_POLICY": "PASSIVE"}),
}


def _spin() -> None:
    """A compiler or a test suite: one core's worth of plain computation."""
    while True:
        pass


def _matmuls() -> None:
    """Another PyTorch program (a training run, a second model) on every core, with
    PyTorch's default threads and OpenMP's default waiting."""
    import torch

    a = torch.randn(512, 512)
    while True:
        a = torch.tanh(a @ a)


HOGS = {"spin": _spin, "torch": _matmuls}


class Hog:
    """Busy processes while the block runs: `kind` spin is one spinning process per CPU,
    torch one multi-threaded PyTorch process."""

    def __init__(self, kind: str = "spin"):
        self.kind = kind
        self.procs: list[multiprocessing.Process] = []

    def __enter__(self) -> Hog:
        ctx = multiprocessing.get_context("spawn")
        n = (os.cpu_count() or 1) if self.kind == "spin" else 1
        self.procs = [ctx.Process(target=HOGS[self.kind], daemon=True) for _ in range(n)]
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            p.join()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None, help="model directory (default: the bundled one)")
    p.add_argument("--chars", type=int, default=120, help="characters typed per replay")
    p.add_argument("--context", type=int, default=1536)
    p.add_argument("--max-new-tokens", type=int, default=16)
    p.add_argument("--deadline-ms", type=int, default=4000, help="the product's default")
    p.add_argument("--configs", default=",".join(CONFIGS))
    p.add_argument("--hogs", default="spin,torch", help="kinds of load: spin, torch")
    p.add_argument("--json", type=Path, default=Path("docs/results/load.json"))
    args = p.parse_args(argv)
    args.accepts, args.accept_pause_ms = 0, 0
    if args.model is None:
        args.model = long_context_model()
    source = (stdlib_root() / FILE).read_text()
    base, body, at = replay_points(source, FUNCTION)
    typed = body[: args.chars]
    results: dict = {
        "model_dir": args.model,
        "cpus": os.cpu_count(),
        "typed_chars": len(typed),
        "deadline_ms": args.deadline_ms,
        "configs": {},
    }
    for name in args.configs.split(","):
        threads, env = CONFIGS[name]
        args.threads = threads
        row = {"threads_flag": threads, "env": env}
        for load in ("idle", *(f"busy ({kind})" for kind in args.hogs.split(","))):
            label = f"{name}, {load}"
            if load != "idle":
                with Hog(load[6:-1]):
                    r = run_replay(True, typed, base, at, args, args.deadline_ms, env, label)
            else:
                r = run_replay(True, typed, base, at, args, args.deadline_ms, env, label)
            row[load] = {k: r[k] for k in ("p50_ms", "p95_ms", "mean_ms", "cut_by_deadline")}
            print(
                f"{label}: p50 {r['p50_ms']:.0f} ms, p95 {r['p95_ms']:.0f} ms, "
                f"{r['cut_by_deadline']} cut by the deadline",
                file=sys.stderr,
            )
        for load in list(row):
            if load.startswith("busy"):
                row[f"{load} / idle p50"] = row[load]["p50_ms"] / row["idle"]["p50_ms"]
        results["configs"][name] = row
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
