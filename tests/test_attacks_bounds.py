"""Round three of the attack suite: what a client or a workspace can make the server hold
(memory, the event loop, the interpreter's lock), each bound tested at the shape that
broke it."""

from __future__ import annotations

import socket
import time

from tests.test_attacks import SETTINGS, URI, frame, model, rss_mib, tcp_server  # noqa: F401


def _raw_client(port: int) -> socket.socket:
    """A client that writes but never reads (its receive buffer small, so the kernel
    cannot hide what the server keeps)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(5)
    return sock


def test_tcp_a_client_that_never_reads_cannot_make_the_server_buffer(tcp_server):  # noqa: F811
    port, proc = tcp_server
    sock = _raw_client(port)
    init = {"capabilities": {}, "initializationOptions": SETTINGS, "processId": None}
    sock.sendall(frame({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": init}))
    sock.sendall(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
    text = "x = 1\n" * 100_000  # 600 KB: each status answer restates it
    doc = {"uri": URI, "languageId": "python", "version": 1, "text": text}
    sock.sendall(
        frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": doc}})
    )
    status = frame({"jsonrpc": "2.0", "id": 1, "method": "bigcode/status", "params": {"uri": URI}})
    for _ in range(3):  # the first answers cost what any client's would
        sock.sendall(status)
    time.sleep(2)
    before = rss_mib(proc.pid)
    sent = 0
    try:
        while sent < 400:  # 400 answers of 600 KB: 240 MB if buffered
            sock.sendall(status)
            sent += 1
    except TimeoutError:
        pass  # the server stopped reading us: what we want
    time.sleep(3)
    grown = rss_mib(proc.pid) - before
    assert grown < 30, f"{grown:.0f} MiB held for a client that read nothing ({sent} sent)"
    sock.close()
    assert proc.poll() is None
