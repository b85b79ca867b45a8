"""LSP handlers: each parses its params, calls the document store or the completion
service, and answers. Every handler that waits is `async`, so `$/cancelRequest` reaches
it and it passes the cancellation on to the generation; a completion works on the
text around its cursor, read before it waits.
"""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from fim.prompt import PromptOptions

from . import __version__
from .acceptance_handlers import (
    ACCEPT_METHOD,
    DISMISS_METHOD,
    SHOW_METHOD,
    back_off,
    did_accept,
    did_dismiss,
    did_show,
    field_of,
    save_periodically,
    save_stats,
)
from .completion import Completion, CompletionRequest
from .documents import Document, PositionError
from .logs import attach_client
from .notebook_handlers import (
    did_change_notebook,
    did_close_notebook,
    did_open_notebook,
    did_save_notebook,
)
from .server import BigCodeServer, user_notifier, watch_parent
from .settings import SECTION
from .sync import change_text, close_text, open_text
from .workspace_handlers import (
    did_change_watched_files,
    did_change_workspace_folders,
    did_save,
    initial_folders,
    push_live_text,
    watch_files,
)

BLOCK_LINES = PromptOptions().block_lines  # prompt windows move in blocks of this many lines

log = logging.getLogger("bigcode_ls")
IDENTIFIER_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
STATUS_METHOD = "bigcode/status"


# --- lifecycle and settings ----------------------------------------------------------


def initialize(ls: BigCodeServer, params: types.InitializeParams) -> None:
    if ls.log_handler is None:
        ls.log_handler = attach_client(log, ls, asyncio.get_running_loop())
    ls.service.notify = user_notifier(ls, asyncio.get_running_loop())
    if ls.stats_task is None:
        ls.stats_task = asyncio.ensure_future(save_periodically(ls))
    ls.apply_settings(params.initialization_options)
    ls.index.set_folders(initial_folders(params))
    if params.process_id:
        ls.watch_task = asyncio.ensure_future(watch_parent(ls, params.process_id))


def initialized(ls: BigCodeServer, params: types.InitializedParams) -> None:
    ls.ensure_loaded()
    watch_files(ls)


def shutdown(ls: BigCodeServer, params: Any) -> None:
    save_stats(ls)
    if ls.load_task is not None:
        ls.load_task.cancel()  # no progress may be sent after exit
    ls.service.shutdown()


async def did_change_configuration(
    ls: BigCodeServer, params: types.DidChangeConfigurationParams
) -> None:
    values = params.settings
    caps = ls.client_capabilities.workspace
    if not values and caps is not None and caps.configuration:
        # Pull-model clients (VS Code) send null and expect us to ask.
        items = [types.ConfigurationItem(section=SECTION)]
        try:
            pulled = await asyncio.wait_for(
                ls.workspace_configuration_async(types.ConfigurationParams(items=items)), 5
            )
            values = pulled[0] if pulled else None
        except Exception as exc:
            log.warning("could not read the configuration: %s", exc)
            return
    ls.apply_settings(values)


# --- text sync -------------------------------------------------------------------------


def did_open(ls: BigCodeServer, params: types.DidOpenTextDocumentParams) -> None:
    d = params.text_document
    open_text(ls, d.uri, d.text, d.version, d.language_id)


def did_change(ls: BigCodeServer, params: types.DidChangeTextDocumentParams) -> None:
    d = params.text_document
    change_text(ls, d.uri, d.version, params.content_changes)


def did_close(ls: BigCodeServer, params: types.DidCloseTextDocumentParams) -> None:
    close_text(ls, params.text_document.uri)


# --- completion ------------------------------------------------------------------------


def file_label(uri: str) -> str:
    """A short path for the prompt's file-name header (no directories beyond two)."""
    path = PurePosixPath(unquote(urlparse(uri).path))
    return "/".join(path.parts[-2:]) if path.parts else ""


async def suggest(
    ls: BigCodeServer, uri: str, position: types.Position
) -> tuple[Completion, str, types.Position] | None:
    """The completion at `position`, with the text before the cursor it was made for and
    the cursor's real position (a column past the line's end clamped to it); None when
    there is nothing to offer."""
    doc = ls.documents.get(uri)
    if doc is None:
        log.warning("completion for %s, which is not open", uri)
        return None
    if not ls.settings.enable or too_large(ls, doc):
        return None
    # Everything the request needs is read now, before any await: edits or a close that
    # arrive while it waits cannot change what it was made for.
    version, window = doc.version, ls.service.window_chars()
    try:
        prefix, suffix = doc.around(
            position.line, position.character, ls.encoding, window, BLOCK_LINES
        )
        column = doc.column(position.line, position.character, ls.encoding)
    except PositionError as exc:
        raise JsonRpcInvalidParams(f"{exc}") from None
    if ls.notebooks.notebook_of(uri) is not None:  # a cell: the other cells around it
        prefix, suffix = ls.notebooks.surround(uri, prefix, suffix, ls.text_of, window)
    ls.last_position[uri] = (position.line, column)
    language = doc.language_id or "unknown"
    backed_off = ls.settings.back_off and language in ls.acceptance.backed_off
    if backed_off and not await back_off(ls, language, uri, version):
        return None
    if not await model_ready(ls):
        return None
    push_live_text(ls, uri)
    mode = "single" if backed_off else ""
    request = CompletionRequest(uri, version, prefix, suffix, file_label(uri), mode)
    ticket = ls.service.submit(request)
    try:
        result = await asyncio.wrap_future(ticket.future)
    except asyncio.CancelledError:
        ticket.cancel()  # stop the generation within a block
        raise
    log.debug(
        "%s v%d: %s, %d prompt tokens (%d reused), %d generated, %.0f ms",
        uri,
        version,
        result.status,
        result.prompt_tokens,
        result.reused_tokens,
        result.generated_tokens,
        result.ms,
    )
    if result.status == "error":
        log.error("completion error: %s", result.detail)
    if result.text:
        ls.acceptance.served(language, result.ms)
    return result, prefix, types.Position(line=position.line, character=column)


