"""A stand-in inference server on a real loopback socket, with scripted misbehaviour.

It speaks just enough of the OpenAI completions protocol (and llama.cpp's /infill and
/props) to test the remote backend's client side: streaming, errors, garbage, streams
that break off, slow servers, and whether the client hung up.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Script:
    """What the server does next; tests change it between requests."""

    mode: str = "ok"  # ok | garbage | truncate | status | slow
    status: int = 500
    error_body: str = '{"error": {"message": "internal error"}}'
    tokens: list[str] = field(default_factory=lambda: ["    return", " a", " +", " b", "\n"])
    token_delay_s: float = 0.0
    models: list[str] = field(default_factory=lambda: ["bigcode/starcoder"])
    n_ctx: int = 4096


class FakeServer:
    def __init__(self, port: int = 0):
        self.script = Script()
        self.requests: list[dict] = []  # (path, headers, body) of each request
        self.hangups = 0  # streams the client closed before the end
        self.streams_done = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                if self.path.endswith("/models"):
                    data = [{"id": m, "object": "model"} for m in outer.script.models]
                    self._json(200, {"object": "list", "data": data})
                elif self.path == "/props":
                    n_ctx = outer.script.n_ctx
                    self._json(200, {"default_generation_settings": {"n_ctx": n_ctx}})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                s = outer.script
                if s.mode == "status":
                    self._raw(s.status, s.error_body.encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    self._stream(s, native=self.path == "/infill")
                    outer.streams_done += 1
                except (BrokenPipeError, ConnectionResetError):
                    outer.hangups += 1

            def _stream(self, s: Script, native: bool) -> None:
                if s.mode == "garbage":
                    self._chunk(b"data: {not json at all\n\n")
                    self._chunk(b"")
                    return
                tokens = s.tokens * (100 if s.mode == "slow" else 1)
                for i, token in enumerate(tokens):
                    if s.mode == "truncate" and i == 2:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # mid-stream, no end marker
                        return
                    event = {"content": token} if native else {"choices": [{"text": token}]}
                    self._chunk(b"data: " + json.dumps(event).encode() + b"\n\n")
                    if s.token_delay_s:
                        time.sleep(s.token_delay_s)
                final = {"prompt_n": 3, "cache_n": 40}
                if native:
                    self._chunk(b"data: " + json.dumps({"stop": True, "timings": final}).encode())
                else:
                    usage = {"prompt_tokens": 43, "prompt_tokens_details": {"cached_tokens": 40}}
                    self._chunk(b"data: " + json.dumps({"choices": [], "usage": usage}).encode())
                    self._chunk(b"\n\ndata: [DONE]\n\n")
                self._chunk(b"")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def _json(self, status: int, data: dict) -> None:
                self._raw(status, json.dumps(data).encode())

            def _raw(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self) -> list[dict]:
        return [r for r in self.requests if "body" in r]

    def __enter__(self) -> FakeServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
