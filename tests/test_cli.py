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


# --- a first run's frictions -------------------------------------------------------------


def test_an_empty_suggestion_says_why(model, tmp_path):
    src = tmp_path / "d.py"
    src.write_text("def add(a, b):\n    return \n")
    # a few tokens: the constant model's `xxxx...` is no loop yet
    args = ("complete", str(src), "--line", "1", "--character", "11", "--model", str(model))
    args += ("--max-new-tokens", "4")
    out = run(*args, "--min-confidence", "1")  # no model is that sure: hidden
    assert out.returncode == 0 and out.stdout == ""
    assert "no suggestion: the model was unsure" in out.stderr, out.stderr
    data = json.loads(run(*args, "--min-confidence", "1", "--json").stdout)
    assert data["text"] == "" and data["reason"] == "unsure"


def test_setting_errors_name_the_flag_and_what_it_takes(model, tmp_path):
    src = tmp_path / "e.py"
    src.write_text("x = 1\n")
    base = ("complete", str(src), "--line", "0", "--character", "0", "--model", str(model))
    out = run(*base, "--max-new-tokens", "-5")
    assert out.returncode == 2
    assert "--max-new-tokens: invalid value -5 (expected an integer from 1 to 1024)" in out.stderr
    assert "kept" not in out.stderr and "max_new_tokens" not in out.stderr
    # the prompt budget is capped by the model's context at run time, as documented
    assert run(*base, "--context-tokens", "99999").returncode == 0


def test_a_weights_file_as_model_means_its_directory(model, tmp_path):
    src = tmp_path / "f.py"
    src.write_text("value = f(\n")
    weights = str(model / "model.safetensors")
    out = run(
        "complete", str(src), "--line", "0", "--character", "10", "--model", weights,
        "--max-new-tokens", "4",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("x")


def test_complete_refuses_a_fifo_at_once(tmp_path):
    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)
    out = run("complete", str(fifo), "--line", "0", "--character", "0", timeout=20)
    assert out.returncode == 2 and "not a regular file" in out.stderr


def test_ctrl_c_ends_the_server(model):
    import signal

    proc = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "--model", str(model)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(3)  # past the imports, into serving
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()


def test_a_terminal_is_told_it_is_talking_to_a_language_server(model):
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "lsp_server", "--model", str(model)],
        stdin=secondary,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        seen = b""
        while b"Ctrl-C" not in seen and time.monotonic() < deadline:
            seen += proc.stderr.read1(4096)
        assert b"speaks LSP" in seen and b"bigcode-ls complete FILE" in seen
    finally:
        proc.kill()
        os.close(primary)
        os.close(secondary)


def test_importing_the_package_main_module_starts_nothing():
    """`python -m lsp_server` runs the server; importing `lsp_server.__main__` (a tool
    that walks modules) must not."""
    proc = subprocess.run(
        [sys.executable, "-c", "import lsp_server.__main__; print('imported')"],
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=60,
        input=None,
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stderr[-500:]


def test_every_reason_the_finisher_gives_is_said_in_words():
    """`bigcode-ls complete` words each reason an empty suggestion can carry: every
    `return "", "<reason>"` of the post-processing, and the finisher's own."""
    import re
    from pathlib import Path

    import fim
    from cli.complete import REASONS

    source = "".join(
        (Path(fim.__file__).parent / name).read_text() for name in ("postprocess.py", "plan.py")
    )
    given = set(re.findall(r'return "", "(\w+)"', source))
    assert {"echo", "junk", "invalid", "recursion", "retyped"} <= given  # the pattern still reads
    assert given <= set(REASONS), given - set(REASONS)
