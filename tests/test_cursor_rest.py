"""Where the cursor rests (`bigcode/didMoveCursor`): that place's prompt is computed while
the server is idle, so the first keystroke after a jump extends a warm cache."""

from __future__ import annotations

from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from tests.models import make_model_dir
from training.corpus import stdlib_root

URI = "file:///work/textwrap.py"


def service(path, precompute: bool = True) -> CompletionService:
    settings = Settings(
        model=str(path),
        max_new_tokens=8,
        context_tokens=700,
        multiline="single",
        min_confidence=0,
        line_candidates=False,
        precompute=precompute,
        threads=1,
    )
    svc = CompletionService(settings)
    svc.load().result()
    return svc


def idle(svc: CompletionService) -> None:
    svc._worker.submit(lambda: None).result()  # everything queued before has run


def request(text: str, at: int, version: int) -> CompletionRequest:
    return CompletionRequest(URI, version, text[:at], text[at:], "work/textwrap.py")


def test_a_rest_after_a_jump_makes_the_first_keystroke_warm_and_changes_nothing(tmp_path):
    text = (stdlib_root() / "textwrap.py").read_text()
    here, there = len(text) - 10, text.index("def dedent(")  # hundreds of lines apart
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    warm, cold = service(path), service(path, precompute=False)
    for svc in (warm, cold):
        svc.note_version(URI, 1)
        svc.complete_now(request(text, here, 1))
        idle(svc)
    warm.rest(request(text, there, 1))  # the user jumped and is reading
    idle(warm)
    typed = text[:there] + "x" + text[there:]  # the first keystroke at the new place
    for svc in (warm, cold):
        svc.note_version(URI, 2)
    first_warm = warm.complete_now(request(typed, there + 1, 2))
    first_cold = cold.complete_now(request(typed, there + 1, 2))
    assert (first_warm.text, first_warm.status) == (first_cold.text, first_cold.status)
    assert first_cold.prefilled_tokens > 200  # a cold prefill of the new place's prompt
    assert first_warm.prefilled_tokens < 20, first_warm.prefilled_tokens
    for svc in (warm, cold):
        svc.shutdown(wait_s=5)


def test_a_request_stops_a_rest_and_a_rest_never_delays_it(tmp_path):
    text = (stdlib_root() / "textwrap.py").read_text()
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    svc = service(path)
    svc.note_version(URI, 1)
    svc.rest(request(text, text.index("def dedent("), 1))
    done = svc.complete_now(request(text, len(text) - 10, 1))  # queued behind it: it stops
    assert done.status in ("ok", "empty") and done.generated_tokens > 0
    svc.shutdown(wait_s=5)


def test_the_notification_through_the_server_warms_the_place(tmp_path):
    from bench.rawlsp import RawServer

    text = (stdlib_root() / "textwrap.py").read_text()
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if line.startswith("def dedent("))
    path = make_model_dir(tmp_path / "m", n_positions=2048)
    srv = RawServer("--model", str(path), "--threads", "1")
    srv.initialize({"bigcode": {"maxNewTokens": 4, "minConfidence": 0}})
    srv.wait_model()
    srv.open(URI, text)
    srv.inline(URI, len(lines) - 1, 0)  # typing at the end of the file
    last = srv.status(URI)["last"]  # where the request's time went, as bench.replay reads it
    phases = last["phases"]  # "analysis" (Jedi's wait, when there was one) is in "generate"
    assert {"plan", "generate", "choose"} <= set(phases) and phases["generate"] > 0, last
    assert phases["plan"] + phases["generate"] + phases["choose"] <= last["ms"] + 1
    position = {"line": target, "character": 0}
    srv.notify(
        "bigcode/didMoveCursor", {"textDocument": {"uri": URI, "version": 1}, "position": position}
    )
    srv.notify("bigcode/didMoveCursor", {"position": "nonsense"})  # ignored, not fatal
    srv.status()  # answered after the notifications were handled
    import time

    time.sleep(1.0)  # the user reads; the server computes the place's prompt
    edit = {"range": {"start": position, "end": position}, "text": "x"}
    srv.change(URI, 2, [edit])
    srv.inline(URI, target, 1)
    last = srv.status(URI)["last"]
    assert last["promptTokens"] - last["reusedTokens"] < 20, last
    assert srv.close() == 0
