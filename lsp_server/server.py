"""The LSP front end: handlers parse params, call the completion service, answer.

Nothing here touches tensors or prompts. Text sync is ours (`documents.py`); the
model runs on the service's worker thread; every handler that waits is `async`, so
`$/cancelRequest` reaches it and it passes the cancellation on to the generation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlparse

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from . import __version__
from .completion import Completion, CompletionRequest, CompletionService
from .documents import DocumentStore, PositionError
from .logs import attach_client
from .settings import SECTION, Settings

log = logging.getLogger("bigcode_ls")
IDENTIFIER_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
PARENT_POLL_S = 3.0
STATUS_METHOD = "bigcode/status"


class Rejected:
    """A message whose params did not fit its method's type; already answered."""


class BigCodeProtocol(LanguageServerProtocol):
    """pygls' protocol without its workspace text sync (`DocumentStore` owns the text),
    and with an answer for requests whose params cannot be read: pygls would log the
    error and leave the client waiting for a response that never comes."""

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException:
            method = data.get("method", "?")
            log.warning("malformed %s message ignored", method)
            if "id" in data and "method" in data:
                error = JsonRpcInvalidParams(f"invalid params for {method}")
                self._send_response(data["id"], None, error.to_response_error())
            return Rejected()

    def handle_message(self, message: Any) -> None:
        if not isinstance(message, Rejected):
            super().handle_message(message)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None


class BigCodeServer(LanguageServer):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("bigcode-ls", __version__, protocol_cls=BigCodeProtocol)
        self.documents = DocumentStore()
        self.settings = settings or Settings()
        self.service = CompletionService(self.settings)
        self.load_task: asyncio.Task | None = None
        self.load_future: asyncio.Future | None = None
        self.watch_task: asyncio.Task | None = None
        self.log_handler: logging.Handler | None = None

    @property
    def encoding(self) -> str:
        try:
            enc = self.workspace.position_encoding
        except RuntimeError:
            return "utf-16"
        return str(getattr(enc, "value", enc) or "utf-16")

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Errors in a request already go back in its response; a malformed notification
        # is logged. Neither deserves a pop-up in the user's editor.
        log.warning("protocol error: %s", error)

    # --- settings and model --------------------------------------------------------
    def apply_settings(self, values: Any) -> None:
        if not isinstance(values, dict):
            if values is not None:
                log.warning("settings must be an object, got %r", type(values).__name__)
            return
        new, problems = self.settings.updated(values)
        for problem in problems:
            log.warning(problem)
        reload = any(
            getattr(new, k) != getattr(self.settings, k)
            for k in ("model", "device", "dtype", "threads")
        )
        self.settings = self.service.settings = new
        if reload and self.load_task is not None:
            self.start_loading()

    def start_loading(self) -> None:
        if self.load_task is not None and not self.load_task.done():
            self.load_task.cancel()
        self.load_task = asyncio.ensure_future(load_model(self))


async def load_model(ls: BigCodeServer) -> None:
    """Load on the worker thread, with `$/progress` for clients that show it."""
    loop = asyncio.get_running_loop()
    token = None
    caps = ls.client_capabilities.window
    if caps is not None and caps.work_done_progress:
        token = f"bigcode-ls-load-{id(ls)}-{loop.time()}"
        try:
            await asyncio.wait_for(ls.work_done_progress.create_async(token), 5)
            ls.work_done_progress.begin(
                token,
                types.WorkDoneProgressBegin(
                    title="bigcode-ls: loading model", percentage=0, cancellable=False
                ),
            )
        except Exception:  # a client that refuses the token still gets a model
            token = None

    def report(message: str, percent: int) -> None:
        if token is not None:
            value = types.WorkDoneProgressReport(message=message, percentage=percent)
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, value)

    ls.load_future = asyncio.wrap_future(ls.service.load(report))
    try:
        await ls.load_future
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.error("cannot load the model: %s", exc)
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Error,
                message=f"bigcode-ls: cannot load the model: {exc}. Set bigcode.model to a GPTBigCode model directory.",
            )
        )
    finally:
        if token is not None:
            message = "ready" if ls.service.load_error is None else "failed"
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


async def watch_parent(ls: BigCodeServer, pid: int) -> None:
    """Exit when the editor that started us is gone (it may never send `exit`)."""
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.info("parent process %d is gone; exiting", pid)
            os._exit(0)
        except PermissionError:
            pass  # exists, owned by someone else


# --- completion helpers ------------------------------------------------------------


def file_label(uri: str) -> str:
    """A short path for the prompt's file-name header (no directories beyond two)."""
    path = PurePosixPath(unquote(urlparse(uri).path))
    return "/".join(path.parts[-2:]) if path.parts else ""


