"""The completion service without LSP: prefix reuse, staleness, errors."""

from __future__ import annotations

import threading

import pytest

from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from tests.models import make_constant_model_dir, make_model_dir
from training.corpus import stdlib_root

# Tests below that need a suggestion shown set min_confidence=0: random weights are unsure
# of everything, and the default hides what the model doubts.


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    path = make_model_dir(tmp_path_factory.mktemp("svc"), n_positions=1024)
    svc = CompletionService(Settings(model=str(path), max_new_tokens=4, context_tokens=700))
    svc.load().result()
    return svc


def request(text: str, version: int, uri: str = "file:///t.py") -> CompletionRequest:
    return CompletionRequest(uri, version, text, "\n", "t.py")


def test_typing_prefills_only_new_tokens(service):
    source = (stdlib_root() / "textwrap.py").read_text()[:3000]
    first = service.complete_now(request(source, 1))
    assert first.generated_tokens > 0 and first.status in ("ok", "empty")
    assert first.reused_tokens == 0 and first.prompt_tokens > 200
    typed = source
    prefills = []
    for i, ch in enumerate("value = compute(x)"):
        typed += ch
        result = service.complete_now(request(typed, i + 2))
        prefills.append(result.prefilled_tokens)
    # SPM puts the prefix last: each keystroke costs the few tokens around the cursor.
    assert max(prefills) <= 6, prefills
    assert result.reused_tokens >= result.prompt_tokens - 6


def test_cold_baseline_prefills_everything(service, monkeypatch):
    from dataclasses import replace

    source = (stdlib_root() / "textwrap.py").read_text()[:2000]
    service.complete_now(request(source, 1, "file:///cold.py"))
    # monkeypatch: the module's shared service gets its settings back whatever happens
    monkeypatch.setattr(service, "settings", replace(service.settings, document_cache=False))
    result = service.complete_now(request(source + "x", 2, "file:///cold.py"))
    assert result.reused_tokens == 0 and result.prefilled_tokens == result.prompt_tokens


def test_old_version_is_stale(service):
    service.note_version("file:///v.py", 5)
    assert service.complete_now(request("x = ", 4, "file:///v.py")).status == "stale"


def test_exception_in_generation_is_answered_and_next_request_works(service, monkeypatch):
    engine = service.engine

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "generate", broken)
    result = service.complete_now(request("x = ", 1, "file:///e.py"))
    assert result.status == "error" and "boom" in result.detail
    monkeypatch.undo()
    again = service.complete_now(request("x = ", 2, "file:///e.py"))
    assert again.generated_tokens > 0 and again.status in ("ok", "empty")


def test_failed_reload_keeps_the_old_model(service, tmp_path, monkeypatch):
    from dataclasses import replace

    old = service.engine
    original = service.settings
    monkeypatch.setattr(service, "load_error", None)  # restored after the test
    monkeypatch.setattr(service, "settings", replace(original, model=str(tmp_path / "gone")))
    with pytest.raises(Exception, match="not found"):
        service.load().result()
    assert service.engine is old and "not found" in service.load_error
    service.settings = original
    served = service.complete_now(request("y = ", 1, "file:///r.py"))
    assert served.generated_tokens > 0 and served.status in ("ok", "empty")


def test_healing_strips_the_removed_text(tmp_path):
    path = make_constant_model_dir(tmp_path / "heal")
    svc = CompletionService(
        Settings(model=str(path), max_new_tokens=3, token_healing=True, min_confidence=0)
    )
    svc.load().result()
    # The cursor follows "    " on an empty line: the prompt backs up to "\n   " and the
    # first token must start with " "; the suggestion never repeats the removed space.
    result = svc.complete_now(CompletionRequest("file:///h.py", 1, "def f():\n    ", "\n"))
    assert result.status == "ok" and not result.text.startswith(" ")


