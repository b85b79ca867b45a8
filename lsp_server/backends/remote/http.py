"""A small HTTP client for streaming completions: one kept-alive connection, server-sent
events, and a stop that closes the socket at once.

The standard library's `http.client` does the protocol. What it lacks for an editor is
an immediate stop: a generation must end the moment a newer keystroke or a cancel
arrives, so that the server stops generating too (llama.cpp, vLLM and TGI all abort a
request whose client went away). A watchdog thread polls `should_stop` while a response
is read and shuts the socket down when it turns true; the blocked read then returns.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

WATCH_INTERVAL_S = 0.01
MAX_ERROR_BODY = 2000


class HttpError(Exception):
    """A failed request: no connection, a timeout, an HTTP error status, a broken stream."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Stopped(Exception):
    """The caller's `should_stop` turned true while the response was read."""


class HttpClient:
    """Requests to one server over one connection at a time (not thread-safe: the
    completion worker is its only user)."""

    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        verify_tls: bool = True,
        headers: dict[str, str] | None = None,
        secrets: tuple[str, ...] = (),
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout_s = timeout_s
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self.secrets = tuple(s for s in secrets if s)
        self._tls = ssl.create_default_context() if self.https else None
        if self._tls is not None and not verify_tls:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE
        self._conn: http.client.HTTPConnection | None = None
        self.connections_made = 0

    @property
    def origin(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}{self.base_path}"

    def redact(self, text: str) -> str:
        """`text` with every secret (the API key) blanked out, and any stretch of 8 or
        more of its first characters too (a server's error body may cut it short)."""
        for secret in self.secrets:
            text = redact_secret(text, secret)
        return text

    # --- connection ---------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout_s, context=self._tls
                )
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self._conn = conn
            self.connections_made += 1
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _send(self, method: str, path: str, body: dict | None) -> http.client.HTTPResponse:
        """Send one request, retrying once on a kept-alive connection the server had
        closed meanwhile; any other failure is an HttpError."""
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            reused = self._conn is not None
            conn = self._connection()
            try:
                conn.request(method, self.base_path + path, body=data, headers=self.headers)
                return conn.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self.close()
                if not reused or attempt == 2:
                    raise HttpError(self._describe(exc)) from None
            except (OSError, http.client.HTTPException, ValueError) as exc:
                self.close()  # ValueError: a header http.client refuses (never shown whole)
                raise HttpError(self._describe(exc)) from None
        raise AssertionError("unreachable")

    def _describe(self, exc: BaseException) -> str:
        if isinstance(exc, ssl.SSLError):
            what = f"TLS failure ({exc.reason or exc})"
        elif isinstance(exc, TimeoutError | socket.timeout):
            what = f"no answer within {self.timeout_s:g} s"
        elif isinstance(exc, ConnectionRefusedError):
            what = "connection refused (is the server running?)"
        else:
            what = f"{type(exc).__name__}: {exc}"
        return self.redact(f"{self.origin}: {what}")

    def _check(self, response: http.client.HTTPResponse, path: str) -> None:
        if response.status == 200:
            return
        body = response.read(MAX_ERROR_BODY).decode("utf-8", "replace").strip()
        self.close()
        message = _error_message(body) or response.reason
        raise HttpError(
            self.redact(f"{self.origin}{path}: HTTP {response.status}: {message}"),
            response.status,
        )

    # --- requests -----------------------------------------------------------------------
    def get_json(self, path: str) -> dict:
        response = self._send("GET", path, None)
        self._check(response, path)
        try:
            raw = response.read(MAX_JSON_BYTES + 1)
            if len(raw) > MAX_JSON_BYTES:
                raise ValueError(f"the answer is larger than {MAX_JSON_BYTES >> 20} MiB")
            data = json.loads(raw)
        except (ValueError, OSError, http.client.HTTPException) as exc:
            self.close()
            raise HttpError(self.redact(f"{self.origin}{path}: bad JSON: {exc}")) from None
        return data if isinstance(data, dict) else {"data": data}

    def stream_events(
        self, path: str, body: dict, should_stop: Callable[[], bool]
    ) -> Iterator[dict]:
        """POST `body` and yield each server-sent event's JSON until `[DONE]` or the end
        of the response. Raises Stopped when `should_stop` turned true, HttpError on any
        failure (a stream that breaks off, an event that is not JSON)."""
        if should_stop():  # a stale request is never sent
            raise Stopped()
        # watched from the start: a server that sends its headers a byte at a time must
        # not outlast the deadline or a cancellation either
        finished = threading.Event()
        watchdog = threading.Thread(
            target=self._watch, args=(should_stop, finished), daemon=True, name="bigcode-http"
        )
        watchdog.start()
        clean = False
        try:
            try:
                response = self._send("POST", path, body)
            except HttpError:
                if should_stop():
                    raise Stopped() from None
                raise
            self._check(response, path)
            yield from self._events(response, path, should_stop)
            clean = response.isclosed() or not response.will_close
        finally:
            finished.set()
            watchdog.join()
            if not clean:  # a response not read to its end cannot carry another request
                self.close()

    def _watch(self, should_stop: Callable[[], bool], finished: threading.Event) -> None:
        while not finished.wait(WATCH_INTERVAL_S):
            if should_stop():
                conn = self._conn
                sock = conn.sock if conn is not None else None
                if sock is not None:
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return

    def _events(
        self, response: http.client.HTTPResponse, path: str, should_stop: Callable[[], bool]
    ) -> Iterator[dict]:
        while True:
            try:
                line = response.readline(MAX_EVENT_LINE + 1)
            except (OSError, http.client.HTTPException, ValueError) as exc:
                if should_stop():
                    raise Stopped() from None
                raise HttpError(self._describe(exc)) from None
            if should_stop():
                raise Stopped()
            if not line:
                raise HttpError(self.redact(f"{self.origin}{path}: the stream ended early"))
            if len(line) > MAX_EVENT_LINE:
                raise HttpError(f"{self.origin}{path}: an event line over {MAX_EVENT_LINE} bytes")
            line = line.strip()
            if not line.startswith(b"data:"):
                continue  # blank separators, comments, `event:` lines
            payload = line[5:].strip()
            if payload == b"[DONE]":
                self._drain(response)
                return
            try:
                event = json.loads(payload)
            except ValueError:
                raise HttpError(
                    self.redact(f"{self.origin}{path}: malformed event {payload[:80]!r}")
                ) from None
            if not isinstance(event, dict):
                raise HttpError(self.redact(f"{self.origin}{path}: malformed event"))
            if "error" in event:
                raise HttpError(self.redact(f"{self.origin}{path}: {_error_message(event)}"))
            yield event
            if event.get("stop") is True:  # llama.cpp's native endpoints end this way
                self._drain(response)
                return

    def _drain(self, response: http.client.HTTPResponse) -> None:
        """Read the body's end, so that the connection can carry the next request; a
        server that sends more than a little after its last event loses the connection
        instead of filling our memory."""
        try:
            response.read(MAX_DRAIN_BYTES)
        except (OSError, http.client.HTTPException, ValueError):
            pass
        if not response.isclosed():
            self.close()


