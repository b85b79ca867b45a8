"""pygls' protocol, made strict where the LSP specification is and tolerant of the wire.

* Messages come from `transport.FrameReader` (`receive` a body, `reject` a bad frame),
  not from pygls' reader, which wedges on a header it does not expect.
* The lifecycle the specification prescribes: before `initialize` a request gets
  ServerNotInitialized; `initialize` twice, and any request after `shutdown`, get
  InvalidRequest; `exit` ends the session with 0 after `shutdown` and 1 without.
* An envelope that is not JSON-RPC (a method that is not a string, an id that is neither
  number nor string) gets InvalidRequest; params that do not fit their method's type,
  or that `wire.check_params` refuses (what cattrs would coerce: a `null` text, a
  fractional column), get InvalidParams, and a notification carrying them changes
  nothing.
* Text sync goes straight to our handlers: `DocumentStore` owns the text, not pygls'
  workspace.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .transport import BadFrame, recover_id
from .wire import check_params

log = logging.getLogger("bigcode_ls")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
SERVER_NOT_INITIALIZED = -32002


COMPLETION_METHODS = (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.TEXT_DOCUMENT_COMPLETION)


class Rejected:
    """A message that was answered (or dropped) before reaching a handler."""


def _valid_id(value: Any) -> bool:
    return isinstance(value, int | str) and not isinstance(value, bool)


def passthrough(method: str):
    """A built-in handler that only calls the feature registered for `method` (it takes
    the place of pygls' own, which would also keep a copy in its workspace)."""

    @lsp_method(method)
    def handler(self, params):
        if (feature := self.fm.features.get(method)) is not None:
            yield feature, (params,), None

    return handler


class BigCodeProtocol(LanguageServerProtocol):
    phase = "new"  # new -> running (after initialize) -> shut down (after shutdown)

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self.owner = server  # the BigCodeServer: told when a client sends `exit`

    # --- from the transport ----------------------------------------------------------
    def receive(self, body: bytes) -> None:
        """One message body from the transport: parsed, checked, handled. Never raises."""
        try:
            message = json.loads(body, object_hook=self.structure_message)
        except (ValueError, RecursionError) as exc:  # not JSON, not UTF-8, or nested too deep
            self.send_error(recover_id(body), PARSE_ERROR, f"parse error: {exc}")
            return
        if not isinstance(message, Rejected):
            try:
                self.handle_message(message)
            except Exception:
                log.exception("message handling failed")

    def reject(self, bad: BadFrame) -> None:
        self.send_error(bad.msg_id, PARSE_ERROR, f"unreadable message: {bad.reason}")

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """An error response, framed and written here: pygls has no public call for an
        error that no handler raised (a message it never parsed)."""
        error = {"code": code, "message": message}
        body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error}).encode()
        if self.writer is not None:
            self.writer.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    # --- parsing ---------------------------------------------------------------------
    def structure_message(self, data: dict[str, Any]):
        if "jsonrpc" not in data:
            return data  # a nested object: pygls calls this hook for every one
        msg_id = data.get("id")
        if ("id" in data and not _valid_id(msg_id)) or (
            "method" in data and not isinstance(data["method"], str)
        ):
            log.warning("not a JSON-RPC message: %.200r", data)
            if "method" in data or "id" in data:
                self.send_error(
                    msg_id if _valid_id(msg_id) else None, INVALID_REQUEST, "invalid request"
                )
            return Rejected()
        method = data.get("method")
        problem = check_params(method, data.get("params")) if method else None
        if problem is None:
            try:
                return super().structure_message(data)
            except JsonRpcException:
                problem = f"invalid params for {method}"
        log.warning("%s ignored: %s", method, problem)
        if "id" in data and method:
            self.send_error(msg_id, INVALID_PARAMS, problem)
        return Rejected()

    # --- lifecycle -------------------------------------------------------------------
    completion_requests = 0  # inline and plain completion requests received

    def handle_message(self, message: Any) -> None:
        method = getattr(message, "method", None)
        request = method is not None and getattr(message, "id", None) is not None
        if request and method in COMPLETION_METHODS:
            self.completion_requests += 1
        if method == types.EXIT:
            self.owner.end_session(0 if self.phase == "shut down" else 1)
            return
        refusal = self._refusal(method, request)
        if refusal is not None:
            if request:
                self.send_error(message.id, *refusal)
            return
        if method == types.INITIALIZE:
            self.phase = "running"
        elif method == types.SHUTDOWN:
            self.phase = "shut down"
        super().handle_message(message)

    def _refusal(self, method: str | None, request: bool) -> tuple[int, str] | None:
        """Why the lifecycle forbids this message now (notifications are dropped)."""
        if method is None:
            return None  # a response to one of our requests
        if self.phase == "new" and method != types.INITIALIZE:
            return SERVER_NOT_INITIALIZED, "the server has not been initialized"
        if self.phase == "running" and method == types.INITIALIZE:
            return INVALID_REQUEST, "initialize was already received"
        if self.phase == "shut down":
            return INVALID_REQUEST, "the server is shut down"
        return None

    def reset(self) -> None:
        """A new client session (TCP): back to before `initialize`."""
        self.phase = "new"
        # pygls' own flag, set by its shutdown handler: its only reset (our phase already
        # refuses what comes after a shutdown; pygls refuses it too while this is set)
        self._shutdown = False

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        result = yield from super().lsp_initialize(params)
        # Where clients look for what LSP has no name for: the next-edit request
        # (`textDocument/copilotInlineEdit`, Copilot's shape).
        result.capabilities.experimental = {"inlineEditProvider": True}
        return result

    # --- document sync goes straight to our handlers, bypassing pygls' workspace: text
    # documents and notebooks (whose cells live in our document store) --------------------
    lsp_text_document__did_open = passthrough(types.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = passthrough(types.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = passthrough(types.TEXT_DOCUMENT_DID_CLOSE)
    lsp_notebook_document__did_open = passthrough(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    lsp_notebook_document__did_change = passthrough(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    lsp_notebook_document__did_close = passthrough(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
