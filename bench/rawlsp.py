"""The LSP client that tests and benchmarks share: raw JSON-RPC over a server's stdio.

Raw, so that it can also send what a typed client cannot (malformed frames, wrong
types); strict, so that the server's output must be exactly framed LSP: every header
line must be `Name: value` with a known name, every body valid JSON. Anything else (a
stray `print` in server mode, say) is recorded in `violations` and fails the next
read. Every read has a timeout, so a wedged server fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from typing import Any

HEADER = re.compile(rb"(Content-Length|Content-Type): ?([^\r\n]*)\r\n\Z", re.IGNORECASE)


class ProtocolViolation(AssertionError):
    """The server wrote something on stdout that is not a framed LSP message."""


class RawServer:
    """A server process on stdio (`RawServer(*args)`), or a TCP connection to a running
    one (`RawServer.connect(port)`)."""

    def __init__(self, *args: str, env: dict | None = None, _streams=None):
        self.proc = None
        if _streams is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lsp_server", *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
            )
            _streams = (self.proc.stdin, self.proc.stdout)
        self._in, self._out = _streams
        self.messages: queue.Queue = queue.Queue()
        self.violations: list[str] = []
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def connect(cls, port: int, host: str = "127.0.0.1") -> RawServer:
        sock = socket.create_connection((host, port), timeout=20)
        sock.settimeout(None)
        conn = cls(_streams=(sock.makefile("wb"), sock.makefile("rb")))
        conn.sock = sock
        return conn

    # --- transport --------------------------------------------------------------------
    def _read(self) -> None:
        out = self._out
        while True:
            headers = {}
            while True:
                try:
                    line = out.readline()
                except (OSError, ValueError):  # closed on our side
                    line = b""
                if not line:
                    self.messages.put(None)
                    return
                if line == b"\r\n":
                    break
                m = HEADER.match(line)
                if m is None:
                    self._violate(f"not an LSP header line: {line[:80]!r}")
                    return
                headers[m.group(1).decode().lower()] = m.group(2).decode()
            if "content-length" not in headers:
                self._violate(f"a message without Content-Length: {headers}")
                return
            body = out.read(int(headers["content-length"]))
            try:
                self.messages.put(json.loads(body))
            except ValueError:
                self._violate(f"a body that is not JSON: {body[:80]!r}")
                return

    def _violate(self, what: str) -> None:
        self.violations.append(what)
        self.messages.put(ProtocolViolation(what))

    def send_bytes(self, payload: bytes) -> None:
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(payload) + payload)

    def send_raw(self, data: bytes) -> None:
        """Bytes as they are, framing included (or not)."""
        self._in.write(data)
        self._in.flush()

    def send(self, message: dict) -> None:
        self.send_bytes(json.dumps(message).encode())

    # --- JSON-RPC ---------------------------------------------------------------------
    def request(self, method: str, params: Any, timeout: float = 20.0) -> dict:
        self.next_id += 1
        msg_id = self.next_id
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.wait_response(msg_id, timeout)

    def notify(self, method: str, params: Any) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_response(self, msg_id: int, timeout: float = 20.0) -> dict:
        while True:
            msg = self.messages.get(timeout=timeout)
            if msg is None:
                raise EOFError("server closed its output")
            if isinstance(msg, ProtocolViolation):
                raise msg
            if msg.get("id") == msg_id and "method" not in msg:
                return msg
            if "method" in msg and "id" in msg:  # a request from the server: accept it
                self.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})

    # --- LSP --------------------------------------------------------------------------
    def initialize(self, options: dict | None = None, **params: Any) -> dict:
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "capabilities": {},
                "initializationOptions": options,
                **params,
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {
                "textDocument": {
                    "uri": uri,
                    "languageId": "python",
                    "version": version,
                    "text": text,
                }
            },
        )

    def change(self, uri: str, version: int, changes: list[dict]) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes},
        )

    def inline(self, uri: str, line: int, character: int, timeout: float = 20.0) -> dict:
        """The whole inlineCompletion response (result or error)."""
        params = {
            "textDocument": {"uri": uri},
            "position": {"line": line, "character": character},
            "context": {"triggerKind": 2},
        }
        return self.request("textDocument/inlineCompletion", params, timeout)

    def status(self, uri: str | None = None) -> dict:
        return self.request("bigcode/status", {"uri": uri} if uri else {})["result"]

    def wait_model(self, timeout: float = 60.0) -> dict:
        """The status once the model has loaded or failed to."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status = self.status()
            if status["model"] or status["loadError"]:
                return status
            time.sleep(0.05)
        raise TimeoutError("the model did not load")

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server process and its children (the analyser's
        process) have used so far; Linux only."""
        return process_tree_cpu_s(self.proc.pid)

    def suggestion(self, uri: str, line: int, character: int) -> str:
        """The first suggestion's text ("" for none), once the model has loaded."""
        self.wait_model()
        items = self.inline(uri, line, character)["result"]["items"]
        return items[0]["insertText"] if items else ""

    def close(self) -> int | None:
        if self.proc is None:  # a TCP connection: just hang up
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            for stream in (self._in, self._out, self.sock):
                stream.close()
            return None
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            return self.proc.wait(timeout=10)
        except Exception:
            self.proc.kill()
            return self.proc.wait()
        finally:
            for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                try:
                    stream.close()
                except Exception:
                    pass


def process_tree_cpu_s(root: int) -> float:
    """User and system CPU seconds of process `root` and its descendants, live or ended
    (an ended child's time is its parent's once waited for), from /proc."""
    parents, cpu = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        # after the name: state, ppid, ...; utime, stime, and the same of the children
        # waited for (cutime, cstime) are fields 14 to 17 of stat
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = sum(int(f) for f in fields[11:15])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= more
        grew = bool(more)
    return sum(cpu.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")