def _error_message(body: str | dict) -> str:
    """The human part of an error body (OpenAI-style, llama.cpp, TGI), shortened."""
    data = body
    if isinstance(body, str):
        try:
            data = json.loads(body)
        except ValueError:
            return body[:300]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return str(error.get("message") or error.get("type") or error)[:300]
        return str(error)[:300]
    return str(data)[:300]


REDACT_FROM = 8  # characters of a secret's start that count as showing it
MAX_JSON_BYTES = 4 << 20  # a model listing or /props answer
MAX_EVENT_LINE = 1 << 20  # one server-sent event (a token with its alternatives: ~ KB)
MAX_DRAIN_BYTES = 64 << 10  # what may follow the last event


def redact_secret(text: str, secret: str) -> str:
    """`text` with `secret`, and every beginning of it of REDACT_FROM or more
    characters, replaced by ***."""
    if len(secret) < REDACT_FROM:
        return text.replace(secret, "***") if secret else text
    probe, out, i = secret[:REDACT_FROM], [], 0
    while (j := text.find(probe, i)) != -1:
        k = j + REDACT_FROM
        while k < len(text) and k - j < len(secret) and text[k] == secret[k - j]:
            k += 1
        out.append(text[i:j] + "***")
        i = k
    out.append(text[i:])
    return "".join(out)
