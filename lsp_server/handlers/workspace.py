"""LSP handlers that keep the workspace index fresh: folders, saves, watched files and
the open documents' live text. Each only queues work on the index's thread."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types

from ..server import BigCodeServer
from ..workspace import uri_to_path

log = logging.getLogger("bigcode_ls")
WATCHER_ID = "bigcode-ls-files"


def initial_folders(params: types.InitializeParams) -> list[Path]:
    """`workspaceFolders`, else `rootUri`, else the deprecated `rootPath`."""
    if params.workspace_folders:
        paths = [uri_to_path(f.uri) for f in params.workspace_folders]
    elif params.root_uri:
        paths = [uri_to_path(params.root_uri)]
    else:
        paths = [Path(params.root_path)] if params.root_path else []
    return [p for p in paths if p is not None]


def watch_files(ls: BigCodeServer) -> None:
    """Ask the client to report file changes, where it lets a server register for them."""
    caps = ls.client_capabilities.workspace
    watched = caps.did_change_watched_files if caps else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern="**/*")]
    )
    registration = types.Registration(
        id=WATCHER_ID, method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )

    async def register() -> None:
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=[registration])
            )
        except Exception as exc:  # the index then stays fresh from saves alone
            log.info("the client did not take a file watcher: %s", exc)

    asyncio.ensure_future(register())


def did_change_workspace_folders(
    ls: BigCodeServer, params: types.DidChangeWorkspaceFoldersParams
) -> None:
    added = [uri_to_path(f.uri) for f in params.event.added]
    removed = [uri_to_path(f.uri) for f in params.event.removed]
    ls.index.change_folders([p for p in added if p], [p for p in removed if p])


def did_save(ls: BigCodeServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    path = uri_to_path(uri)
    if path is not None:
        ls.index.update(path, params.text)
    doc = ls.documents.get(uri)
    if doc is not None:
        ls.service.read_ahead(uri, doc.text)


def did_change_watched_files(ls: BigCodeServer, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        path = uri_to_path(change.uri)
        if path is not None:
            ls.index.update(path)  # re-read, or dropped when it is gone


def push_live_text(ls: BigCodeServer, current: str) -> None:
    """Edited open documents other than `current` reach the index with their live text
    (the current one is in the prompt already, so typing in it costs nothing here)."""
    for uri in list(ls.edited):
        if uri == current:
            continue
        ls.edited.discard(uri)
        doc, path = ls.documents.get(uri), uri_to_path(uri)
        if doc is not None and path is not None:
            ls.index.update(path, doc.text)
