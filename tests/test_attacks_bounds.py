"""Round three of the attack suite: what a client or a workspace can make the server hold
(memory, the event loop, the interpreter's lock), each bound tested at the shape that
broke it."""

from __future__ import annotations

import socket
import time

from tests import test_attacks
from tests.test_attacks import SETTINGS, URI, frame, rss_mib

model = test_attacks.model  # the fixtures, shared
tcp_server = test_attacks.tcp_server


def _raw_client(port: int) -> socket.socket:
    """A client that writes but never reads (its receive buffer small, so the kernel
    cannot hide what the server keeps)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(5)
    return sock


def _settled_rss(pid: int, limit_s: float = 15) -> float:
    """RSS once it has stopped moving for half a second."""
    last, deadline = rss_mib(pid), time.monotonic() + limit_s
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mib(pid)
        if abs(now - last) < 1:
            return now
        last = now
    return last


def test_tcp_a_client_that_never_reads_cannot_make_the_server_buffer(tcp_server):
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
    before = _settled_rss(proc.pid)
    sent = 0
    try:
        while sent < 400:  # 400 answers of 600 KB: 240 MB if buffered
            sock.sendall(status)
            sent += 1
    except TimeoutError:
        pass  # the server stopped reading us: what we want
    time.sleep(3)
    grown = rss_mib(proc.pid) - before
    assert grown < 60, f"{grown:.0f} MiB held for a client that read nothing ({sent} sent)"
    sock.close()
    assert proc.poll() is None


def _heavy_workspace(root, files: int = 400, lines: int = 1500) -> None:
    """~25 MB of distinct Python: pure-Python work for the index thread."""
    for i in range(files):
        body = "".join(
            f"def f_{i}_{j}(a, b):\n    value_{j} = a * {j} + b_{i % 7}\n    return value_{j}\n"
            for j in range(lines // 3)
        )
        (root / f"m{i:04d}.py").write_text(body)


def _watch_status(srv, until, limit_s: float = 120) -> list[float]:
    """How long each `bigcode/status` took, polled every 20 ms until `until(status)`."""
    waits, deadline = [], time.monotonic() + limit_s
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        status = srv.status()
        waits.append(time.perf_counter() - t0)
        if until(status):
            return waits
        time.sleep(0.02)
    raise AssertionError("the index never finished")


def test_the_event_loop_answers_within_100_ms_while_a_heavy_workspace_is_indexed(model, tmp_path):
    from bench.rawlsp import RawServer

    root = tmp_path / "ws"
    root.mkdir()
    _heavy_workspace(root)
    srv = RawServer("--model", str(model), "--threads", "1")
    srv.initialize(SETTINGS)
    srv.wait_model()
    folders = {"added": [{"uri": root.as_uri(), "name": "ws"}], "removed": []}
    srv.notify("workspace/didChangeWorkspaceFolders", {"event": folders})
    waits = _watch_status(srv, lambda s: not s["workspace"]["indexing"] and s["workspace"]["files"])
    assert len(waits) > 20  # the build took a while, and was watched
    # Then a storm of file events (each used to rebuild the whole index: 4 s at 48 MB).
    changes = []
    for i in range(0, 400, 4):
        path = root / f"m{i:04d}.py"
        path.write_text(path.read_text() + f"\ndef touched_{i}():\n    pass\n")
        changes.append({"uri": path.as_uri(), "type": 2})
    srv.notify("workspace/didChangeWatchedFiles", {"changes": changes})
    srv.open(URI, "touched_396\nx = \n")
    storm = _watch_status(srv, lambda s: True, 1)
    for _ in range(20):
        storm += _watch_status(srv, lambda s: True, 1)
    assert srv.suggestion(URI, 1, 4) == "xx"
    assert srv.close() == 0
    for what, w in (("build", sorted(waits)), ("storm", sorted(storm))):
        p95 = w[len(w) * 95 // 100]
        assert p95 < 0.1, f"{what}: p95 {p95 * 1000:.0f} ms"
        assert w[-1] < 0.25, f"{what}: slowest answer {w[-1] * 1000:.0f} ms"


# --- framing: what a message too large or a long run of junk costs ---------------------


def _shutdown_frame() -> bytes:
    body = b'{"jsonrpc":"2.0","id":7,"method":"shutdown"}'
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def test_a_long_run_of_junk_without_line_breaks_is_skipped_in_linear_time():
    from lsp_server.rpc.transport import FrameReader

    reader = FrameReader()
    t0 = time.monotonic()
    for _ in range(32):  # 2 MB: 64 KB took 33 s (a byte dropped per pass over 8 KB)
        reader.feed(b'{"text":"' + b"x\\n" * 21_845)
        assert len(reader.buf) <= 64
    assert reader.feed(_shutdown_frame())[-1].endswith(b'"shutdown"}')
    assert time.monotonic() - t0 < 10


def test_a_body_over_the_limit_is_skipped_without_being_held(monkeypatch):
    from lsp_server.rpc import transport

    monkeypatch.setattr(transport, "MAX_BODY_BYTES", 1 << 20)
    reader = transport.FrameReader()
    out = reader.feed(b"Content-Length: %d\r\n\r\n" % (4 << 20))
    for _ in range(64):  # its 4 MB arrive: dropped as they come
        out += reader.feed(b'{"text":"' + b"a" * 65_000 + b'"}\n')
        assert len(reader.buf) < 70_000
    out += reader.feed(_shutdown_frame())
    assert isinstance(out[0], transport.BadFrame) and "Content-Length" in out[0].reason
    assert out[-1].endswith(b'"shutdown"}')


def test_a_large_body_arriving_in_pieces_is_not_parsed_again_per_piece(monkeypatch):
    from lsp_server.rpc import transport

    parses = []
    real = transport._json_value_end
    monkeypatch.setattr(transport, "_json_value_end", lambda b, s: parses.append(1) or real(b, s))
    body = b'{"jsonrpc":"2.0","method":"x","params":{"text":"' + b"{}" * (2 << 20) + b'"}}'
    reader = transport.FrameReader()
    reader.feed(b"Content-Length: %d\r\n\r\n" % len(body))
    got = []
    for i in range(0, len(body), 65_536):
        got += reader.feed(body[i : i + 65_536])  # each piece ends with "}"
    assert got == [body]
    assert len(parses) <= 16  # only while the body so far is small: was once per piece
