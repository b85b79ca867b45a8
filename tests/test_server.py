"""End to end through a real LSP client (pytest-lsp) over stdio, on tiny models."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest
import pytest_asyncio
from lsprotocol import types
from pytest_lsp import client_capabilities, make_test_lsp_client

from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
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


async def launch(model, settings=None, capabilities=None, encodings=None, folders=()):
    """A pytest-lsp client on a new server process, initialized."""
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
            workspace_folders=[types.WorkspaceFolder(uri=f.as_uri(), name=f.name) for f in folders]
            or None,
        )
    )
    client.init_result = result
    return client


async def stop(client) -> None:
    """A clean shutdown: a server that cannot answer it is a failure too."""
    await asyncio.wait_for(client.shutdown_session(), 10)
    await client.stop()


@pytest.fixture
async def start(const_model):
    """Starts a server of its own for a test that changes server-wide state."""
    clients = []

    async def start_client(model=const_model, **options):
        clients.append(await launch(model, **options))
        return clients[-1]

    yield start_client
    for client in clients:
        await stop(client)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared(const_model):
    """One server for the tests that only open their own documents and read."""
    client = await launch(const_model, settings={"maxNewTokens": 5})
    await wait_ready(client)
    yield client
    await stop(client)


SHARED = pytest.mark.asyncio(loop_scope="module")


async def until(condition, timeout: float = 20.0) -> None:
    """Poll `condition` (a function, sync or async) until it holds; fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def progress_kinds(client) -> list[str]:
    return [type(v).__name__ for reports in client.progress_reports.values() for v in reports]


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


async def last_of(client, uri: str) -> dict | None:
    return (await status_of(client, uri)).get("last")


def running_of(client, uri: str):
    """A condition: the server is decoding for `uri` and has made a token."""

    async def check() -> bool:
        running = (await status_of(client))["running"]
        return running is not None and running["uri"] == uri and running["generatedTokens"] > 0

    return check


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
    await until(lambda: progress_kinds(client)[-1:] == ["WorkDoneProgressEnd"])
    kinds = progress_kinds(client)
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


@SHARED
async def test_incremental_edits_with_emoji_and_crlf_stay_in_sync(shared):
    client, uri = shared, "file:///work/sync.py"
    text = "a = '😀😀'\r\nb = 2\r\n"
    open_doc(client, text, uri)
    # UTF-16: each emoji is two code units. Insert between the emoji, then replace across lines.
    change(client, 2, (0, 7), (0, 7), "X", uri)
    change(client, 3, (0, 10), (1, 1), "🐍\r\nc", uri)
    change(client, 4, (1, 5), (1, 5), "\r\nd = 4", uri)
    expected = "a = '😀X😀🐍\r\nc = 2\r\nd = 4\r\n"
    state = await status_of(client, uri)
    assert state["document"] == {"text": expected, "version": 4}


@SHARED
async def test_inline_and_plain_completion_ranges_in_utf16(shared):
    client = shared
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


@SHARED
async def test_out_of_range_and_unknown_documents(shared):
    client, uri = shared, "file:///work/range.py"
    open_doc(client, "x = 1\n", uri)
    with pytest.raises(Exception, match="past the end"):
        await inline(client, 10, 0, uri)
    result = await inline(client, 0, 500, uri)  # past the line's end: the line's end (spec)
    assert [i.insert_text for i in result.items] == ["xxxxx"]
    assert (await inline(client, 0, 0, uri="file:///not/open.py")).items == ()
    # The server is still fine and did not open the unknown document.
    assert "document" not in await status_of(client, "file:///not/open.py")


@SHARED
async def test_impossible_edit_is_rejected_and_document_kept(shared):
    client, uri = shared, "file:///work/impossible.py"
    open_doc(client, "line one\nline two\n", uri)
    change(client, 2, (5, 0), (6, 0), "junk", uri)
    change(client, 3, (1, 4), (0, 2), "backwards", uri)
    state = await status_of(client, uri)
    assert state["document"] == {"text": "line one\nline two\n", "version": 1}

    def rejected() -> int:  # logs reach the client asynchronously
        return sum(
            "rejected an edit" in m.message and uri in m.message for m in client.log_messages
        )

    await until(lambda: rejected() >= 2)
    assert rejected() == 2


