"""End to end through a real LSP client (pytest-lsp) over stdio, on tiny models."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

from tests.models import make_constant_model_dir, make_model_dir

URI = "file:///work/demo.py"


@pytest.fixture(scope="session")
def const_model(tmp_path_factory):
    """Always suggests x's: known text, and long generations when asked."""
    return make_constant_model_dir(tmp_path_factory.mktemp("const"), n_positions=2048)


@pytest.fixture(scope="session")
def slow_model(tmp_path_factory):
    """Bigger, so that a 1,000-token generation takes seconds (for cancellation)."""
    return make_constant_model_dir(
        tmp_path_factory.mktemp("slow"), n_positions=2048, n_embd=256, n_layer=6, n_head=8
    )


@pytest.fixture
async def start(const_model):
    clients = []

    async def start_client(model=const_model, settings=None, capabilities=None, encodings=None):
        client = make_test_lsp_client()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        await client.start_io(
            sys.executable, "-m", "lsp_server", "--model", str(model), "--threads", "1", env=env
        )
        caps = capabilities or client_capabilities("visual_studio_code")
        if encodings is not None:
            caps.general = types.GeneralClientCapabilities(position_encodings=encodings)
        result = await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                initialization_options={"bigcode": {"tokenHealing": False, **(settings or {})}},
                process_id=os.getpid(),
            )
        )
        client.init_result = result
        clients.append(client)
        return client

    yield start_client
    for client in clients:
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        except Exception:
            pass
        await client.stop()


