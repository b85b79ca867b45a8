"""The finisher's Python checks hide no line of code people wrote: a third of the
standard library's files (every third, sorted), each line checked as bench.false_flags
does, as if suggested with its file above it."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from bench import false_flags

# Not code a suggestion should look like: Python 2 test data, and a test of an endless
# recursion on purpose (`g.create_task(hydra(g))`).
SET_ASIDE = ("lib2to3/tests/data/", "test/test_asyncio/test_taskgroups.py")


def standard_library_sample() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(f for f in root.rglob("*.py") if "site-packages" not in f.parts)
    return [f for f in files[::3] if not any(part in f.as_posix() for part in SET_ASIDE)]


@pytest.mark.parametrize("check", list(false_flags.CHECKS))
def test_no_line_of_the_standard_library_is_flagged(check, monkeypatch):
    files = standard_library_sample()
    assert len(files) > 100  # the standard library's sources are there to read
    monkeypatch.setattr(false_flags, "python_files", lambda: files)
    result = false_flags.run([check])["checks"][check]
    assert result["lines"] > 1000
    assert result["flags"] == 0
