"""A Hugging Face Hub stand-in on localhost for the download tests: the endpoints that
`huggingface_hub.snapshot_download` and `hf_hub_download` use (repo info, the recursive
tree listing, HEAD and ranged GET of `resolve/`), gated repos, and transfers cut short on
request (`cuts`). Point `HF_ENDPOINT` at `FakeHub.url`."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

LFS_SUFFIXES = (".safetensors", ".bin", ".pt")


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    commit: str = ""

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + self.files[name])
            self.commit = digest.hexdigest()


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    token: str = "hf_test_token"
    cuts: dict[str, int] = field(default_factory=dict)  # file name -> GETs still to cut short
    log: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, range)

    def add(self, repo_id: str, folder: Path, gated: bool = False, **extra: bytes) -> None:
        files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
        self.repos[repo_id] = Repo({**files, **extra}, gated)

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                hub.handle(self, head=True)

            def do_GET(self) -> None:
                hub.handle(self, head=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def downloaded(self, name: str) -> bool:
        return any(m == "GET" and p.endswith("/" + name) for m, p, _ in self.log)

    # --- requests ---------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler, head: bool) -> None:
        path = unquote(urlparse(h.path).path)
        self.log.append((h.command, path, h.headers.get("Range", "")))
        api = re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/(revision|tree)/([^/]+)(/.*)?)?", path)
        resolve = re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path)
        repo_id = (api or resolve).group(1) if (api or resolve) else ""
        repo = self.repos.get(repo_id)
        if repo is None:
            return self.error(h, 404, "RepoNotFound", f"Repository {repo_id} not found")
        if repo.gated and h.headers.get("Authorization") != f"Bearer {self.token}":
            return self.error(h, 401, "GatedRepo", f"Access to model {repo_id} is restricted.")
        if api and api.group(2) in ("revision", None):
            return self.json(h, self.info(repo_id, repo))
        if api:
            return self.json(h, [self.entry(n, b) for n, b in sorted(repo.files.items())])
        name = resolve.group(3)
        if name not in repo.files:
            return self.error(h, 404, "EntryNotFound", f"{name} does not exist")
        self.send_file(h, repo, name, head)

    def info(self, repo_id: str, repo: Repo) -> dict:
        return {
            "_id": repo.commit[:24],
            "id": repo_id,
            "modelId": repo_id,
            "sha": repo.commit,
            "private": False,
            "gated": "manual" if repo.gated else False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": [{"rfilename": n} for n in sorted(repo.files)],
        }

    @staticmethod
    def etag(name: str, data: bytes) -> str:
        if name.endswith(LFS_SUFFIXES):
            return hashlib.sha256(data).hexdigest()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()

    def entry(self, name: str, data: bytes) -> dict:
        git_oid = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        item = {"type": "file", "path": name, "size": len(data), "oid": git_oid}
        if name.endswith(LFS_SUFFIXES):
            item["lfs"] = {"oid": self.etag(name, data), "size": len(data), "pointerSize": 134}
        return item

    def send_file(self, h: BaseHTTPRequestHandler, repo: Repo, name: str, head: bool) -> None:
        data = repo.files[name]
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", h.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
        h.send_response(206 if start else 200)
        h.send_header("X-Repo-Commit", repo.commit)
        h.send_header("ETag", f'"{self.etag(name, data)}"')
        h.send_header("Content-Length", str(len(data) - start))
        if start:
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        h.send_header("Accept-Ranges", "bytes")
        h.end_headers()
        if head:
            return
        body = data[start:]
        if self.cuts.get(name, 0) > 0:
            self.cuts[name] -= 1
            h.wfile.write(body[: len(body) // 2])  # then hang up: a transfer cut short
            h.wfile.flush()
            h.close_connection = True
            return
        h.wfile.write(body)

    def json(self, h: BaseHTTPRequestHandler, value) -> None:
        body = json.dumps(value).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def error(self, h: BaseHTTPRequestHandler, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        h.send_response(status)
        h.send_header("X-Error-Code", code)
        h.send_header("X-Error-Message", message)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if h.command != "HEAD":
            h.wfile.write(body)
