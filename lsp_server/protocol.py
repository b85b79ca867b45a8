"""pygls' protocol, adjusted: our own text sync, and an answer for unreadable params.

pygls would sync documents in its workspace too (`DocumentStore` owns the text here),
and for a request whose params do not fit its method's type it logs the error and
leaves the client waiting for a response that never comes.
"""

from __future__ import annotations

import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

log = logging.getLogger("bigcode_ls")


class Rejected:
    """A message whose params did not fit its method's type; already answered."""


class BigCodeProtocol(LanguageServerProtocol):
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

    # Text sync goes straight to our handlers, bypassing pygls' workspace.
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
