"""What the workspace index costs at a large workspace: build, memory, each update, and
how much the index thread slows the model thread meanwhile.

    python -m bench.index_updates [--files 4000 --mib 48] [--json docs/results/index_updates.json]

The workspace is made of the `.py` files of this environment's installed packages (the
reserved packages left out), copied into a temporary folder up to the file count and size
(the shape of issue 32: 4,001 files, 48 MB). One process: the index is built, then single
files are changed one at a time (each update awaited), then a burst of 100 changes is
queued at once, while a thread that stands for the model times a fixed piece of pure
Python work; its slowdown against an idle index is the figure that matters to a user.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from fim.retrieval import query_of
from lsp_server.workspace import WorkspaceIndex
from training.packages import EXCLUDED


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def make_workspace(root: Path, files: int, mib: float) -> tuple[int, int]:
    site = Path(json.__file__).parent  # fallback: the standard library
    sources = sorted(p for p in Path(sys.prefix).rglob("site-packages/**/*.py"))
    sources += sorted(site.rglob("*.py"))
    count = total = 0
    for src in sources:
        top = src.relative_to(src.parents[len(src.parents) - 1]).parts
        if any(part.lower() in EXCLUDED for part in top):
            continue
        size = src.stat().st_size
        if not 2_000 <= size <= 200_000:
            continue
        dst = root / f"pkg{count // 200:03d}" / f"m{count:05d}_{src.name}"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        count, total = count + 1, total + size
        if count >= files or total >= mib * 2**20:
            break
    return count, total


class Probe:
    """A thread that runs a fixed piece of pure Python work in a loop and records how
    long each run took: the interpreter's lock shared with the index thread shows here."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def work() -> None:
        sum(i * i for i in range(20_000))
        time.sleep(0.002)  # the model's kernels let the lock go often

    def _run(self) -> None:
        while not self._stop.is_set():
            t0 = time.perf_counter()
            self.work()
            self.times.append((time.perf_counter() - t0) * 1000)

    def __enter__(self) -> Probe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def completions_during_build(root: Path, out: dict) -> None:
    """The bundled model's completions (one thread) idle, then during a build of `root`
    that does not wait for the model (the baseline) and one that does (as served)."""
    import torch

    from lsp_server.completion import CompletionRequest, CompletionService
    from lsp_server.settings import Settings

    torch.set_num_threads(1)
    service = CompletionService(Settings(threads=1, precompute=False, repo_context=False))
    service.load().result()
    text = Path(__file__).read_text()
    cut = text.index("def main")
    serial = iter(range(10**6))

    def one() -> float:
        i = next(serial)  # a new function each time: a real prefill, not a cache hit
        prefix = text[:cut] + f"def probe_{i}(self):\n    "
        request = CompletionRequest("file:///probe.py", i, prefix, text[cut:], "")
        t0 = time.perf_counter()
        service.complete_now(request)
        return (time.perf_counter() - t0) * 1000

    out["completion_idle_ms"] = median_ms([one() for _ in range(10)])
    for name, defer in (
        ("completion_during_build_ms", False),
        ("completion_during_build_waiting_ms", True),
    ):
        index = WorkspaceIndex()
        if defer:
            index.defer = service.busy
        future, times = index.set_folders([root]), []
        while not future.done():
            times.append(one())
        out[name] = median_ms(times)
        out[name.replace("_ms", "_build_s")] = round(index.build_s or 0, 1)
    service.shutdown()


def median_ms(times: list[float]) -> float:
    return round(statistics.median(times), 2) if times else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=4000)
    p.add_argument("--mib", type=float, default=48)
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--burst", type=int, default=100)
    p.add_argument(
        "--model",
        action="store_true",
        help="also time the bundled model's completions during a build",
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        out["files"], size = make_workspace(root, args.files, args.mib)
        out["mib"] = round(size / 2**20, 1)
        with Probe() as idle:
            time.sleep(2)
        out["probe_idle_ms"] = median_ms(idle.times)
        index = WorkspaceIndex()
        before = rss_mib()
        with Probe() as probe:
            t0 = time.perf_counter()
            index.set_folders([root]).result()
            out["build_s"] = round(time.perf_counter() - t0, 2)
        out["probe_during_build_ms"] = median_ms(probe.times)
        out["rss_mib_index"] = round(rss_mib() - before, 1)
        out["indexed_files"] = index.status()["files"]
        files = sorted(root.rglob("*.py"))
        step = max(1, len(files) // args.updates)
        changed = files[::step][: args.updates]
        each = []
        with Probe() as probe:
            for f in changed:
                text = f.read_text() + "\n\ndef added_by_the_bench():\n    return 1\n"
                t0 = time.perf_counter()
                index.update(f, text).result()
                each.append((time.perf_counter() - t0) * 1000)
        out["update_ms_p50"] = median_ms(each)
        out["update_ms_max"] = round(max(each), 1)
        out["probe_during_updates_ms"] = median_ms(probe.times)
        burst = files[1 :: max(1, len(files) // args.burst)][: args.burst]
        with Probe() as probe:
            t0 = time.perf_counter()
            futures = [index.update(f, f.read_text() + "\n# touched\n") for f in burst]
            for fut in futures:
                fut.result()
            out["burst_drain_s"] = round(time.perf_counter() - t0, 2)
        out["burst"] = len(burst)
        out["probe_during_burst_ms"] = median_ms(probe.times)
        corpus = index.snapshot()
        queries = [f.read_text()[:3000] for f in files[5::97][:40]]
        q_ms = []
        for q in queries:
            t0 = time.perf_counter()
            corpus.similar(query_of(q), 4)
            q_ms.append((time.perf_counter() - t0) * 1000)
        out["query_ms_p50"] = median_ms(q_ms)
        out["rss_mib_after"] = round(rss_mib() - before, 1)
        if args.model:
            completions_during_build(root, out)
    print(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
