"""Faults and security: the server survives them and keeps the user's text."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from unittest.mock import ANY

import pytest

from bench.rawlsp import RawServer
from tests.models import make_constant_model_dir

URI = "file:///rel.py"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_constant_model_dir(tmp_path_factory.mktemp("rel"))


def suggestion(srv: RawServer, line: int = 0, character: int = 4, uri: str = URI) -> str:
    return srv.suggestion(uri, line, character)


def load_error(srv: RawServer, containing: str, timeout: float = 20.0) -> dict:
    """The status once a (re)load has failed with an error mentioning `containing`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = srv.status()
        if containing in (status["loadError"] or ""):
            return status
        time.sleep(0.05)
    raise AssertionError(f"no load error with {containing!r}: {status['loadError']!r}")


def test_model_directory_removed_while_running(model, tmp_path):
    copy = tmp_path / "model"
    shutil.copytree(model, copy)
    srv = RawServer("--model", str(copy))
    try:
        srv.initialize({"bigcode": {"maxNewTokens": 3, "tokenHealing": False}})
        srv.open(URI, "x = \n")
        assert suggestion(srv) == "xxx"
        shutil.rmtree(copy)
        # Changing a setting that needs a reload: the reload fails, the old model serves on.
        srv.notify("workspace/didChangeConfiguration", {"settings": {"bigcode": {"threads": 1}}})
        status = load_error(srv, "not found")
        assert status["model"] and suggestion(srv) == "xxx"
        # A replaced (broken) model directory fails the same way.
        copy.mkdir()
        (copy / "config.json").write_text("{")
        (copy / "tokenizer.json").write_text("{}")
        srv.notify("workspace/didChangeConfiguration", {"settings": {"bigcode": {"threads": 2}}})
        assert "not a valid tokenizers file" in load_error(srv, "tokenizer.json")["loadError"]
        assert suggestion(srv) == "xxx"
    finally:
        srv.close()


@pytest.mark.slow
def test_server_exits_when_its_parent_dies(model):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    srv = RawServer("--model", str(model))
    try:
        srv.initialize(None, processId=parent.pid)
        parent.kill()
        parent.wait()
        assert srv.proc.wait(timeout=20) == 0
    finally:
        if srv.proc.poll() is None:
            srv.proc.kill()


def test_no_network_at_run_time(model, tmp_path):
    """Any attempt to open a socket or resolve a name fails the run."""
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(
        "import socket\n"
        "def _refuse(*a, **k):\n"
        "    raise SystemExit('network access attempted')\n"
        "socket.socket.connect = _refuse\n"
        "socket.socket.connect_ex = _refuse\n"
        "socket.getaddrinfo = _refuse\n"
        "socket.create_connection = _refuse\n"
    )
    srv = RawServer("--model", str(model), env={"PYTHONPATH": str(guard)})
    try:
        srv.initialize({"bigcode": {"maxNewTokens": 2, "tokenHealing": False}})
        srv.open(URI, "y = \n")
        assert suggestion(srv) == "xx"
    finally:
        assert srv.close() == 0


def test_files_that_were_not_opened_are_never_read(model, tmp_path):
    secret = tmp_path / "secret.py"
    secret.write_text("password = 'hunter2'\n")
    srv = RawServer("--model", str(model))
    try:
        srv.initialize({"bigcode": {"maxNewTokens": 2, "tokenHealing": False}})
        reply = srv.inline(secret.as_uri(), 0, 4)
        assert reply["result"]["items"] == []
        status = srv.request("bigcode/status", {"uri": secret.as_uri()})["result"]
        assert "document" not in status and status["documents"] == 0
    finally:
        srv.close()


@pytest.mark.slow
def test_huge_and_binary_documents(model):
    srv = RawServer("--model", str(model))
    try:
        srv.initialize(
            {"bigcode": {"maxNewTokens": 2, "tokenHealing": False, "contextTokens": 256}}
        )
        big = "".join(f"value_{i} = {i} * 2\n" for i in range(250_000))  # ~5 MB
        srv.open("file:///big.py", big + "z = ")
        t0 = time.monotonic()
        assert suggestion(srv, 250_000, 4, "file:///big.py") == "xx"
        assert time.monotonic() - t0 < 20
        last = srv.request("bigcode/status", {"uri": "file:///big.py"})["result"]["last"]
        assert last["promptTokens"] <= 256 + 8  # cut by the budget, not the file
        junk = "".join(chr(c) for c in range(0, 0x3000, 7)) + "\x00\ufffe\U0010ffff"
        srv.open("file:///junk.py", junk + "\nq = ")
        last_line = junk.count("\n") + junk.count("\r") - junk.count("\r\n") + 1
        reply = srv.inline("file:///junk.py", last_line, 4)
        assert reply["result"]["items"] == [{"insertText": "xx", "range": ANY}]
        assert suggestion(srv, 0, 4, "file:///big.py") == "xx"  # still fine
    finally:
        srv.close()


def test_log_file_and_no_stdout_noise(model, tmp_path):
    log = tmp_path / "server.log"
    srv = RawServer("--model", str(model), "--log-file", str(log), "--log-level", "debug")
    try:
        srv.initialize({"bigcode": {"maxNewTokens": 2, "tokenHealing": False}})
        srv.open(URI, "w = \n")
        assert suggestion(srv) == "xx"
    finally:
        srv.close()
    text = log.read_text()
    assert "model loaded" in text and "prompt tokens" in text
    # Every byte on stdout was a framed LSP message: the strict reader saw nothing else.
    assert srv.violations == []