async def test_stale_version_is_answered_empty(start, slow_model):
    client = await start(
        model=slow_model, settings={"maxNewTokens": 400, "multiline": "multi", "deadlineMs": 60000}
    )
    await wait_ready(client)
    open_doc(client, "first = \n", uri="file:///a.py")
    open_doc(client, "second = \n", uri="file:///b.py")
    busy = asyncio.ensure_future(inline(client, 0, 8, uri="file:///a.py"))  # occupies the worker
    await status_of(client)  # a round trip: the server has taken the request above
    stale = asyncio.ensure_future(inline(client, 0, 9, uri="file:///b.py"))
    await status_of(client)
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
    await until(running_of(client, URI))  # decoding has begun
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-one"))
    with pytest.raises(Exception, match="cancel"):
        await asyncio.wait_for(asyncio.wrap_future(future), 10)
    await until(lambda: last_of(client, URI), timeout=5)  # stopped within 5 s of the cancel
    last = await last_of(client, URI)
    assert last["status"] == "cancelled" and 0 < last["generatedTokens"] < 1000


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
    await until(
        lambda: any(
            m.type == types.MessageType.Error and "cannot load the model" in m.message
            for m in client.messages
        )
    )
    open_doc(client, "z = \n")
    assert (await inline(client, 0, 4)).items == ()
    assert (await status_of(client))["documents"] == 1


async def test_random_model_end_to_end(start, tmp_path):
    model = make_model_dir(tmp_path / "rand", n_positions=512)
    client = await start(model=model, settings={"maxNewTokens": 8, "minConfidence": 0})
    assert (await wait_ready(client))["loadError"] is None
    open_doc(client, "def add(a, b):\n    return \n")
    result = await inline(client, 1, 11)
    last = (await status_of(client, URI))["last"]
    # Random weights: the text is anything, but the model ran and the answer is its text.
    assert last["promptTokens"] > 5 and last["generatedTokens"] > 0
    assert [i.insert_text for i in result.items] == ([last["text"]] if last["text"] else [])
    assert last["status"] == ("ok" if last["text"] else "empty")
    # ... and exactly what the same model says in process, greedy, for the same request.
    settings = Settings(
        model=str(model),
        max_new_tokens=8,
        min_confidence=0,
        token_healing=False,  # as `launch` sets it
        threads=1,
        precompute=False,
    )
    service = CompletionService(settings)
    service.load().result()
    direct = service.complete_now(
        CompletionRequest(URI, 1, "def add(a, b):\n    return ", "\n", "work/demo.py")
    )
    service.shutdown(wait_s=5)
    assert (direct.text, direct.generated_tokens) == (last["text"], last["generatedTokens"])


@SHARED
async def test_notifications_reach_bigcode_status(shared):
    uri = "file:///work/accept.py"
    shared.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text="x = \n"
            )
        )
    )
    notify = shared.protocol.notify
    notify("bigcode/didShowCompletion", {"uri": uri, "text": "compute()"})
    notify("bigcode/didAcceptCompletion", {"uri": uri, "text": "compute()", "acceptedLength": 7})
    notify("bigcode/didShowCompletion", {"uri": uri, "text": "other"})
    notify("bigcode/didDismissCompletion", {"uri": uri, "text": "other"})
    notify("bigcode/didAcceptCompletion", {"uri": 42, "text": None})  # malformed: ignored
    notify("bigcode/didShowCompletion", {"uri": "file:///not/open.py", "text": "x"})
    py = plain((await status_of(shared))["acceptance"])["python"]
    assert (py["shown"], py["partial"], py["dismissed"], py["acceptedChars"]) == (2, 1, 1, 7)


def notebook_cell(uri: str, kind: int = 2) -> types.NotebookCell:
    return types.NotebookCell(kind=types.NotebookCellKind(kind), document=uri)