async def wait_ready(client, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = await status_of(client)
        if status["model"] or status["loadError"]:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError("model did not load")


def plain(value):
    """pygls hands custom results back as namedtuples: turn them into dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


async def status_of(client, uri: str | None = None) -> dict:
    return plain(
        await client.protocol.send_request_async("bigcode/status", {"uri": uri} if uri else {})
    )


def open_doc(client, text: str, uri: str = URI, version: int = 1) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=version, text=text
            )
        )
    )


def change(
    client, version: int, start: tuple[int, int], end: tuple[int, int], text: str, uri: str = URI
) -> None:
    rng = types.Range(start=types.Position(*start), end=types.Position(*end))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangePartial(range=rng, text=text)],
        )
    )


async def inline(client, line: int, character: int, uri: str = URI):
    return await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line=line, character=character),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
    )


async def test_capabilities_and_progress(start):
    client = await start(settings={"maxNewTokens": 4})
    caps = client.init_result.capabilities
    assert caps.inline_completion_provider is not None
    assert caps.completion_provider is not None
    assert caps.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    assert caps.position_encoding in (None, types.PositionEncodingKind.Utf16)
    status = await wait_ready(client)
    assert status["loadError"] is None and "const" in status["modelPath"]
    await asyncio.sleep(0.2)
    kinds = [type(v).__name__ for reports in client.progress_reports.values() for v in reports]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
    assert "WorkDoneProgressReport" in kinds


async def test_utf8_when_offered(start):
    client = await start(
        encodings=[types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16]
    )
    assert client.init_result.capabilities.position_encoding == types.PositionEncodingKind.Utf8
    open_doc(client, "s = '😀'\nt = 1\n")
    change(client, 2, (0, 9), (0, 9), "é")  # byte 9: after "s = '" (5) and the emoji (4)
    change(client, 3, (0, 12), (0, 12), "!")  # after é (2 bytes) and the quote
    state = await status_of(client, URI)
    assert state["document"]["text"] == "s = '😀é'!\nt = 1\n"


async def test_incremental_edits_with_emoji_and_crlf_stay_in_sync(start):
    client = await start()
    text = "a = '😀😀'\r\nb = 2\r\n"
    open_doc(client, text)
    # UTF-16: each emoji is two code units. Insert between the emoji, then replace across lines.
    change(client, 2, (0, 7), (0, 7), "X")
    change(client, 3, (0, 10), (1, 1), "🐍\r\nc")
    change(client, 4, (1, 5), (1, 5), "\r\nd = 4")
    expected = "a = '😀X😀🐍\r\nc = 2\r\nd = 4\r\n"
    state = await status_of(client, URI)
    assert state["document"] == {"text": expected, "version": 4}


async def test_inline_and_plain_completion_ranges_in_utf16(start):
    client = await start(settings={"maxNewTokens": 5})
    await wait_ready(client)
    open_doc(client, "s = '😀'; value = pre\n")
    # Cursor after "pre" (UTF-16 column: the emoji counts 2).
    line, col = 0, len("s = '") + 2 + len("'; value = pre")
    result = await inline(client, line, col)
    assert len(result.items) == 1
    item = result.items[0]
    assert item.insert_text == "xxxxx"
    assert item.range.start == item.range.end == types.Position(line, col)
    plain = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=URI), position=types.Position(line, col)
        )
    )
    (citem,) = plain.items
    # The edit replaces the word before the cursor with itself plus the suggestion.
    assert citem.text_edit.new_text == "prexxxxx"
    assert citem.text_edit.range.start == types.Position(line, col - 3)
    assert citem.text_edit.range.end == types.Position(line, col)
    assert "prexxxxx" in citem.documentation.value and citem.filter_text == "prexxxxx"


async def test_out_of_range_and_unknown_documents(start):
    client = await start()
    await wait_ready(client)
    open_doc(client, "x = 1\n")
    with pytest.raises(Exception, match="past the end"):
        await inline(client, 10, 0)
    result = await inline(client, 0, 500)  # past the line's end: the line's end, per the spec
    assert len(result.items) == 1  # treated as the end of line 0
    assert (await inline(client, 0, 0, uri="file:///not/open.py")).items == ()
    # The server is still fine.
    assert (await status_of(client))["documents"] == 1


async def test_impossible_edit_is_rejected_and_document_kept(start):
    client = await start()
    open_doc(client, "line one\nline two\n")
    change(client, 2, (5, 0), (6, 0), "junk")
    change(client, 3, (1, 4), (0, 2), "backwards")
    state = await status_of(client, URI)
    assert state["document"]["text"] == "line one\nline two\n"
    messages = [m.message for m in client.log_messages]
    assert sum("rejected an edit" in m for m in messages) == 2


async def test_stale_version_is_answered_empty(start, slow_model):
    client = await start(
        model=slow_model, settings={"maxNewTokens": 400, "multiline": "multi", "deadlineMs": 60000}
    )
    await wait_ready(client)
    open_doc(client, "first = \n", uri="file:///a.py")
    open_doc(client, "second = \n", uri="file:///b.py")
    busy = asyncio.ensure_future(inline(client, 0, 8, uri="file:///a.py"))  # occupies the worker
    await asyncio.sleep(0.1)
    stale = asyncio.ensure_future(inline(client, 0, 9, uri="file:///b.py"))
    await asyncio.sleep(0.1)
    change(client, 2, (0, 9), (0, 9), "1", uri="file:///b.py")  # b.py moves on before its turn
    assert (await stale).items == ()
    await busy
    state = await status_of(client, "file:///b.py")
    assert state["last"]["status"] == "stale" and state["last"]["generatedTokens"] == 0


async def test_cancel_request_stops_generation(start, slow_model):
    client = await start(
        model=slow_model, settings={"maxNewTokens": 1000, "multiline": "multi", "deadlineMs": 60000}
    )
    await wait_ready(client)
    open_doc(client, "value = \n")
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=URI),
        position=types.Position(line=0, character=8),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    future = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id="long-one"
    )
    await asyncio.sleep(0.5)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-one"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(future), 10)
    t0 = time.monotonic()
    for _ in range(100):
        state = await status_of(client, URI)
        if "last" in state:
            break
        await asyncio.sleep(0.05)
    assert state["last"]["status"] == "cancelled"
    assert 0 < state["last"]["generatedTokens"] < 1000
    assert time.monotonic() - t0 < 5


async def test_close_frees_cache_and_lru_evicts_oldest(start, const_model):
    client = await start(settings={"maxNewTokens": 2, "contextTokens": 200})
    status = await wait_ready(client)
    # Each session preallocates (200 + 2 + 64) tokens x 2 layers x 2 x 8 x 4 bytes.
    per_session = 266 * 2 * 2 * 8 * 4
    for i in range(3):
        open_doc(client, f"v{i} = \n", uri=f"file:///{i}.py")
        await inline(client, 0, 5, uri=f"file:///{i}.py")
    status = await status_of(client)
    assert status["sessions"] == ["file:///0.py", "file:///1.py", "file:///2.py"]
    assert status["cacheBytes"] == 3 * per_session
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri="file:///1.py")
        )
    )
    status = await status_of(client)
    assert (
        status["sessions"] == ["file:///0.py", "file:///2.py"]
        and status["cacheBytes"] == 2 * per_session
    )
    # A budget for two sessions: a third document evicts the least recently used.
    budget = 2.5 * per_session / (1 << 20)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"bigcode": {"cacheMib": budget}})
    )
    await inline(client, 0, 5, uri="file:///0.py")  # 0 is now the most recent
    open_doc(client, "v3 = \n", uri="file:///3.py")
    await inline(client, 0, 5, uri="file:///3.py")
    status = await status_of(client)
    assert status["sessions"] == ["file:///0.py", "file:///3.py"]


async def test_settings_change_takes_effect(start):
    client = await start(settings={"maxNewTokens": 2})
    await wait_ready(client)
    open_doc(client, "y = \n")
    assert (await inline(client, 0, 4)).items[0].insert_text == "xx"
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"bigcode": {"maxNewTokens": 6, "bogus": 1}})
    )
    assert (await inline(client, 0, 4)).items[0].insert_text == "xxxxxx"
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"bigcode": {"enable": False}})
    )
    assert (await inline(client, 0, 4)).items == ()
    assert any("unknown setting 'bogus'" in m.message for m in client.log_messages)


async def test_bad_model_path_shows_message_and_stays_up(start, tmp_path):
    client = await start(model=tmp_path / "missing")
    status = await wait_ready(client)
    assert "not found" in status["loadError"]
    await asyncio.sleep(0.1)
    assert any(
        m.type == types.MessageType.Error and "cannot load the model" in m.message
        for m in client.messages
    )
    open_doc(client, "z = \n")
    assert (await inline(client, 0, 4)).items == ()
    assert (await status_of(client))["documents"] == 1


async def test_random_model_end_to_end(start, tmp_path):
    model = make_model_dir(tmp_path / "rand", n_positions=512)
    client = await start(model=model, settings={"maxNewTokens": 8})
    assert (await wait_ready(client))["loadError"] is None
    open_doc(client, "def add(a, b):\n    return \n")
    result = await inline(client, 1, 11)
    assert len(result.items) <= 1
    state = await status_of(client, URI)
    assert state["last"]["status"] in ("ok", "empty") and state["last"]["promptTokens"] > 5
