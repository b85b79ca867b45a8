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


def test_false_flags_checks_each_line_with_the_file_above_it(tmp_path, monkeypatch):
    """bench.false_flags reads a file as the finisher would see each of its lines, and
    counts a flag where a check flags real code."""
    from bench import false_flags

    code = 'class A:\n    """Doc:\n    return x\n    """\n    def f(self):\n        return 1\n'
    (tmp_path / "a.py").write_text(code + "    return 2\n")  # the last one is misplaced
    rows = list(false_flags.lines_of(tmp_path / "a.py"))
    number, line, prefix, in_string = rows[2]
    assert (number, line, prefix, in_string) == (3, "    return x", code[:25], True)
    monkeypatch.setattr(false_flags, "python_files", lambda: [tmp_path / "a.py"])
    result = false_flags.run(["placement"])
    assert result["checks"]["placement"]["lines"] == 3
    assert result["checks"]["placement"]["flags"] == 1