def test_on_a_blank_line_the_first_token_stays_on_that_line(tmp_path):
    # A model whose favourite token is a newline: elsewhere that ends the suggestion
    # at once; on a blank line the next best token that stays on the line is taken.
    path = make_constant_model_dir(tmp_path / "nl", token_text="Ċ")  # byte-level "\n"
    svc = CompletionService(
        Settings(model=str(path), max_new_tokens=3, multiline="single", min_confidence=0)
    )
    svc.load().result()
    blank = svc.complete_now(CompletionRequest("file:///n.py", 1, "x = 1\n\n", "\n"))
    assert blank.status == "ok" and blank.text.strip() and "\n" not in blank.text
    mid_line = svc.complete_now(CompletionRequest("file:///m.py", 1, "x = 1", "\n"))
    assert mid_line.status == "empty" and mid_line.generated_tokens == 1


def test_the_suggestion_after_an_accept_is_ready_and_the_same(tmp_path):
    path = make_model_dir(tmp_path, n_positions=1024)
    base = dict(
        model=str(path), max_new_tokens=6, context_tokens=700, multiline="single", min_confidence=0
    )
    ahead = CompletionService(Settings(**base))
    plain = CompletionService(Settings(**base, precompute=False))
    ahead.load().result(), plain.load().result()
    source = (stdlib_root() / "textwrap.py").read_text()[:2000] + "\n    x = "
    shown = ahead.complete_now(request(source, 1))
    assert shown.status == "ok" and shown.text
    ahead._worker.submit(lambda: None).result()  # the look-ahead has run
    accepted = request(source + shown.text, 2)
    fast = ahead.complete_now(accepted)
    assert fast.detail == "precomputed" and ahead.status()["precomputedHits"] == 1
    slow = plain.complete_now(accepted)
    assert (fast.text, fast.status) == (slow.text, slow.status) and slow.detail != "precomputed"
    # Any other text, or the same text again, is computed afresh.
    again = ahead.complete_now(request(source + shown.text + "1", 3))
    assert again.detail != "precomputed"
    for svc in (ahead, plain):
        svc.shutdown(wait_s=5)


def test_a_new_request_stops_the_look_ahead(tmp_path, monkeypatch):
    path = make_model_dir(tmp_path, n_positions=1024)
    svc = CompletionService(
        Settings(model=str(path), max_new_tokens=6, multiline="single", min_confidence=0)
    )
    svc.load().result()
    source = (stdlib_root() / "textwrap.py").read_text()[:2000] + "\n    x = "
    first = svc.complete_now(request(source, 1))
    assert first.text
    # A request for other text arrives before the look-ahead ran: it never runs, and its
    # answer is never served for the wrong text.
    second = svc.complete_now(request(source + "y", 2))
    svc._worker.submit(lambda: None).result()
    assert second.detail != "precomputed" and svc.status()["precomputedHits"] == 0
    # A request for another document also stops it, even one that comes while the
    # look-ahead waits its turn: the worker never spends a whole look-ahead first.
    gate, look_ahead = threading.Event(), svc._look_ahead

    def held(*args):
        gate.wait(10)
        return look_ahead(*args)

    monkeypatch.setattr(svc, "_look_ahead", held)
    third = svc.complete_now(request(source, 3))
    assert third.text  # its look-ahead is now queued, held at the gate
    other = svc.submit(request("x = 1\n", 1, uri="file:///other.py"))
    gate.set()
    other.future.result()
    fourth = svc.complete_now(request(source + third.text, 4))
    assert fourth.detail != "precomputed"
    svc.shutdown(wait_s=5)