async def suggest(
    ls: BigCodeServer, uri: str, position: types.Position
) -> tuple[Completion, int] | None:
    doc = ls.documents.get(uri)
    if doc is None:
        log.warning("completion for %s, which is not open", uri)
        return None
    try:
        offset = doc.offset_at(position.line, position.character, ls.encoding)
    except PositionError as exc:
        raise JsonRpcInvalidParams(f"{exc}") from None
    if not ls.settings.enable:
        return None
    if ls.load_future is not None and not ls.load_future.done():
        try:  # the first request may arrive while the model loads: wait, within reason
            await asyncio.wait_for(asyncio.shield(ls.load_future), ls.settings.deadline_ms / 1000)
        except (asyncio.TimeoutError, Exception):
            return None
    request = CompletionRequest(
        uri, doc.version, doc.text[:offset], doc.text[offset:], file_label(uri)
    )
    ticket = ls.service.submit(request)
    try:
        result = await asyncio.wrap_future(ticket.future)
    except asyncio.CancelledError:
        ticket.cancel()  # stop the generation at its next step
        raise
    log.debug(
        "%s v%d: %s, %d prompt tokens (%d reused), %d generated, %.0f ms",
        uri,
        doc.version,
        result.status,
        result.prompt_tokens,
        result.reused_tokens,
        result.generated_tokens,
        result.ms,
    )
    if result.status == "error":
        log.error("completion error: %s", result.detail)
    return result, offset


def build_server(settings: Settings | None = None) -> BigCodeServer:
    ls = BigCodeServer(settings)

    @ls.feature(types.INITIALIZE)
    def initialize(ls: BigCodeServer, params: types.InitializeParams) -> None:
        if ls.log_handler is None:
            ls.log_handler = attach_client(log, ls, asyncio.get_running_loop())
        ls.apply_settings(params.initialization_options)
        if params.process_id:
            ls.watch_task = asyncio.ensure_future(watch_parent(ls, params.process_id))

    @ls.feature(types.INITIALIZED)
    def initialized(ls: BigCodeServer, params: types.InitializedParams) -> None:
        ls.start_loading()

    @ls.feature(types.SHUTDOWN)
    def shutdown(ls: BigCodeServer, params: Any) -> None:
        if ls.load_task is not None:
            ls.load_task.cancel()  # no progress may be sent after exit
        ls.service.shutdown()

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BigCodeServer, params: types.DidOpenTextDocumentParams) -> None:
        d = params.text_document
        ls.documents.open(d.uri, d.text, d.version, d.language_id)
        ls.service.note_version(d.uri, d.version)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BigCodeServer, params: types.DidChangeTextDocumentParams) -> None:
        uri, version = params.text_document.uri, params.text_document.version
        doc = ls.documents.get(uri)
        if doc is None:
            log.warning("didChange for %s, which is not open; ignored", uri)
            return
        changes = []
        for c in params.content_changes:
            rng = getattr(c, "range", None)
            span = (
                (rng.start.line, rng.start.character, rng.end.line, rng.end.character)
                if rng
                else None
            )
            changes.append((span, c.text))
        try:
            doc.apply_changes(changes, ls.encoding)
        except PositionError as exc:
            log.error("rejected an edit to %s (the document is unchanged): %s", uri, exc)
            return
        doc.version = version
        ls.service.note_version(uri, version)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BigCodeServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.close(params.text_document.uri)
        ls.service.close(params.text_document.uri)

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
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

    @ls.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: BigCodeServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList:
        found = await suggest(ls, params.text_document.uri, params.position)
        if found is None or not found[0].text:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=found[0].text, range=types.Range(start=params.position, end=params.position)
        )
        return types.InlineCompletionList(items=[item])

    @ls.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(ls: BigCodeServer, params: types.CompletionParams) -> types.CompletionList:
        found = await suggest(ls, params.text_document.uri, params.position)
        if found is None or not found[0].text:
            return types.CompletionList(is_incomplete=True, items=[])
        result, offset = found
        doc = ls.documents.get(params.text_document.uri)
        # Clients filter items by the word before the cursor: replace that word with
        # itself plus the suggestion so the item survives the filter.
        line_start = doc.text.rfind("\n", 0, offset) + 1
        word = IDENTIFIER_TAIL.search(doc.text[line_start:offset])
        word_text = word.group() if word else ""
        line, character = doc.position_at(offset - len(word_text), ls.encoding)
        start = types.Position(line=line, character=character)
        new_text = word_text + result.text
        first_line = new_text.strip().split("\n", 1)[0]
        item = types.CompletionItem(
            label=first_line[:80] or new_text.strip()[:80],
            kind=types.CompletionItemKind.Text,
            detail="bigcode-ls",
            documentation=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=f"```\n{new_text}\n```"
            ),
            sort_text="0",
            filter_text=new_text,
            insert_text_format=types.InsertTextFormat.PlainText,
            text_edit=types.TextEdit(
                range=types.Range(start=start, end=params.position), new_text=new_text
            ),
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @ls.feature(STATUS_METHOD)
    def status(ls: BigCodeServer, params: Any) -> dict:
        """Server state for health checks and tests: the model, the KV cache sessions and,
        with {"uri": ...}, the server's copy of that document and its last completion."""
        uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
        out = {
            "version": __version__,
            "positionEncoding": ls.encoding,
            "documents": len(ls.documents),
            **ls.service.status(),
        }
        doc = ls.documents.get(uri) if uri else None
        if doc is not None:
            last = ls.service.last.get(uri)
            out["document"] = {"text": doc.text, "version": doc.version}
            if last is not None:
                out["last"] = {
                    "status": last.status,
                    "text": last.text,
                    "generatedTokens": last.generated_tokens,
                    "promptTokens": last.prompt_tokens,
                    "reusedTokens": last.reused_tokens,
                    "ms": round(last.ms, 2),
                }
        return out

    return ls
