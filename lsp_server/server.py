"""The language server object: documents, settings, the completion service, the model load.

Handlers live in `handlers/`; `app.build_server` registers them. Nothing here touches
tensors or prompts.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from fim.repo_files import FileLimits

from . import __version__
from .acceptance import AcceptanceStats
from .completion.service import CompletionService
from .documents import DocumentStore
from .edit_history import EditHistory
from .notebooks import NotebookStore
from .repo_context import RepoContext
from .rpc.protocol import BigCodeProtocol
from .rpc.transport import pump, stdin_reader
from .settings import RELOAD_KEYS, Settings
from .workspace import WorkspaceIndex

log = logging.getLogger("bigcode_ls")
# Python code cells of any notebook type (Jupyter's "jupyter-notebook", others alike).
NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="*", cells=[types.NotebookCellLanguage(language="python")]
        )
    ]
)
PARENT_POLL_S = 1.0
TCP_GRACE_S = 1.0  # os.kill(pid, 0) costs microseconds


def index_limits(settings: Settings) -> FileLimits:
    return FileLimits(
        max_files=settings.index_max_files,
        max_total_bytes=int(settings.index_max_mib * 1024 * 1024),
    )


class BigCodeServer(LanguageServer):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(
            "bigcode-ls",
            __version__,
            protocol_cls=BigCodeProtocol,
            notebook_document_sync=NOTEBOOK_SYNC,
        )
        self.documents = DocumentStore()
        self.edits = EditHistory()  # each open document's recent logical edits
        self.notebooks = NotebookStore()  # cell order; the cells are in `documents`
        self.base_settings = self.settings = settings or Settings()
        self.index = WorkspaceIndex(index_limits(self.settings))
        self.service = CompletionService(self.settings, RepoContext(self.index))
        self.index.defer = self.service.busy
        self.exit_code: int | None = None  # set by `exit`: the session is over
        self.declined: set[str] = set()  # documents too large to complete (logged once)
        self.edited: set[str] = set()  # open documents whose live text the index lacks
        self.load_task: asyncio.Task | None = None
        self.load_future: asyncio.Future | None = None
        self.watch_task: asyncio.Task | None = None
        self.log_handler: logging.Handler | None = None
        self.acceptance = AcceptanceStats()  # what users do with suggestions (local only)
        self.last_position: dict[str, tuple[int, int]] = {}  # uri -> last request's cursor
        self.stats_task: asyncio.Task | None = None
        self.tcp = False  # serving TCP: a session ends with its connection, not the process
        self.connection: asyncio.StreamWriter | None = None  # the TCP client's, if any

    @property
    def encoding(self) -> str:
        try:
            enc = self.workspace.position_encoding
        except RuntimeError:
            return "utf-16"
        return str(getattr(enc, "value", enc) or "utf-16")

    def text_of(self, uri: str) -> str | None:
        doc = self.documents.get(uri)
        return doc.text if doc is not None else None

    def report_server_error(self, error: Exception, source: Any) -> None:
        # Errors in a request already go back in its response; a malformed notification
        # is logged. Neither deserves a pop-up in the user's editor.
        log.warning("protocol error: %s", error)

    def apply_settings(self, values: Any) -> None:
        if not isinstance(values, dict):
            if values is not None:
                log.warning("settings must be an object, got %r", type(values).__name__)
            return
        new, problems = self.settings.updated(values)
        for problem in problems:
            log.warning(problem)
        reload = any(getattr(new, k) != getattr(self.settings, k) for k in RELOAD_KEYS)
        old, self.settings = self.settings, new
        self.service.settings = new
        if index_limits(new) != index_limits(old):
            self.index.limits = index_limits(new)
            self.index.set_folders(self.index.folders)
        if reload and self.load_task is not None:
            self.start_loading()

    def start_loading(self) -> None:
        if self.load_task is not None and not self.load_task.done():
            self.load_task.cancel()
        self.load_task = asyncio.ensure_future(load_model(self))

    def ensure_loaded(self) -> None:
        """Load the model unless the one loaded already fits the settings."""
        if self.service.loaded_for(self.settings) and self.load_task is not None:
            return
        self.start_loading()

    # --- sessions: stdio has one; TCP one per connection, one connection at a time ------
    def end_session(self, code: int) -> None:
        """`exit` was received: with stdio the process ends with `code`; over TCP only
        the connection does."""
        self.exit_code = code

    def reset_session(self) -> None:
        """Forget everything a client told us (documents, settings, lifecycle); the
        loaded model stays."""
        self.exit_code = None
        if self.watch_task is not None:  # the last client's editor is not this one's
            self.watch_task.cancel()
            self.watch_task = None
        self.protocol.reset()
        for uri in self.documents.uris():
            self.service.close(uri)
        self.documents = DocumentStore()
        self.edits = EditHistory()
        self.notebooks = NotebookStore()
        self.declined = set()
        self.edited = set()
        self.last_position = {}
        self.settings = self.service.settings = self.base_settings
        self.index.set_folders([])

    def serve_stdio(self, stdin=None, stdout=None) -> int:
        """LSP over stdio until `exit` or end of input; returns the exit code."""
        from pygls.io_ import StdoutWriter

        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))

        async def main() -> None:
            read = stdin_reader(stdin or sys.stdin.buffer, asyncio.get_running_loop())
            await pump(read, self.protocol.receive, self.protocol.reject, self._over)

        try:
            asyncio.run(main())
        except BrokenPipeError:
            log.error("the client closed the connection")
        return self.exit_code if self.exit_code is not None else 0

    def serve_tcp(self, host: str, port: int) -> None:
        """LSP over TCP, one client at a time: a connection made while a client is
        connected is closed at once, and each client starts from a clean session."""
        busy = asyncio.Lock()
        self.tcp = True

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
            peer = writer.get_extra_info("peername")
            try:  # a connection that just closed may still be tidying up: a moment's grace
                await asyncio.wait_for(busy.acquire(), TCP_GRACE_S)
            except asyncio.TimeoutError:
                log.warning("refused a connection from %s: a client is connected", peer)
                writer.close()
                return
            try:
                log.info("client connected from %s", peer)
                self.reset_session()
                self.protocol.set_writer(writer)
                self.connection = writer
                read = lambda: reader.read(65536)  # noqa: E731
                await pump(
                    read, self.protocol.receive, self.protocol.reject, self._over, writer.drain
                )
            except (ConnectionError, OSError) as exc:
                log.info("connection from %s lost: %s", peer, exc)
            finally:
                self.protocol.set_writer(_Discard())
                self.connection = None
                writer.close()
                self.reset_session()
                busy.release()
                log.info("client from %s disconnected; listening again", peer)

        async def main() -> None:
            server = await asyncio.start_server(connection, host, port)
            async with server:
                await server.serve_forever()

        asyncio.run(main())

    def _over(self) -> bool:
        return self.exit_code is not None


class _Discard:
    """The writer of a closed connection: late answers go nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def load_model(ls: BigCodeServer) -> None:
    """Load on the worker thread, with `$/progress` for clients that show it. The load
    starts before the progress token is negotiated, so that a request arriving meanwhile
    finds `load_future` and waits for the model instead of answering empty."""
    loop = asyncio.get_running_loop()
    token: str | None = None

    def report(message: str, percent: int) -> None:
        if token is not None:
            value = types.WorkDoneProgressReport(message=message, percentage=percent)
            loop.call_soon_threadsafe(ls.work_done_progress.report, token, value)

    ls.load_future = asyncio.wrap_future(ls.service.load(report))
    token = await begin_progress(ls, "bigcode-ls: loading model")
    try:
        await ls.load_future
        # What exists now (imports, the model) lives as long as the process: kept out of
        # the cyclic collector's full passes, which walked it all (~100 ms with the
        # interpreter's lock held, every few seconds of allocation).
        gc.freeze()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if ls.settings.backend == "local":
            what, hint = "load the model", " Set bigcode.model to a GPTBigCode model directory."
        else:
            what, hint = "use the remote backend", " Check the bigcode.remote* settings."
        log.error("cannot %s: %s", what, exc)
        message = f"bigcode-ls: cannot {what}: {exc}.{hint}"
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Error, message=message)
        )
    finally:
        if token is not None:
            message = "ready" if ls.service.load_error is None else "failed"
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


