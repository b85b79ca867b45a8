"""Acceptance statistics: the counting rules, retention, back-off, the stats file and
`bigcode-ls stats` (the notifications through a real client: test_server.py)."""

from __future__ import annotations

import json
import logging

from cli.main import main
from lsp_server.acceptance import BACK_OFF_AFTER, AcceptanceStats, load_counts


def test_show_accept_partial_dismiss_are_counted_per_language():
    stats = AcceptanceStats()
    stats.shown("a.py", "python", "return x")
    stats.shown("a.py", "python", "return x")  # drawn again: still one
    stats.accepted("a.py", "python", "return x", 8, 0)
    stats.shown("a.py", "python", "foo(bar)")
    stats.accepted("a.py", "python", "foo(bar)", 3, 0)  # a word of it
    stats.shown("a.py", "python", "one")
    stats.shown("a.py", "python", "two")  # replaced without an accept: dismissed
    stats.dismissed("a.py")
    stats.shown("b.rs", "rust", "fn main()")
    py, rust = stats.summary()["python"], stats.summary()["rust"]
    assert (py["shown"], py["accepted"], py["partial"], py["dismissed"]) == (4, 1, 1, 2)
    assert py["acceptedChars"] == 8 + 3 and py["takenRate"] == 0.5
    assert rust["shown"] == 1 and rust["dismissed"] == 0


def test_retention_counts_what_is_still_there_after_30_s():
    stats = AcceptanceStats()
    stats.shown("a.py", "python", "total = compute(values)")
    stats.accepted("a.py", "python", "total = compute(values)", 23, 10)
    assert stats.due_checks() == []  # not yet
    (accept,) = stats.due_checks(now=float("inf"))
    doc = "x = 1\n    total = compute(values, strict=True)\n"  # edited after the accept
    stats.check(accept, doc)
    py = stats.summary()["python"]
    assert py["checkedChars"] == 23 and 18 <= py["retainedChars"] < 23
    stats.shown("a.py", "python", "gone()")
    stats.accepted("a.py", "python", "gone()", 6, 0)
    stats.check(stats.due_checks(now=float("inf"))[0], "nothing like it")
    assert stats.summary()["python"]["retainedChars"] < 23


def test_back_off_starts_when_suggestions_are_ignored_and_lifts(caplog):
    caplog.set_level(logging.INFO, logger="bigcode_ls")
    stats = AcceptanceStats()
    for i in range(BACK_OFF_AFTER):
        stats.shown("a.md", "markdown", f"text {i}")
    assert "markdown" in stats.backed_off
    assert "markdown: 0 of" in caplog.text and "backing off" in caplog.text
    for i in range(5):
        stats.shown("a.md", "markdown", f"more {i}")
        stats.accepted("a.md", "markdown", f"more {i}", 6, 0)
    assert "markdown" not in stats.backed_off and "lifted" in caplog.text


def test_stats_file_merges_sessions_and_cli_prints_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert main(["stats"]) == 1 and "statsFile" in capsys.readouterr().err
    path = tmp_path / "bigcode-ls" / "stats.json"
    for _ in range(2):  # two sessions, each saving twice
        stats = AcceptanceStats()
        stats.shown("a.py", "python", "x = 1")
        stats.accepted("a.py", "python", "x = 1", 5, 0)
        stats.save(path)
        stats.save(path)
        assert stats.summary()["python"]["accepted"] == 1  # status keeps the session's
    assert load_counts(path)["python"]["accepted"] == 2
    assert main(["stats"]) == 0
    table = capsys.readouterr().out
    assert "python" in table and "100.0" in table
    assert main(["stats", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["python"]["shown"] == 2


def test_a_damaged_stats_file_loses_its_bad_counts_not_the_session(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    path = tmp_path / "bigcode-ls" / "stats.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"python": {"shown": "many", "accepted": 2, "x": 1}, "go": 3}))
    assert main(["stats"]) == 0 and "python" in capsys.readouterr().out
    stats = AcceptanceStats()
    stats.shown("a.py", "python", "x = 1")
    stats.save(path)  # was: TypeError, so shutdown failed and the session's counts were lost
    saved = load_counts(path)["python"]
    assert saved["accepted"] == 2 and saved["shown"] == 1


def test_a_fifo_stats_file_is_not_read(tmp_path):
    import os
    import threading

    fifo = tmp_path / "stats.json"
    os.mkfifo(fifo)
    done = threading.Event()
    result = {}

    def load():
        result["counts"] = load_counts(fifo)
        done.set()

    threading.Thread(target=load, daemon=True).start()
    assert done.wait(5), "load_counts blocked on a FIFO"
    assert result["counts"] == {}


def test_a_planted_link_at_the_temporary_name_is_not_written_through(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    path = tmp_path / "state" / "stats.json"
    path.parent.mkdir()
    (path.parent / "stats.tmp").symlink_to(victim)
    stats = AcceptanceStats()
    stats.shown("a.py", "python", "x = 1")
    stats.save(path)
    assert victim.read_text() == "precious"
    assert load_counts(path)["python"]["shown"] == 1
    assert not list(path.parent.glob(".stats-*"))  # no temporary file left behind


def test_the_retention_check_of_a_huge_accept_is_cheap_and_floods_are_bounded():
    import random
    import threading
    import time

    rng = random.Random(0)
    text = "".join(rng.choice("abcdefgh \n") for _ in range(20_000))
    edited = text.replace("a", "b")  # the user changed much of it: no whole match
    stats = AcceptanceStats()
    stats.accepted("a.py", "python", text, len(text), 0)
    (accept,) = stats.due_checks(now=time.monotonic() + 60)
    done = threading.Event()
    threading.Thread(target=lambda: (stats.check(accept, edited), done.set()), daemon=True).start()
    assert done.wait(5), "the retention check is still running"  # it was 80 s
    assert 0 < stats.languages["python"].retained_chars <= stats.languages["python"].checked_chars
    for _ in range(2_000):  # an accept flood of 1 MB texts
        stats.accepted("a.py", "python", "x" * 1_000_000, 1_000_000, 0)
    pending = stats.due_checks(now=time.monotonic() + 60)
    assert len(pending) <= 100 and all(len(a.text) <= 4_000 for a in pending)


def test_retention_counts_lines_kept_whole_and_lines_edited_in_place():
    from lsp_server.acceptance import retained

    text = "total = 0\nfor x in items:\n    total += x"
    assert retained(text, "def f():\n" + text + "\n", 9) == len(text)
    edited = "total = 0\nfor item in items:\n    total += x"  # one line edited
    got = retained(text, "def f():\n" + edited + "\n", 9)
    assert len("total = 0") + len("    total += x") < got < len(text)