@SHARED
async def test_notebook_cells_sync_and_complete_with_the_other_cells_as_context(shared):
    nb = "file:///work/analysis.ipynb"
    cells = [f"vscode-notebook-cell:/work/analysis.ipynb#C{i}" for i in range(4)]
    texts = ["import math\n", "# Areas", "def area(r):\n    return ", "print(area(2))\n"]
    kinds = [2, 1, 2, 2]
    shared.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=nb,
                notebook_type="jupyter-notebook",
                version=1,
                cells=[notebook_cell(c, k) for c, k in zip(cells, kinds, strict=True)],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=c, language_id="markdown" if k == 1 else "python", version=1, text=t
                )
                for c, t, k in zip(cells, texts, kinds, strict=True)
            ],
        )
    )
    # Type in the third cell, and insert a new code cell before the last one.
    new_cell = "vscode-notebook-cell:/work/analysis.ipynb#C9"
    end = types.Position(line=1, character=11)
    shared.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(version=2, uri=nb),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    structure=types.NotebookDocumentCellChangeStructure(
                        array=types.NotebookCellArrayChange(
                            start=3, delete_count=0, cells=[notebook_cell(new_cell)]
                        ),
                        did_open=[
                            types.TextDocumentItem(
                                uri=new_cell, language_id="python", version=1, text="r = 3\n"
                            )
                        ],
                    ),
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=cells[2], version=2),
                            changes=[
                                types.TextDocumentContentChangePartial(
                                    range=types.Range(start=end, end=end), text="ma"
                                )
                            ],
                        )
                    ],
                )
            ),
        )
    )
    cell = (await status_of(shared, cells[2]))["document"]
    assert cell["text"] == "def area(r):\n    return ma" and cell["version"] == 2
    at = types.Position(line=1, character=13)
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=cells[2]),
        position=at,
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )
    items = (await shared.text_document_inline_completion_async(params)).items
    assert items and items[0].insert_text == "xxxxx"
    in_notebook = (await last_of(shared, cells[2]))["promptTokens"]
    # The same cell as a lone file: a shorter prompt (the other cells are context).
    lone = "file:///work/lone_cell.py"
    shared.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=lone, language_id="python", version=1, text="def area(r):\n    return ma"
            )
        )
    )
    params.text_document = types.TextDocumentIdentifier(uri=lone)
    await shared.text_document_inline_completion_async(params)
    assert in_notebook > (await last_of(shared, lone))["promptTokens"] + 10
    shared.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=nb),
            cell_text_documents=[types.TextDocumentIdentifier(uri=c) for c in [*cells, new_cell]],
        )
    )
    assert "document" not in await status_of(shared, cells[2])


async def test_notebook_sync_is_advertised_to_clients_that_take_it(start):
    caps = client_capabilities("visual_studio_code")
    caps.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities()
    )
    client = await start(capabilities=caps)
    sync = client.init_result.capabilities.notebook_document_sync
    assert sync is not None and sync.notebook_selector[0].cells[0].language == "python"


async def test_python_files_are_read_ahead_for_static_analysis(start, tmp_path):
    """Opening and saving a Python file has the analyser read it; a completion after an
    attribute asks it; status tells (a plain-text file is not read)."""
    client = await start()
    await wait_ready(client)
    src = tmp_path / "a.py"
    src.write_text("import os\nx = os.path.\n")
    open_doc(client, src.read_text(), uri=src.as_uri())
    open_doc(client, "notes", uri=(tmp_path / "n.txt").as_uri())

    async def read(n):
        analysis = (await status_of(client))["staticAnalysis"]
        return analysis and analysis["filesRead"] >= n

    await until(lambda: read(1), timeout=60)
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(
            text_document=types.TextDocumentIdentifier(uri=src.as_uri())
        )
    )
    await until(lambda: read(2), timeout=60)
    await inline(client, 1, 12, uri=src.as_uri())
    analysis = (await status_of(client))["staticAnalysis"]
    assert analysis["filesRead"] == 2 and analysis["answered"] + analysis["late"] >= 1
