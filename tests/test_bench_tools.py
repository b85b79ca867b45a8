"""The benchmarks' own measuring tools."""

from __future__ import annotations

import subprocess
import sys

from bench.rawlsp import process_tree_cpu_s


def test_process_tree_cpu_counts_the_children_too():
    """A parent that waits while its child burns CPU: the tree's time is the child's,
    while it runs and once it has ended."""
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {burn!r}])"
    parent = subprocess.Popen([sys.executable, "-c", spawn + "; input()"], stdin=subprocess.PIPE)
    try:
        seen = 0.0
        for _ in range(100):  # until the child has burnt its 0.4 s (it has exited then)
            seen = max(seen, process_tree_cpu_s(parent.pid))
            if seen >= 0.35:
                break
            subprocess.run(["sleep", "0.05"])
        assert seen >= 0.35
        subprocess.run(["sleep", "0.5"])  # the child has ended and been waited for
        assert seen - 0.05 <= process_tree_cpu_s(parent.pid) < seen + 0.3  # the parent idles
    finally:
        parent.communicate(b"\n", timeout=10)
