"""The suggestion computed from an edit, before the client's debounced request asks for it
(`CompletionService.edited`, `handlers.suggest.after_edit`)."""

from __future__ import annotations

import time

import pytest

from tests.models import make_model_dir
from tests.test_cursor_rest import URI, idle, request, service
from training.corpus import stdlib_root


def test_an_edit_computes_the_answer_its_request_then_finds_and_it_is_the_same(tmp_path):
    text = (stdlib_root() / "textwrap.py").read_text()
    at = text.index("def dedent(")
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    eager, plain = service(path), service(path, precompute=False)
    typed = text[:at] + "x" + text[at:]
    for svc in (eager, plain):
        svc.note_version(URI, 2)
    eager.edited(request(typed, at + 1, 2))  # the edit arrives; the request comes later
    idle(eager)
    got = eager.complete_now(request(typed, at + 1, 2))
    want = plain.complete_now(request(typed, at + 1, 2))
    assert got.detail == "precomputed" and eager.status()["precomputedHits"] == 1
    assert (got.text, got.status) == (want.text, want.status)
    for svc in (eager, plain):
        svc.shutdown(wait_s=5)


def test_a_newer_edit_replaces_an_older_ones_work_and_other_text_is_computed_afresh(tmp_path):
    text = (stdlib_root() / "textwrap.py").read_text()
    at = text.index("def dedent(")
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    svc, plain = service(path), service(path, precompute=False)
    one, two = text[:at] + "x" + text[at:], text[:at] + "xy" + text[at:]
    svc.note_version(URI, 3)
    svc.edited(request(one, at + 1, 2))
    svc.edited(request(two, at + 2, 3))  # typed on before the first was computed
    idle(svc)
    assert svc.complete_now(request(two, at + 2, 3)).detail == "precomputed"
    plain.note_version(URI, 3)
    elsewhere = svc.complete_now(request(two, at, 3))  # not where the edit left the cursor
    assert elsewhere.detail != "precomputed"
    assert elsewhere.text == plain.complete_now(request(two, at, 3)).text
    for s in (svc, plain):
        s.shutdown(wait_s=5)


TEXT = "import os\n\n\ndef walk(root):\n    for name in os.listdir(root):\n        \n"


def started(path, **settings):
    from bench.rawlsp import RawServer

    srv = RawServer("--model", str(path), "--threads", "1")
    srv.initialize({"bigcode": {"maxNewTokens": 6, "minConfidence": 0, **settings}})
    return srv


def test_through_the_server_a_keystroke_is_answered_from_its_edit(tmp_path):
    text, line, column = TEXT, 5, 8
    path = make_model_dir(tmp_path / "m", n_positions=512)
    srv = started(path)
    srv.wait_model()
    srv.open(URI, text)
    srv.inline(URI, line, column)  # the client has asked about this document
    hits = srv.status()["precomputedHits"]
    for version, (new, after) in enumerate((("p", 1), ("()", 1)), start=2):
        here = {"line": line, "character": column}
        srv.change(URI, version, [{"range": {"start": here, "end": here}, "text": new}])
        column += after  # an auto-closed pair leaves the cursor inside it
        time.sleep(0.15)  # the client's debounce (a request that comes sooner waits for it)
        srv.inline(URI, line, column)
        last = srv.status(URI)["last"]
        assert last["detail"] == "precomputed", last
    assert srv.status()["precomputedHits"] == hits + 2
    other = "file:///work/other.py"  # a file the client jumps to: no request there yet
    srv.open(other, TEXT)
    here = {"line": 5, "character": 8}
    srv.change(other, 2, [{"range": {"start": here, "end": here}, "text": "q"}])
    time.sleep(0.15)
    srv.inline(other, 5, 9)
    assert srv.status(other)["last"]["detail"] == "precomputed"
    assert srv.close() == 0


def test_with_compute_on_edit_off_an_edit_computes_nothing(tmp_path):
    path = make_model_dir(tmp_path / "m", n_positions=512)
    srv = started(path, computeOnEdit=False)
    srv.wait_model()
    srv.open(URI, TEXT)
    srv.inline(URI, 5, 8)
    here = {"line": 5, "character": 8}
    srv.change(URI, 2, [{"range": {"start": here, "end": here}, "text": "p"}])
    time.sleep(0.15)
    srv.inline(URI, 5, 9)
    assert srv.status(URI)["last"]["detail"] != "precomputed"
    assert srv.close() == 0


def test_a_rest_elsewhere_makes_the_edits_work_moot(tmp_path):
    import threading

    text = (stdlib_root() / "textwrap.py").read_text()
    at, there = text.index("def dedent("), len(text) - 10
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    svc = service(path)
    typed = text[:at] + "x" + text[at:]
    svc.note_version(URI, 2)
    hold = threading.Event()
    svc._worker.submit(hold.wait)  # the worker is busy: both jobs queue
    svc.edited(request(typed, at + 1, 2))
    svc.rest(request(typed, there, 2))  # the user went elsewhere before it ran
    hold.set()
    idle(svc)
    assert svc.complete_now(request(typed, at + 1, 2)).detail != "precomputed"
    svc.shutdown(wait_s=5)


@pytest.mark.parametrize("notice", ["rest", "edited"])
def test_a_flood_of_rests_or_edits_queues_one_job_and_never_holds_up_a_request(tmp_path, notice):
    import threading

    text = (stdlib_root() / "textwrap.py").read_text()
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    svc = service(path)
    svc.note_version(URI, 1)
    for i in range(5_000):  # a macro, or a replayed log: each job used to sleep 2 ms first
        getattr(svc, notice)(request(text, 100 + i, 1))
    done = threading.Event()
    threading.Thread(
        target=lambda: (svc.complete_now(request(text, len(text) - 10, 1)), done.set()),
        daemon=True,
    ).start()
    assert done.wait(5), f"a request waited behind the {notice} jobs"
    if notice == "rest":
        assert svc.status()["cursorRests"] == 5_000
    svc.shutdown(wait_s=5)
