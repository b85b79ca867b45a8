"""The command line: `complete`, argument errors, and the server's entry points."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from bench.rawlsp import RawServer
from tests.models import make_constant_model_dir


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_constant_model_dir(tmp_path_factory.mktemp("cli"))


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lsp_server", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def test_complete_json(model, tmp_path):
    src = tmp_path / "a.py"
    src.write_text("s = '😀'\nvalue = f(\n")
    out = run(
        "complete",
        str(src),
        "--line",
        "1",
        "--character",
        "10",
        "--model",
        str(model),
        "--json",
        "--max-new-tokens",
        "4",
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["text"] == "xxxx" and data["tokens"] == 4 and data["ms"] > 0
    assert data["range"] == {
        "start": {"line": 1, "character": 10},
        "end": {"line": 1, "character": 10},
    }


@pytest.mark.parametrize(
    "args, message",
    [
        (["--line", "9", "--character", "0"], "past the end"),
        (["--line", "0"], "required: --character"),
        (["--line", "x", "--character", "0"], "invalid int"),
    ],
)
def test_complete_bad_arguments_exit_2_with_one_line(model, tmp_path, args, message):
    src = tmp_path / "b.py"
    src.write_text("x = 1\n")
    out = run("complete", str(src), "--model", str(model), *args)
    assert out.returncode == 2
    assert (
        message in out.stderr
        and len(out.stderr.strip().splitlines()) == 1
        and "Traceback" not in out.stderr
    )


def test_complete_bad_model_and_file(tmp_path):
    src = tmp_path / "c.py"
    src.write_text("x = 1\n")
    out = run(
        "complete", str(src), "--line", "0", "--character", "0", "--model", str(tmp_path / "none")
    )
    assert (
        out.returncode == 2
        and "model directory not found" in out.stderr
        and "Traceback" not in out.stderr
    )
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{")
    (tmp_path / "m" / "tokenizer.json").write_text("{}")
    out = run(
        "complete", str(src), "--line", "0", "--character", "0", "--model", str(tmp_path / "m")
    )
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    out = run("complete", str(tmp_path / "missing.py"), "--line", "0", "--character", "0")
    assert out.returncode == 2 and "cannot read" in out.stderr


def test_version_and_help():
    assert run("--version").stdout.startswith("bigcode-ls ")
    help_text = run("--help").stdout
    assert "complete" in help_text and "--tcp" in help_text and "Examples" in help_text


def test_stdio_flag_is_accepted_and_stdin_close_exits(model):
    srv = RawServer("--stdio", "--model", str(model))
    reply = srv.initialize()
    assert reply["result"]["capabilities"]["inlineCompletionProvider"] is not None
    srv.proc.stdin.close()  # the client died without shutdown
    assert srv.proc.wait(timeout=20) is not None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_tcp_binds_loopback_by_default(model):
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "--tcp", "--port", str(port), "--model", str(model)],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert f"listening on 127.0.0.1:{port}" in proc.stderr.readline()
        # Wait until the port listens, then check on which address (a connection would
        # become the server's one client, so only look).
        deadline = time.monotonic() + 20
        listening: list[str] = []
        while not listening:
            assert time.monotonic() < deadline, "server did not listen"
            out = subprocess.run(["ss", "-ltn"], capture_output=True, text=True, check=True)
            listening = [line for line in out.stdout.splitlines() if f":{port} " in line]
            time.sleep(0.1)
        assert all("127.0.0.1:" in line for line in listening)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_complete_answers_bad_input_before_importing_torch(tmp_path):
    """A wrong file or position costs no model import (torch takes seconds to load)."""
    code = (
        "import sys\n"
        "from cli.main import main\n"
        "for argv in (['complete', sys.argv[1], '--line', '0', '--character', '0'],\n"
        "             ['complete', sys.argv[2], '--line', '9', '--character', '0']):\n"
        "    assert main(argv) == 2\n"
        "print('torch' in sys.modules)\n"
    )
    short = tmp_path / "short.py"
    short.write_text("x = 1\n")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "missing.py"), str(short)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
