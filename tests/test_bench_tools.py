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


def test_keyword_and_assignment_holes_are_cut_after_the_keyword_or_the_equals():
    from bench.keyword_holes import after_assignment, after_keyword

    holes = [
        {"prefix": "def f(a):\n    ", "suffix": "\n", "target": "return a + 1", "indent": "    "},
        {"prefix": "    ", "suffix": "\n", "target": "self.total = a[0]"},
        {"prefix": "    ", "suffix": "\n", "target": "returned = 1"},  # not the keyword
        {"prefix": "    ", "suffix": "\n", "target": "x == 1"},  # a comparison
        {"prefix": "    ", "suffix": "\n", "target": "return"},  # nothing after it
        {"prefix": "    ", "suffix": "\n", "target": "x += 1"},  # augmented
    ]
    kw = after_keyword(holes)
    assert [(h["prefix"], h["target"]) for h in kw] == [("def f(a):\n    return ", "a + 1")]
    assert kw[0]["indent"] == "    return "  # a HumanEval task's tested line starts with it
    eq = after_assignment(holes)
    assert [(h["prefix"], h["target"]) for h in eq] == [
        ("    self.total = ", "a[0]"),
        ("    returned = ", "1"),
    ]
