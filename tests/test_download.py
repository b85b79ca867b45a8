"""`bigcode-ls download` against a Hub stand-in on localhost (tests/fake_hub.py), through
the real command and huggingface_hub, and `--model NAME` resolved from its cache."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub
from tests.models import make_model_dir, set_config

TINY = "bigcode/tiny_starcoder_py"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("ckpt"))


@pytest.fixture
def hub():
    hub = FakeHub().start()
    yield hub
    hub.stop()


def bigcode_ls(*args: str, hub: FakeHub | None, home: Path, token: str | None = None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    # a dead port when no hub is meant: any attempt to reach the network fails loudly
    env.update(HF_HOME=str(home), HF_ENDPOINT=hub.url if hub else "http://127.0.0.1:9")
    if token:
        env["HF_TOKEN"] = token
    cmd = [sys.executable, "-m", "lsp_server", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)


def fetched(hub: FakeHub, name: str) -> int:
    return sum(1 for method, path, _ in hub.log if method == "GET" and path.endswith("/" + name))


def test_download_fetches_checks_and_prints_the_directory(hub, checkpoint, tmp_path):
    hub.add(TINY, checkpoint, **{"pytorch_model.bin": b"not fetched"})
    out = bigcode_ls("download", "tiny_starcoder_py", hub=hub, home=tmp_path / "hf")
    assert out.returncode == 0, out.stderr
    directory = Path(out.stdout.strip().splitlines()[-1])
    assert {p.name for p in directory.iterdir()} == {
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    }
    assert (directory / "model.safetensors").read_bytes() == (
        checkpoint / "model.safetensors"
    ).read_bytes()
    assert fetched(hub, "pytorch_model.bin") == 0  # never a pickle
    assert "--model tiny_starcoder_py" in out.stderr


def test_downloaded_name_completes_without_network(hub, checkpoint, tmp_path):
    hub.add(TINY, checkpoint)
    home = tmp_path / "hf"
    assert bigcode_ls("download", TINY, hub=hub, home=home).returncode == 0
    source = tmp_path / "a.py"
    source.write_text("def add(a, b):\n    return \n")
    args = ("complete", str(source), "--line", "1", "--character", "11", "--json")
    # hub=None: HF_ENDPOINT is a dead port, so the name must come from the cache alone
    for name in ("tiny_starcoder_py", TINY):
        out = bigcode_ls(*args, "--model", name, "--min-confidence", "0", hub=None, home=home)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["tokens"] > 0


def test_a_model_name_not_downloaded_says_the_command_to_run(tmp_path):
    source = tmp_path / "a.py"
    source.write_text("x = 1\n")
    args = ("complete", str(source), "--line", "0", "--character", "0")
    out = bigcode_ls(*args, "--model", "santacoder", hub=None, home=tmp_path / "hf")
    assert out.returncode == 2
    assert "run: bigcode-ls download santacoder" in out.stderr


def test_download_resumes_after_an_interrupted_transfer(hub, checkpoint, tmp_path):
    hub.add(TINY, checkpoint)
    home = tmp_path / "hf"
    hub.cuts["model.safetensors"] = 1  # cut once: huggingface_hub retries in the same run
    assert bigcode_ls("download", TINY, hub=hub, home=home).returncode == 0
    assert fetched(hub, "model.safetensors") == 2

    other = tmp_path / "hf2"
    hub.log.clear()
    hub.cuts["model.safetensors"] = 100  # the connection keeps failing: the run gives up
    failed = bigcode_ls("download", TINY, hub=hub, home=other)
    assert failed.returncode == 1 and "again to resume" in failed.stderr, failed.stderr
    assert fetched(hub, "tokenizer.json") == 1
    hub.cuts.clear()
    again = bigcode_ls("download", TINY, hub=hub, home=other)
    assert again.returncode == 0, again.stderr
    assert fetched(hub, "tokenizer.json") == 1  # kept from the first run, not fetched again
    directory = Path(again.stdout.strip().splitlines()[-1])
    assert (directory / "model.safetensors").read_bytes() == (
        checkpoint / "model.safetensors"
    ).read_bytes()


def test_download_of_a_gated_repo_needs_a_token(hub, checkpoint, tmp_path):
    hub.add("bigcode/starcoderbase-1b", checkpoint, gated=True)
    home = tmp_path / "hf"
    refused = bigcode_ls("download", "starcoderbase-1b", hub=hub, home=home)
    assert refused.returncode == 1
    assert "gated" in refused.stderr and "HF_TOKEN" in refused.stderr
    wrong = bigcode_ls("download", "starcoderbase-1b", hub=hub, home=home, token="hf_wrong")
    assert wrong.returncode == 1 and "hf_wrong" not in wrong.stderr + wrong.stdout
    ok = bigcode_ls("download", "starcoderbase-1b", hub=hub, home=home, token=hub.token)
    assert ok.returncode == 0, ok.stderr
    assert hub.token not in ok.stderr + ok.stdout


class _Trap:
    """Unpickling this runs code: it writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_download_refuses_a_pickle_only_repo(hub, checkpoint, tmp_path):
    marker = tmp_path / "marker"
    files = {n: (checkpoint / n).read_bytes() for n in ("config.json", "tokenizer.json")}
    hub.repos["someone/pickled"] = __import__("tests.fake_hub").fake_hub.Repo(
        {**files, "pytorch_model.bin": pickle.dumps(_Trap(marker))}
    )
    out = bigcode_ls("download", "someone/pickled", hub=hub, home=tmp_path / "hf")
    assert out.returncode == 1
    assert "pytorch_model.bin, a pickle checkpoint" in out.stderr
    assert fetched(hub, "pytorch_model.bin") == 0 and not marker.exists()


def test_download_refuses_a_corrupt_safetensors_file(hub, checkpoint, tmp_path):
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (corrupt / name).write_bytes((checkpoint / name).read_bytes())
    (corrupt / "model.safetensors").write_bytes(
        (checkpoint / "model.safetensors").read_bytes()[:5000]  # cut off mid-tensor
    )
    hub.add("someone/corrupt", corrupt)
    out = bigcode_ls("download", "someone/corrupt", hub=hub, home=tmp_path / "hf")
    assert out.returncode == 1
    assert "cannot be used" in out.stderr and "safetensors" in out.stderr, out.stderr


def test_download_refuses_another_architecture_before_fetching_weights(hub, checkpoint, tmp_path):
    other = tmp_path / "starcoder2"
    other.mkdir()
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        (other / name).write_bytes((checkpoint / name).read_bytes())
    set_config(other, model_type="starcoder2", architectures=["Starcoder2ForCausalLM"])
    hub.add("bigcode/starcoder2-3b", other)
    out = bigcode_ls("download", "bigcode/starcoder2-3b", hub=hub, home=tmp_path / "hf")
    assert out.returncode == 1
    assert "starcoder2" in out.stderr and "remote backend" in out.stderr
    assert fetched(hub, "model.safetensors") == 0


def test_download_refuses_what_is_not_a_model_name(tmp_path):
    out = bigcode_ls("download", "not a name", hub=None, home=tmp_path / "hf")
    assert out.returncode == 1 and "short name" in out.stderr
