"""Logging for server mode: to the client (window/logMessage) and an optional file.

stdout is the LSP transport in stdio mode, so nothing here ever writes to it. Records
may come from the model worker thread; they are handed to the event loop to be sent.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from lsprotocol import types

LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
    logging.DEBUG: types.MessageType.Log,
}


class ClientLogHandler(logging.Handler):
    def __init__(self, server, loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__()
        self.server = server
        self.loop = loop

    def emit(self, record: logging.LogRecord) -> None:
        try:
            params = types.LogMessageParams(
                type=LEVELS.get(record.levelno, types.MessageType.Log), message=self.format(record)
            )
            loop = self.loop
            if loop is None or loop.is_closed():
                return
            loop.call_soon_threadsafe(self._send, params)
        except Exception:  # logging must never break the server
            pass

    def _send(self, params: types.LogMessageParams) -> None:
        try:
            if self.server.protocol.writer is not None:
                self.server.window_log_message(params)
        except Exception:
            pass


def setup_logging(level: str = "info", log_file: Path | None = None) -> logging.Logger:
    logger = logging.getLogger("bigcode_ls")
    logger.setLevel(level.upper())
    logger.propagate = False
    if log_file is not None:
        handler = logging.FileHandler(log_file, encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(threadName)s %(message)s")
        )
        logger.addHandler(handler)
        pygls_logger = logging.getLogger("pygls")
        pygls_logger.addHandler(handler)
        pygls_logger.setLevel(logging.WARNING)
    return logger


def attach_client(
    logger: logging.Logger, server, loop: asyncio.AbstractEventLoop
) -> ClientLogHandler:
    handler = ClientLogHandler(server, loop)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    return handler
