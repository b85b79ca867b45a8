"""A black-box attack suite against the running server (issue #18's classes and more).

Each test sends something hostile or merely unusual and asserts the server stays alive,
answers within a bound, and keeps each document equal to the client's view.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from bench.rawlsp import RawServer
from tests.models import make_constant_model_dir, set_config

URI = "file:///attack.py"
SETTINGS = {"bigcode": {"maxNewTokens": 2, "tokenHealing": False}}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_constant_model_dir(tmp_path_factory.mktemp("attack"))


@pytest.fixture(scope="module")
def server(model):
    """One server for the attacks that leave it in a usable state."""
    srv = RawServer("--model", str(model), "--threads", "1")
    srv.initialize(SETTINGS)
    srv.open(URI, "x = \n")
    assert srv.suggestion(URI, 0, 4) == "xx"
    yield srv
    assert srv.close() == 0


def alive(srv: RawServer) -> bool:
    return srv.suggestion(URI, 0, 4) == "xx"


def frame(message: dict, *, header: bytes = b"Content-Length: %d\r\n\r\n", delta: int = 0) -> bytes:
    body = json.dumps(message).encode()
    return header % (len(body) + delta) + body


def inline_params(line: int = 0, character: int = 4, uri: str = URI) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


# --- 2. framing ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, delta",
    [
        (b"content-length: %d\r\n\r\n", 0),
        (b"Content-Length:%d\r\n\r\n", 0),
        (b"Content-Length: %d\n\n", 0),
        (
            b"CONTENT-LENGTH: %d\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n",
            0,
        ),
        (b"Content-Length: %d\r\n\r\n", 3),
        (b"Content-Length: %d\r\n\r\n", -3),
    ],
    ids=["lower-case", "no-space", "lf-only", "upper-with-type", "length+3", "length-3"],
)
def test_unusual_framing_is_understood(server, header, delta):
    server.next_id += 1
    msg = {"jsonrpc": "2.0", "id": server.next_id, "method": "bigcode/status", "params": {}}
    server.send_raw(frame(msg, header=header, delta=delta))
    reply = server.wait_response(server.next_id, timeout=10)
    assert reply["result"]["documents"] >= 1
    assert alive(server)


@pytest.mark.parametrize(
    "junk",
    [
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        b"\x00\xff" * 100 + b"\r\n\r\n",
        b"Content-Length: banana\r\n\r\n{}",
        b"Content-Length: 5\r\n\r\nhello",
        b'Content-Length: 12\r\n\r\n\xff\xfe\xfd{"id": 1}',
    ],
    ids=["http", "binary", "bad-length", "not-json", "bad-utf8"],
)
def test_junk_between_frames_is_skipped(server, junk):
    server.send_raw(junk)
    assert alive(server)


def test_invalid_utf8_request_gets_a_parse_error(server):
    body = b'{"jsonrpc": "2.0", "id": 4242, "method": "bigcode/status", "params": {"uri": "\xff"}}'
    server.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    reply = server.wait_response(4242, timeout=10)
    assert reply["error"]["code"] == -32700
    assert alive(server)


@pytest.mark.parametrize("framed", [True, False], ids=["framed", "bare"])
def test_deeply_nested_json_is_a_parse_error_not_a_crash(server, framed):
    body = b'{"jsonrpc":"2.0","method":"x","params":' + b"[" * 1000 + b"]" * 1000 + b"}"
    server.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body if framed else body)
    assert alive(server)


@pytest.mark.parametrize(
    "message, code",
    [
        ({"jsonrpc": "2.0", "id": 77, "method": 5}, -32600),
        ({"jsonrpc": "2.0", "id": 78, "method": ["x"], "params": {}}, -32600),
    ],
    ids=["numeric-method", "list-method"],
)
def test_bad_envelopes_get_invalid_request(server, message, code):
    server.send(message)
    assert server.wait_response(message["id"], timeout=10)["error"]["code"] == code
    assert alive(server)


# --- 4. types on the wire --------------------------------------------------------------


@pytest.mark.parametrize("text", [None, 3.25, True, ["x"], {"a": 1}], ids=repr)
def test_change_text_of_the_wrong_type_changes_nothing(server, text):
    uri = "file:///types.py"
    server.open(uri, "keep = 1\n")
    server.change(
        uri,
        2,
        [
            {
                "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
                "text": text,
            }
        ],
    )
    assert server.status(uri)["document"] == {"text": "keep = 1\n", "version": 1}


@pytest.mark.parametrize("character", [1.5, 2**53, -1, "3", None], ids=repr)
def test_positions_of_the_wrong_type_are_invalid_params(server, character):
    reply = server.request("textDocument/inlineCompletion", inline_params(0, character))
    assert reply["error"]["code"] == -32602
    uri = "file:///types2.py"
    server.open(uri, "keep = 2\n")
    rng = {"start": {"line": 0, "character": character}, "end": {"line": 0, "character": 0}}
    server.change(uri, 2, [{"range": rng, "text": "!"}])
    assert server.status(uri)["document"] == {"text": "keep = 2\n", "version": 1}


def test_a_null_version_changes_nothing(server):
    uri = "file:///version.py"
    server.open(uri, "v = 1\n")
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": uri, "version": None}, "contentChanges": [{"text": "gone"}]},
    )
    assert server.status(uri)["document"] == {"text": "v = 1\n", "version": 1}


# --- 7. text the tokenizer refuses -----------------------------------------------------


def test_a_lone_surrogate_near_the_cursor_still_gets_a_suggestion(server):
    uri = "file:///surrogate.py"
    server.open(uri, "s = '\ud800'\nx = \n")
    assert server.suggestion(uri, 1, 4) == "xx"


# --- 1. document shapes ----------------------------------------------------------------


def rss_mib(pid: int) -> float:
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def test_one_huge_line_is_served_in_bounded_time_and_memory(server):
    uri = "file:///oneline.py"
    line = "value = [" + "1, " * 3_000_000  # ~9 MB on one line
    t0 = time.monotonic()
    server.open(uri, line)
    assert server.suggestion(uri, 0, len(line)) == "xx"
    for i in range(5):  # typing at the end of the line
        col = len(line) + i
        server.change(
            uri,
            2 + i,
            [
                {
                    "range": {
                        "start": {"line": 0, "character": col},
                        "end": {"line": 0, "character": col},
                    },
                    "text": "2",
                }
            ],
        )
        assert server.suggestion(uri, 0, col + 1) == "xx"
    assert time.monotonic() - t0 < 30
    last = server.status(uri)["last"]
    assert last["promptTokens"] < 600  # the window, not the line
    assert rss_mib(server.proc.pid) < 1500


def test_many_edits_in_one_notification_on_a_long_document(server):
    uri = "file:///long.py"
    lines = [f"row_{i} = {i}\n" for i in range(200_000)]
    server.open(uri, "".join(lines))
    edits = []
    for k in range(400):  # "replace all": one edit per 500 lines, bottom to top
        i = 199_999 - 500 * k
        edits.append(
            {
                "range": {"start": {"line": i, "character": 0}, "end": {"line": i, "character": 3}},
                "text": "ROW",
            }
        )
        lines[i] = "ROW" + lines[i][3:]
    t0 = time.monotonic()
    server.change(uri, 2, edits)
    status = server.status(uri)
    assert time.monotonic() - t0 < 10
    assert status["document"] == {"text": "".join(lines), "version": 2}


def test_a_document_over_the_limit_is_kept_in_sync_but_not_completed(model):
    srv = RawServer("--model", str(model), "--max-document-mib", "0.01")
    try:
        srv.initialize(SETTINGS)
        big = "y = 1\n" * 5000  # 30 kB
        srv.open(URI, big + "x = ")
        srv.wait_model()
        assert srv.inline(URI, 5000, 4)["result"]["items"] == []
        srv.change(URI, 2, [{"text": "x = "}])
        assert srv.suggestion(URI, 0, 4) == "xx"  # small again: served
    finally:
        srv.close()


# --- 3. lifecycle ----------------------------------------------------------------------


def test_requests_before_initialize_and_a_second_initialize(model):
    srv = RawServer("--model", str(model))
    try:
        before = srv.request("bigcode/status", {})
        assert before["error"]["code"] == -32002
        srv.initialize(SETTINGS)
        again = srv.initialize(SETTINGS)
        assert again["error"]["code"] == -32600
        assert srv.status()["documents"] == 0
    finally:
        srv.close()


def test_requests_after_shutdown_and_shutdown_twice(model):
    srv = RawServer("--model", str(model))
    srv.initialize(SETTINGS)
    assert srv.request("shutdown", None)["result"] is None
    assert srv.request("bigcode/status", {})["error"]["code"] == -32600
    assert srv.request("shutdown", None, timeout=10)["error"]["code"] == -32600
    srv.notify("exit", None)
    assert srv.proc.wait(timeout=20) == 0


def test_exit_without_shutdown_is_exit_code_1(model):
    srv = RawServer("--model", str(model))
    srv.initialize(SETTINGS)
    srv.notify("exit", None)
    assert srv.proc.wait(timeout=20) == 1


def test_exit_while_the_model_loads_ends_cleanly(tmp_path):
    slow = make_constant_model_dir(tmp_path / "slow", n_embd=512, n_layer=8, n_head=8)
    srv = RawServer("--model", str(slow))
    srv.initialize(SETTINGS)  # the load starts on `initialized`
    srv.request("shutdown", None)
    srv.notify("exit", None)
    assert srv.proc.wait(timeout=20) == 0
    stderr = srv.proc.stderr.read().decode()
    assert "terminate called" not in stderr and "Traceback" not in stderr


# --- 5. settings at and beyond their bounds --------------------------------------------


def test_settings_beyond_bounds_are_refused_per_key(server):
    server.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"bigcode": {"enable": False, "maxNewTokens": math.nan, "threads": 1000}}},
    )
    assert server.inline(URI, 0, 4)["result"]["items"] == []  # enable=false applied
    server.notify(
        "workspace/didChangeConfiguration",
        {"settings": {"bigcode": {"enable": True, "maxNewTokens": math.inf}}},
    )
    assert alive(server)


def test_a_huge_max_new_tokens_leaves_the_prompt_half_the_context(model):
    srv = RawServer("--model", str(model))
    try:
        srv.initialize(
            {"bigcode": {"maxNewTokens": 1024, "tokenHealing": False, "multiline": "multi"}}
        )
        text = "v = 1\n" * 400 + "x = "
        srv.open(URI, text)
        srv.suggestion(URI, 400, 4)
        last = srv.status(URI)["last"]
        # 512 positions: up to 256 new tokens, the prompt keeps the rest (was 16 tokens).
        assert last["promptTokens"] >= 150 and last["generatedTokens"] <= 256
    finally:
        srv.close()


def test_threads_beyond_the_cpus_are_clamped(model):
    srv = RawServer("--model", str(model), "--threads", "200")
    try:
        srv.initialize({"bigcode": {**SETTINGS["bigcode"], "threads": 1000}})  # refused: > 256
        srv.open(URI, "x = \n")
        assert srv.suggestion(URI, 0, 4) == "xx"
        threads = len(os.listdir(f"/proc/{srv.proc.pid}/task"))
        assert threads < 32, threads  # 200 asked for, clamped to the CPUs
    finally:
        srv.close()


# --- 6. model directories that look plausible but are not ------------------------------


def test_a_config_promising_far_more_layers_is_refused_at_once(model, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(model, bad)
    set_config(bad, n_layer=100_000)
    srv = RawServer("--model", str(bad))
    try:
        srv.initialize(SETTINGS)
        t0 = time.monotonic()
        status = srv.wait_model(timeout=30)
        assert "n_layer is 100000 but the weights have 2 layers" in status["loadError"]
        assert time.monotonic() - t0 < 10
    finally:
        srv.close()


# --- 0. TCP: one client at a time, never another's documents ----------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tcp_server(model):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "--tcp", "--port", str(port), "--model", str(model)],
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    proc.stderr.readline()  # "listening on ..."
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()  # a port probe
            break
        except OSError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    yield port, proc
    proc.kill()
    proc.wait()


def test_tcp_isolates_clients_and_survives_probes_and_junk(tcp_server):
    port, proc = tcp_server
    first = RawServer.connect(port)
    first.initialize(SETTINGS)
    first.open(URI, "secret = 'hunter2'\nx = \n")
    assert first.suggestion(URI, 1, 4) == "xx"
    # A second connection is refused while the first is connected ...
    second = RawServer.connect(port)
    with pytest.raises((EOFError, OSError)):
        second.request("bigcode/status", {"uri": URI}, timeout=10)
    second.close()
    # ... and probes or junk on other connections change nothing for the first client.
    socket.create_connection(("127.0.0.1", port)).close()
    with socket.create_connection(("127.0.0.1", port)) as junk:
        junk.sendall(b"GET / HTTP/1.1\r\n\r\n\x00\xff")
    assert first.suggestion(URI, 1, 4) == "xx"
    first.close()
    # The next client starts clean: it never sees the first one's documents.
    for _ in range(100):
        try:
            third = RawServer.connect(port)
            third.initialize(SETTINGS)
            break
        except (EOFError, OSError):
            time.sleep(0.1)
    status = third.status(URI)
    assert status["documents"] == 0 and "document" not in status
    third.open(URI, "x = \n")
    assert third.suggestion(URI, 0, 4) == "xx"
    third.close()
    assert proc.poll() is None  # still listening


def _next_client(port: int) -> RawServer:
    for _ in range(100):
        try:
            client = RawServer.connect(port)
            client.initialize(SETTINGS)
            return client
        except (EOFError, OSError):
            time.sleep(0.1)
    raise AssertionError("no connection")


def test_tcp_serves_the_next_client_after_a_clean_shutdown(tcp_server):
    port, proc = tcp_server
    first = _next_client(port)
    first.open(URI, "x = \n")
    assert first.suggestion(URI, 0, 4) == "xx"
    first.request("shutdown", None)
    first.send({"jsonrpc": "2.0", "method": "exit"})
    first.close()
    second = _next_client(port)  # was: the model threads stopped for good at `shutdown`
    second.open(URI, "x = \n")
    assert second.suggestion(URI, 0, 4) == "xx"
    second.close()
    assert proc.poll() is None


def test_tcp_a_client_whose_editor_dies_ends_only_its_session(tcp_server):
    port, proc = tcp_server
    editor = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    first = RawServer.connect(port)
    first.initialize(SETTINGS, processId=editor.pid)
    editor.kill()
    editor.wait()
    time.sleep(2.5)  # the watch polls once a second
    assert proc.poll() is None, "the whole server exited with one client's editor"
    second = _next_client(port)
    second.open(URI, "x = \n")
    assert second.suggestion(URI, 0, 4) == "xx"
    second.close()
    first.close()


def test_tcp_the_next_client_never_gets_the_last_ones_repository_snippets(tcp_server, tmp_path):
    port, _ = tcp_server
    secret = tmp_path / "ws_secretA"
    secret.mkdir()
    (secret / "private.py").write_text("def private_helper(x):\n    return x * 42\n")
    first = RawServer.connect(port)
    first.initialize(SETTINGS, rootUri=secret.as_uri())
    for _ in range(100):
        if first.status()["workspace"]["files"]:
            break
        time.sleep(0.05)
    first.close()
    second = _next_client(port)  # no workspace at all
    uri = "file:///other/main.py"
    second.open(uri, "value = private_helper(3)\nx = \n")
    second.suggestion(uri, 1, 4)
    status = second.status(uri)
    assert status["workspace"]["files"] == 0 and status["last"]["context"] == []
    second.close()
