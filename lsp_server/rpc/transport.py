"""LSP framing that never wedges, and the loops that feed it from stdio or TCP.

pygls' reader accepts exactly `Content-Length: N\\r\\n` and trusts N: a header in other
case, without the space, with LF line ends, or a length off by a few bytes leaves it
waiting forever. `FrameReader` reads what editors and scripts actually send:

* header names in any case, optional spaces, CRLF or LF line ends, other headers ignored;
* a body that is not valid JSON at the declared length is looked for where it really
  ends (a complete JSON value right after the headers), so a wrong length costs nothing
  when the message itself is intact;
* anything it cannot make sense of is reported (`BadFrame`, answered by the protocol with
  a ParseError) and skipped up to the next `Content-Length` header: the stream
  resynchronises instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("bigcode_ls")

HEADER_LINE = re.compile(rb"([!-9;-~]+)[ \t]*:[ \t]*([^\r\n]*)\r?\n")
PARTIAL_HEADER = re.compile(rb"[!-9;-~]*(?:[ \t]*:[^\r\n]*)?\r?\Z")
BLANK_LINE = re.compile(rb"\r?\n")
NEXT_HEADER = re.compile(rb"content-length[ \t]*:", re.IGNORECASE)
LEADING_SPACE = re.compile(rb"[ \t\r\n]*")
MAX_HEADER_BYTES = 8192
MAX_BODY_BYTES = 256 << 20  # parsing holds ~5x a body; a larger one is skipped, unread
HEADER_NAME_TAIL = 32
EARLY_PARSE_BYTES = 1 << 20  # a body this small is parsed before its declared length is in
LENGTH_SLACK = 1 << 16  # how far past a too-short Content-Length a message is looked for
_decoder = json.JSONDecoder()


@dataclass(frozen=True)
class BadFrame:
    """Bytes that could not be read as a message; `msg_id` when one could be recovered."""

    reason: str
    msg_id: int | str | None = None


class FrameReader:
    """Bytes in (`feed`), message bodies (bytes) and `BadFrame`s out, in order."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self._skipping = False  # inside a run of garbage: report it once

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        self.buf += data
        out: list[bytes | BadFrame] = []
        while (item := self._next()) is not None:
            if isinstance(item, bytes):
                self._skipping = False
                out.append(item)
            elif not self._skipping or item.msg_id is not None:
                self._skipping = True
                out.append(item)
        return out

    def _next(self) -> bytes | BadFrame | None:
        buf = self.buf
        start = LEADING_SPACE.match(buf).end()
        headers, pos = {}, start
        while (m := HEADER_LINE.match(buf, pos)) is not None:
            headers[m.group(1).lower()] = m.group(2).strip()
            pos = m.end()
        end = BLANK_LINE.match(buf, pos) if headers else None
        if end is None:
            if len(buf) - start < MAX_HEADER_BYTES and PARTIAL_HEADER.match(buf, pos):
                return None  # a header block still arriving
            return self._skip(start + 1, "bytes that are not an LSP header")
        length = headers.get(b"content-length", b"")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            return self._skip(start + 1, f"bad Content-Length {length[:20]!r}")
        return self._body(end.end(), int(length))

    def _body(self, body_start: int, length: int) -> bytes | BadFrame | None:
        buf = self.buf
        have = len(buf) - body_start
        if have >= length:
            body = bytes(buf[body_start : body_start + length])
            if _is_json(body):
                del buf[: body_start + length]
                return body
        early = have <= EARLY_PARSE_BYTES and _ends_a_value(buf)  # re-parsing a large
        value_end = _json_value_end(buf, body_start) if early else None  # one: quadratic
        if value_end is not None:  # the declared length was wrong; the message is intact
            rest = LEADING_SPACE.match(buf, value_end).end()
            if have >= length or rest == len(buf) or NEXT_HEADER.match(buf, rest):
                log.warning("Content-Length %d did not match the message; read it anyway", length)
                body = bytes(buf[body_start:value_end])
                del buf[:value_end]
                return body
        if have < length:
            return None  # still arriving
        if NEXT_HEADER.search(buf, body_start) is None and have < length + LENGTH_SLACK:
            return None  # perhaps a length that is too short: the rest may follow
        value_end = _json_value_end(buf, body_start)  # last try before giving up on it
        if value_end is not None:
            body = bytes(buf[body_start:value_end])
            del buf[:value_end]
            return body
        return self._skip(body_start, "a body that is not valid JSON", buf[body_start:])

    def _skip(self, after: int, reason: str, body: bytes = b"") -> BadFrame:
        """Drop bytes up to the next `Content-Length` header at or after `after`."""
        m = NEXT_HEADER.search(self.buf, after)
        if m:
            cut = m.start()
        else:  # keep a tail where a header's name may be arriving, and no more: keeping
            # the last line made a long line without a break cost quadratic time
            cut = max(after, self.buf.rfind(b"\n") + 1, len(self.buf) - HEADER_NAME_TAIL)
        del self.buf[:cut]
        return BadFrame(reason, recover_id(body))


def _is_json(body: bytes) -> bool:
    try:
        json.loads(body)
    except (ValueError, RecursionError):  # invalid UTF-8 too; nesting too deep to parse
        return False
    return True


def _ends_a_value(buf: bytearray) -> bool:
    """The buffered bytes end with "}" (trailing whitespace aside): only then can they hold
    a complete message, so a large body arriving in chunks is not re-parsed per chunk."""
    i = len(buf) - 1
    while i >= 0 and buf[i] in b" \t\r\n":
        i -= 1
    return i >= 0 and buf[i] == ord("}")


def _json_value_end(buf: bytearray, start: int) -> int | None:
    """The byte offset just past a complete JSON object starting at `start`, or None.
    Only tried when the bytes so far end a value, so partial bodies stay cheap."""
    tail = bytes(buf[start:]).rstrip()
    if not tail.startswith(b"{"):
        return None
    text = tail.decode("utf-8", errors="surrogateescape")
    try:
        value, end = _decoder.raw_decode(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    return start + len(text[:end].encode("utf-8", errors="surrogateescape"))


def recover_id(body: bytes) -> int | str | None:
    """The request id of a body that is JSON only once invalid UTF-8 is replaced."""
    try:
        data = json.loads(body.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        return None
    msg_id = data.get("id") if isinstance(data, dict) else None
    return msg_id if isinstance(msg_id, int | str) and not isinstance(msg_id, bool) else None


async def pump(
    read: Callable[[], Awaitable[bytes]],
    deliver: Callable[[bytes], None],
    reject: Callable[[BadFrame], None],
    stopped: Callable[[], bool],
    backlog: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Read chunks until EOF or `stopped()`; hand each message body or bad frame on.
    `backlog()` is awaited after each message: over TCP it waits while the client has
    not read our answers, so a client that never reads stops being read (it blocks)
    instead of making us buffer without bound (stdio blocks on its own)."""
    frames = FrameReader()
    while not stopped():
        data = await read()
        if not data:
            return
        for item in frames.feed(data):
            if isinstance(item, BadFrame):
                log.warning("unreadable LSP frame skipped: %s", item.reason)
                reject(item)
            else:
                deliver(item)
            await asyncio.sleep(0)  # let what the message started run, in order
            if backlog is not None:
                await backlog()


def stdin_reader(stream, loop: asyncio.AbstractEventLoop) -> Callable[[], Awaitable[bytes]]:
    """Chunks from a blocking binary stream, read on a thread of the loop's executor."""
    read = getattr(stream, "read1", stream.read)
    return lambda: loop.run_in_executor(None, read, 65536)