async def begin_progress(ls: BigCodeServer, title: str) -> str | None:
    """A `$/progress` token, begun, or None when the client does not take one."""
    caps = ls.client_capabilities.window
    if caps is None or not caps.work_done_progress:
        return None
    token = f"bigcode-ls-{id(ls)}-{asyncio.get_running_loop().time()}"
    try:
        await asyncio.wait_for(ls.work_done_progress.create_async(token), 5)
        begin = types.WorkDoneProgressBegin(title=title, percentage=0, cancellable=False)
        ls.work_done_progress.begin(token, begin)
    except Exception:  # a client that refuses the token still gets a model
        return None
    return token


async def watch_parent(ls: BigCodeServer, pid: int) -> None:
    """End the session when the editor that started it is gone (it may never send
    `exit`): over stdio the process exits; over TCP only that client's connection ends."""
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass  # exists, owned by someone else
    if ls.tcp:
        log.info("the client's process %d is gone; closing its connection", pid)
        if ls.connection is not None:
            ls.connection.close()  # its session ends; the server listens on
        return
    log.info("parent process %d is gone; exiting", pid)
    os._exit(0)


def user_notifier(ls: BigCodeServer, loop: asyncio.AbstractEventLoop):
    """A thread-safe `notify(message)` that shows the user a warning in the editor."""

    def notify(message: str) -> None:
        params = types.ShowMessageParams(type=types.MessageType.Warning, message=message)
        loop.call_soon_threadsafe(ls.window_show_message, params)

    return notify
