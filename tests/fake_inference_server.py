"""A stand-in inference server on a real loopback socket, with scripted misbehaviour.

It speaks just enough of the OpenAI completions protocol (and llama.cpp's /infill and
/props) to test the remote backend's client side: streaming, errors, garbage, streams
that break off, slow servers, and whether the client hung up. Asked for token
probabilities (`n_probs` or `logprobs`), it reports each token's from `Script.probs`,
with one alternative token holding the rest, in the dialect of the server it plays. It
writes at most `n_predict` / `max_tokens` tokens, and goes on after the script's tokens
that a request's prompt already ends with (a client sending back a first token).
"""

from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FIRST_ID = 1000  # the script's tokens have ids FIRST_ID, FIRST_ID + 1, ...
ENDLESS_BYTES = 256 << 20  # what an "endless" answer sends at most (the client hangs up first)


@dataclass
class Script:
    """What the server does next; tests change it between requests."""

    # ok | garbage | truncate | status | slow | slow-headers | endless-models |
    # endless-after-done | endless-line (the endless ones send up to ENDLESS_BYTES,
    # counted in `sent`)
    mode: str = "ok"
    status: int = 500
    error_body: str = '{"error": {"message": "internal error"}}'
    tokens: list[str] = field(default_factory=lambda: ["    return", " a", " +", " b", "\n"])
    token_delay_s: float = 0.0
    models: list[str] = field(default_factory=lambda: ["bigcode/starcoder"])
    owned_by: str = ""  # "llamacpp" plays llama.cpp's OpenAI-compatible dialect
    n_ctx: int = 4096
    probs: list[float] | None = None  # per token, when asked (default 0.9 each)
    refuse_probs: bool = False  # HTTP 400 to a request that asks for probabilities


class FakeServer:
    def __init__(self, port: int = 0):
        self.script = Script()
        self.requests: list[dict] = []  # (path, headers, body) of each request
        self.hangups = 0  # streams the client closed before the end
        self.streams_done = 0
        self.sent = 0  # bytes of the endless modes' bodies the client took before hanging up
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append({"path": self.path, "headers": dict(self.headers)})
                if self.path.endswith("/models") and outer.script.mode == "endless-models":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self._endless(b'{"data": [', b'{"id": "m", "owned_by": "x"}, ' * 2000)
                elif self.path.endswith("/models"):
                    owner = outer.script.owned_by
                    data = [
                        {"id": m, "object": "model", "owned_by": owner} for m in outer.script.models
                    ]
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
                if s.mode == "slow-headers":  # a byte of the status line every 0.5 s
                    try:
                        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n":
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            time.sleep(0.5)
                    except (BrokenPipeError, ConnectionResetError, OSError):
                        outer.hangups += 1
                    self.close_connection = True
                    return
                if s.mode == "status":
                    self._raw(s.status, s.error_body.encode())
                    return
                asked = "n_probs" in body or "logprobs" in body
                if s.refuse_probs and asked:
                    self._json(400, {"error": {"message": "unknown field: logprobs"}})
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    dialect = "" if not asked else "llama" if "n_probs" in body else "openai"
                    self._body = body
                    self._stream(s, native=self.path == "/infill", dialect=dialect)
                    outer.streams_done += 1
                except (BrokenPipeError, ConnectionResetError):
                    outer.hangups += 1

            def _endless(self, head: bytes, piece: bytes) -> None:
                try:
                    self._chunk(head)
                    while outer.sent < ENDLESS_BYTES:
                        self._chunk(piece)
                        outer.sent += len(piece)
                except (BrokenPipeError, ConnectionResetError):
                    outer.hangups += 1

            def _stream(self, s: Script, native: bool, dialect: str) -> None:
                if s.mode == "endless-line":
                    self._endless(b"data: ", b"a" * 65536)
                    return
                if s.mode == "garbage":
                    self._chunk(b"data: {not json at all\n\n")
                    self._chunk(b"")
                    return
                tokens = s.tokens * (100 if s.mode == "slow" else 1)
                tokens = tokens[_written(tokens, self._body, native) :][: _limit(self._body)]
                for i, token in enumerate(tokens):
                    if s.mode == "truncate" and i == 2:
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)  # mid-stream, no end marker
                        return
                    event = {"content": token} if native else {"choices": [{"text": token}]}
                    p = s.probs[i % len(s.probs)] if s.probs else 0.9
                    if dialect:
                        token_id = FIRST_ID + s.tokens.index(token) if token in s.tokens else 0
                        _add_probability(event, dialect, token, p, token_id)
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
                if s.mode == "endless-after-done":
                    self._endless(b"", b"x" * 65536)
                    return
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


def _written(tokens: list[str], body: dict, native: bool) -> int:
    """How many of the script's tokens the request's prompt already holds: /infill's
    `prompt` field is exactly the text written so far, an OpenAI prompt ends with it (as
    text, or as the ids this server gave the tokens: [text, id, ...])."""
    prompt = body.get("prompt") or ""
    if isinstance(prompt, list):
        ids = [i for i in prompt if isinstance(i, int)]
        prompt = "".join(str(x) for x in prompt if isinstance(x, str))
        prompt += "".join(tokens[i - FIRST_ID] for i in ids if 0 <= i - FIRST_ID < len(tokens))
    for k in range(len(tokens), 0, -1):
        done = "".join(tokens[:k])
        if prompt == done or (not native and prompt.endswith(done)):
            return k
    return 0


def _limit(body: dict) -> int | None:
    limit = body.get("n_predict", body.get("max_tokens"))
    return limit if isinstance(limit, int) and limit > 0 else None


def _add_probability(event: dict, dialect: str, token: str, p: float, token_id: int) -> None:
    """`token`'s probability `p` in `event`, with one other token holding the rest."""
    lp, rest = math.log(p), math.log(max(1e-9, 1 - p))
    if dialect == "openai":  # legacy completions: parallel lists
        top = {token: lp, "\u00a7other": rest}
        lists = {"tokens": [token], "token_logprobs": [lp], "top_logprobs": [top]}
        event["choices"][0]["logprobs"] = lists
        return
    top = [
        {"id": token_id, "token": token, "logprob": lp},
        {"id": 1, "token": "\u00a7other", "logprob": rest},
    ]
    entry = [{"id": token_id, "token": token, "logprob": lp, "top_logprobs": top}]
    if "content" in event:
        event["completion_probabilities"] = entry
    else:
        event["choices"][0]["logprobs"] = {"content": entry}