def test_an_accept_during_the_look_ahead_waits_for_it(tmp_path, monkeypatch):
    path = make_model_dir(tmp_path, n_positions=1024)
    svc = CompletionService(
        Settings(model=str(path), max_new_tokens=6, multiline="single", min_confidence=0)
    )
    svc.load().result()
    source = (stdlib_root() / "textwrap.py").read_text()[:2000] + "\n    x = "
    started, gate, look_ahead = threading.Event(), threading.Event(), svc._look_ahead
    runs = []

    def held(request, mark):
        started.set()
        gate.wait(10)  # the accept arrives while the look-ahead is under way
        runs.append((request.prefix, svc._ahead.moot(mark)))
        return look_ahead(request, mark)

    monkeypatch.setattr(svc, "_look_ahead", held)
    shown = svc.complete_now(request(source, 1))
    assert shown.text and started.wait(10)
    accepted = svc.submit(request(source + shown.text, 2))
    gate.set()
    answer = accepted.future.result()
    assert runs[0] == (source + shown.text, False)  # the accept did not stop it
    assert answer.detail == "precomputed" and svc.status()["precomputedHits"] == 1
    # A request for other text still stops a running look-ahead.
    svc._worker.submit(lambda: None).result()  # the accept's own look-ahead is done
    started.clear(), gate.clear()
    third = svc.complete_now(request(source, 3))
    assert third.text and started.wait(10)
    typed = svc.submit(request(source + "z", 4))
    gate.set()
    assert typed.future.result().detail != "precomputed"
    assert (source + third.text, True) in runs
    svc.shutdown(wait_s=5)


def test_quantize_auto_picks_int8_only_for_large_models_on_a_cpu(tmp_path, monkeypatch):
    from lsp_server.backends import engine as engine_module
    from lsp_server.backends.engine import Engine

    path = make_model_dir(tmp_path, n_positions=256)
    small = Engine.load(str(path), quantize="auto")
    assert "quantized" not in small.lm.config.extra  # a small model stays float32
    monkeypatch.setattr(engine_module, "AUTO_INT8_PARAMETERS", 1)
    large = Engine.load(str(path), quantize="auto")
    assert large.lm.config.extra["quantized"] == "int8"
    assert Engine.load(str(path), quantize="none").lm.config.extra.get("quantized") is None
    ids = small.tokens.encode("def f(x):\n    return")
    assert len(list(large.generate(ids, 8).tokens)) == 8


def test_int8_keeps_bf16_copies_only_where_asked_native_and_they_fit(tmp_path, monkeypatch):
    from lsp_server.backends import engine as engine_module
    from lsp_server.backends.engine import Engine
    from model import quantize
    from model.quantize import wide_passes

    path = make_model_dir(tmp_path, n_positions=256)
    monkeypatch.setattr(quantize, "native_bf16", lambda: True)
    with_copies = Engine.load(str(path), quantize="int8")
    assert wide_passes(with_copies.lm) and "bf16 for prompts" in with_copies.description
    assert not wide_passes(Engine.load(str(path), quantize="int8", wide=False).lm)
    monkeypatch.setattr(engine_module, "available_bytes", lambda: 1 << 10)  # no room
    assert not wide_passes(Engine.load(str(path), quantize="int8").lm)
    monkeypatch.undo()
    monkeypatch.setattr(quantize, "native_bf16", lambda: False)  # bf16 emulated: slower
    assert not wide_passes(Engine.load(str(path), quantize="int8").lm)


def test_an_end_of_text_id_past_the_vocabulary_is_no_stop_token(tmp_path):
    from lsp_server.backends.engine import Engine
    from tests.models import set_config

    path = make_model_dir(tmp_path, n_positions=256)
    set_config(path, eos_token_id=50256)  # HF's default, under a 600-token vocabulary
    engine = Engine.load(str(path))
    assert engine.stop_ids and max(engine.stop_ids) < engine.lm.config.vocab_size
    svc = CompletionService(Settings(model=str(path), min_confidence=0.0, line_search=4))
    svc.load().result()
    result = svc.complete_now(request("import os\nfor name in os.listdir(path):\n    ", 1))
    assert result.status in ("ok", "empty"), result.detail  # scoring a line's end once failed
    svc.shutdown(wait_s=5)


def test_status_says_when_the_bundled_demonstration_model_serves(service):
    assert service.status()["demonstration"] is False and service.status()["advice"] is None
    bundled = CompletionService(Settings(threads=1))
    bundled.load().result()
    status = bundled.status()
    bundled.shutdown(wait_s=5)
    assert status["demonstration"] is True
    assert "bigcode-ls download tiny_starcoder_py" in status["advice"]
