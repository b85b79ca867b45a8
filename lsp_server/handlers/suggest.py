"""Completions: `textDocument/inlineCompletion` and `textDocument/completion`. A
request reads the text around its cursor before it awaits anything, submits it to the
completion service, and passes a cancellation on to the generation.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from fim.healing import IDENTIFIER_TAIL
from fim.prompt import PromptOptions

from ..completion import Completion, CompletionRequest
from ..documents import Document, PositionError
from ..rpc.wire import field_of
from ..server import BigCodeServer
from .acceptance import back_off
from .workspace import push_live_text

MOVE_METHOD = "bigcode/didMoveCursor"
BLOCK_LINES = PromptOptions().block_lines  # prompt windows move in blocks of this many lines

log = logging.getLogger("bigcode_ls")


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
    version = doc.version
    try:
        prefix, suffix, column = text_around(ls, doc, position)
    except PositionError as exc:
        raise JsonRpcInvalidParams(f"{exc}") from None
    ls.last_position[uri] = (position.line, column)
    language = doc.language_id or "unknown"
    backed_off = backs_off(ls, language)
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


def backs_off(ls: BigCodeServer, language: str) -> bool:
    """Suggestions in `language` are rarely taken: the server holds back (`backOff`)."""
    return ls.settings.back_off and language in ls.acceptance.backed_off


def text_around(ls: BigCodeServer, doc: Document, position: types.Position) -> tuple[str, str, int]:
    """(prefix, suffix) a prompt at `position` can use, and the cursor's column (a
    column past the line's end clamped to it). Raises PositionError."""
    window = ls.service.window_chars()
    prefix, suffix = doc.around(position.line, position.character, ls.encoding, window, BLOCK_LINES)
    column = doc.column(position.line, position.character, ls.encoding)
    if ls.notebooks.notebook_of(doc.uri) is not None:  # a cell: the other cells around it
        prefix, suffix = ls.notebooks.surround(doc.uri, prefix, suffix, ls.text_of, window)
    return prefix, suffix, column


# an editor's auto-closed pair: the cursor is left between its two characters
PAIRS = frozenset(("()", "[]", "{}", '""', "''", "``"))


def after_edit(ls: BigCodeServer, uri: str, line: int, character: int, new: str) -> None:
    """An edit at (line, character) inserted `new` (or deleted): compute the suggestion
    where an editor leaves the cursor (`CompletionService.edited`), before the client's
    debounced request asks for it. Only once the client has asked for a completion (a
    client that never asks costs nothing) and only where a request would be answered."""
    doc = ls.documents.get(uri)
    s = ls.settings
    if doc is None or not ls.last_position or not (s.enable and s.compute_on_edit):
        return
    if too_large(ls, doc) or backs_off(ls, doc.language_id or "unknown"):
        return
    try:
        offset = doc.offset_at(line, character, ls.encoding) + (1 if new in PAIRS else len(new))
        cursor = types.Position(*doc.position_at(offset, ls.encoding))
        prefix, suffix, _ = text_around(ls, doc, cursor)
    except PositionError:
        return
    push_live_text(ls, uri)
    ls.service.edited(CompletionRequest(uri, doc.version, prefix, suffix, file_label(uri)))


def did_move_cursor(ls: BigCodeServer, params: Any) -> None:
    """`bigcode/didMoveCursor` {textDocument: {uri, version}, position}: the cursor has
    rested at a new place; its prompt is computed while the server is idle."""
    document = field_of(params, "textDocument", object)
    position = field_of(params, "position", object)
    uri = field_of(document, "uri", str) if document is not None else None
    version = field_of(document, "version", int) if document is not None else None
    line = field_of(position, "line", int) if position is not None else None
    character = field_of(position, "character", int) if position is not None else None
    doc = ls.documents.get(uri) if uri else None
    if doc is None or line is None or character is None or not ls.settings.enable:
        return
    if (version is not None and version != doc.version) or too_large(ls, doc):
        return  # the client is behind: a request for this version would be stale anyway
    try:
        prefix, suffix, _ = text_around(ls, doc, types.Position(line=line, character=character))
    except PositionError:
        return
    push_live_text(ls, uri)
    ls.service.rest(CompletionRequest(uri, doc.version, prefix, suffix, file_label(uri)))


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
    texts = (found[0].text, *found[0].alternatives)  # ranked: clients cycle through them
    return types.InlineCompletionList(
        items=[types.InlineCompletionItem(insert_text=t, range=here) for t in texts]
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
