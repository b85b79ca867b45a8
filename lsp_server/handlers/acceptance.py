"""The acceptance notifications (see acceptance.py), and the back-off they drive."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ..acceptance import BACK_OFF_DELAY_MS, RETENTION_S, stats_path
from ..documents import PositionError
from ..rpc.wire import field_of
from ..server import BigCodeServer

log = logging.getLogger("bigcode_ls")
SHOW_METHOD = "bigcode/didShowCompletion"
ACCEPT_METHOD = "bigcode/didAcceptCompletion"
DISMISS_METHOD = "bigcode/didDismissCompletion"
SAVE_EVERY_S = 60.0


def _subject(ls: BigCodeServer, params: Any) -> tuple[str, str, str] | None:
    """(uri, language, text) of a notification about an open document."""
    uri, text = field_of(params, "uri", str), field_of(params, "text", str)
    doc = ls.documents.get(uri) if uri else None
    if doc is None or text is None:
        log.debug("acceptance notification ignored: %r", params)
        return None
    return uri, doc.language_id or "unknown", text


def did_show(ls: BigCodeServer, params: Any) -> None:
    subject = _subject(ls, params)
    if subject is not None:
        ls.acceptance.shown(*subject)


def did_dismiss(ls: BigCodeServer, params: Any) -> None:
    subject = _subject(ls, params)
    if subject is not None:
        ls.acceptance.dismissed(subject[0])


def did_accept(ls: BigCodeServer, params: Any) -> None:
    subject = _subject(ls, params)
    if subject is None:
        return
    uri, language, text = subject
    length = field_of(params, "acceptedLength", int)
    offset = _accept_offset(ls, uri, field_of(params, "position", object))
    ls.acceptance.accepted(uri, language, text, len(text) if length is None else length, offset)
    save_stats(ls)  # an accept is rare and worth keeping even if the editor is killed
    asyncio.get_running_loop().call_later(RETENTION_S + 0.1, check_retention, ls)


def _accept_offset(ls: BigCodeServer, uri: str, position: Any) -> int:
    """Where the accepted text went: the notification's position, else the position of
    the document's last completion request."""
    doc = ls.documents.get(uri)
    line = field_of(position, "line", int) if position is not None else None
    character = field_of(position, "character", int) if position is not None else None
    if line is None or character is None:
        line, character = ls.last_position.get(uri, (0, 0))
    try:
        return doc.offset_at(line, character, ls.encoding) if doc else 0
    except PositionError:
        return 0


def check_retention(ls: BigCodeServer) -> None:
    for accept in ls.acceptance.due_checks():
        doc = ls.documents.get(accept.uri)
        ls.acceptance.check(accept, doc.text if doc else None)


def save_stats(ls: BigCodeServer) -> None:
    """Merge the counts into the stats file, when the `statsFile` setting asks for one."""
    if not ls.settings.stats_file or not ls.acceptance.languages:
        return
    try:
        ls.acceptance.save(stats_path())
    except OSError as exc:
        log.warning("could not save acceptance stats to %s: %s", stats_path(), exc)


async def save_periodically(ls: BigCodeServer) -> None:
    while True:
        await asyncio.sleep(SAVE_EVERY_S)
        save_stats(ls)


async def back_off(ls: BigCodeServer, language: str, uri: str, version: int) -> bool:
    """In a backed-off language, wait a little before asking the model; False when the
    user typed meanwhile (the newer request will ask instead)."""
    if language not in ls.acceptance.backed_off:
        return True
    await asyncio.sleep(BACK_OFF_DELAY_MS / 1000)
    doc = ls.documents.get(uri)
    return doc is not None and doc.version == version
