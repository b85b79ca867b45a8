"""Repository context through a real LSP client: workspace folders, snippets in the
prompt, the setting that turns it off, and a huge folder that never blocks completions."""

from __future__ import annotations

import pytest
from lsprotocol import types

from tests.models import make_constant_model_dir
from tests.test_repo_context import FILES, write_tree
from tests.test_server import launch, status_of, stop, until, wait_ready


@pytest.fixture(scope="module")
def const_model(tmp_path_factory):
    return make_constant_model_dir(tmp_path_factory.mktemp("const"), n_positions=2048)


async def open_and_complete(client, uri: str, text: str, line: int, character: int):
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text=text
            )
        )
    )
    params = types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Invoked
        ),
    )
    await client.text_document_inline_completion_async(params)
    return (await status_of(client, uri))["last"]


def cursor_of(text: str, marker: str) -> tuple[int, int]:
    before = text[: text.index(marker)]
    return before.count("\n"), len(before) - before.rfind("\n") - 1


@pytest.mark.asyncio
@pytest.mark.parametrize("on", [True, False])
async def test_snippets_from_the_workspace_reach_the_prompt(tmp_path, const_model, on):
    root = tmp_path / "proj"
    write_tree(root, FILES)
    client = await launch(
        const_model,
        settings={"repoContext": on, "maxNewTokens": 3},
        folders=[root],
    )
    try:
        await wait_ready(client)
        await until(lambda: _files(client, 3))
        text = FILES["shop/cart.py"]
        line, character = cursor_of(text, "return apply_discount")
        last = await open_and_complete(
            client, (root / "shop/cart.py").as_uri(), text, line, character
        )
        assert last["status"] in ("ok", "empty")
        if on:
            assert "proj/shop/prices.py" in last["context"]
            assert not any(label.endswith("cart.py") for label in last["context"])
        else:
            assert last["context"] == []
    finally:
        await stop(client)


async def _indexing(client) -> bool:
    return (await status_of(client))["workspace"]["indexing"]


async def _files(client, n: int) -> bool:
    return (await status_of(client))["workspace"]["files"] >= n


async def _indexed(client, n: int) -> bool:
    workspace = (await status_of(client))["workspace"]
    return workspace["files"] >= n and not workspace["indexing"]


@pytest.mark.slow
@pytest.mark.asyncio
async def test_a_folder_of_50000_files_is_indexed_without_blocking_completions(
    tmp_path, const_model
):
    root = tmp_path / "mono"
    for d in range(100):
        folder = root / f"pkg{d:03}"
        folder.mkdir(parents=True)
        for f in range(500):
            (folder / f"mod{f:03}.py").write_text(f"def func_{d}_{f}(x):\n    return x + {f}\n")
    client = await launch(const_model, settings={"maxNewTokens": 2, "indexMaxFiles": 60000})
    try:
        await wait_ready(client)
        # The folder arrives once the model is up, so the build surely overlaps the request.
        client.workspace_did_change_workspace_folders(
            types.DidChangeWorkspaceFoldersParams(
                event=types.WorkspaceFoldersChangeEvent(
                    added=[types.WorkspaceFolder(uri=root.as_uri(), name="mono")], removed=[]
                )
            )
        )
        await until(lambda: _indexing(client))
        uri = (tmp_path / "scratch.py").as_uri()
        last = await open_and_complete(client, uri, "def f(x):\n    ", 1, 4)
        during = (await status_of(client))["workspace"]
        assert last["status"] in ("ok", "empty")
        assert during["indexing"]  # answered while the index was still being built
        # Done: every file in, and the build over (the count and the flag are read in one
        # status, which may fall between the snapshot and the flag being cleared).
        await until(lambda: _indexed(client, 50000), timeout=300)
    finally:
        await stop(client)