def too_large(ls: BigCodeServer, doc: Document) -> bool:
    """Documents over `maxDocumentMib` stay in sync but get no completions (logged once)."""
    limit = ls.settings.max_document_mib * (1 << 20)
    if len(doc) <= limit:
        return False
    if doc.uri not in ls.declined:
        ls.declined.add(doc.uri)
        log.warning(
            "%s is larger than maxDocumentMib (%g MiB): no completions for it",
            doc.uri,
            ls.settings.max_document_mib,
        )
    return True


async def model_ready(ls: BigCodeServer) -> bool:
    """False when a model load still runs after the request's deadline."""
    if ls.load_future is None or ls.load_future.done():
        return True
    try:  # the first request may arrive while the model loads: wait, within reason
        await asyncio.wait_for(asyncio.shield(ls.load_future), ls.settings.deadline_ms / 1000)
    except (asyncio.TimeoutError, Exception):
        return False
    return True


async def inline_completion(
    ls: BigCodeServer, params: types.InlineCompletionParams
) -> types.InlineCompletionList:
    found = await suggest(ls, params.text_document.uri, params.position)
    if found is None or not found[0].text:
        return types.InlineCompletionList(items=[])
    here = types.Range(start=params.position, end=params.position)
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=found[0].text, range=here)]
    )


async def completion(ls: BigCodeServer, params: types.CompletionParams) -> types.CompletionList:
    found = await suggest(ls, params.text_document.uri, params.position)
    if found is None or not found[0].text:
        return types.CompletionList(is_incomplete=True, items=[])
    result, prefix, end = found
    return types.CompletionList(
        is_incomplete=True, items=[completion_item(result.text, prefix, end)]
    )


def completion_item(text: str, prefix: str, end: types.Position) -> types.CompletionItem:
    """Clients filter items by the word before the cursor: the item replaces that word
    (ASCII, so one unit per character in every encoding) with itself plus the
    suggestion, so it survives the filter."""
    word = IDENTIFIER_TAIL.search(prefix[prefix.rfind("\n") + 1 :])
    word_text = word.group() if word else ""
    start = types.Position(line=end.line, character=end.character - len(word_text))
    new_text = word_text + text
    first_line = new_text.strip().split("\n", 1)[0]
    return types.CompletionItem(
        label=first_line[:80] or new_text.strip()[:80],
        kind=types.CompletionItemKind.Text,
        detail="bigcode-ls",
        documentation=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"```\n{new_text}\n```"
        ),
        sort_text="0",
        filter_text=new_text,
        insert_text_format=types.InsertTextFormat.PlainText,
        text_edit=types.TextEdit(range=types.Range(start=start, end=end), new_text=new_text),
    )


def status(ls: BigCodeServer, params: Any) -> dict:
    """Server state for health checks and tests: the model, the KV cache sessions and,
    with {"uri": ...}, the server's copy of that document and its last completion."""
    uri = field_of(params, "uri", str)
    out = {
        "version": __version__,
        "positionEncoding": ls.encoding,
        "documents": len(ls.documents),
        "completionRequests": ls.protocol.completion_requests,  # received (some cancelled)
        **ls.service.status(),
        "workspace": ls.index.status(),
        "acceptance": ls.acceptance.summary(),
    }
    doc = ls.documents.get(uri) if uri else None
    if doc is not None:
        out["document"] = {"text": doc.text, "version": doc.version}
        last = ls.service.last(uri)
        if last is not None:
            out["last"] = {
                "status": last.status,
                "text": last.text,
                "generatedTokens": last.generated_tokens,
                "promptTokens": last.prompt_tokens,
                "reusedTokens": last.reused_tokens,
                "room": last.room,
                "context": list(last.context),
                "source": last.source,
                "confidence": last.confidence,
                "detail": last.detail,
                "ms": round(last.ms, 2),
                "cutByDeadline": last.detail == "deadline",
            }
    return out


# (method, registration options, handler), registered by `server.build_server`.
HANDLERS = (
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.SHUTDOWN, None, shutdown),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False), did_save),
    (types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS, None, did_change_workspace_folders),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched_files),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions(), inline_completion),
    (
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(resolve_provider=False),
        completion,
    ),
    (STATUS_METHOD, None, status),
    (types.NOTEBOOK_DOCUMENT_DID_OPEN, None, did_open_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_CHANGE, None, did_change_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_CLOSE, None, did_close_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_SAVE, None, did_save_notebook),
    (SHOW_METHOD, None, did_show),
    (ACCEPT_METHOD, None, did_accept),
    (DISMISS_METHOD, None, did_dismiss),
)
