"""Text documents opened, edited and closed: the store, the service and the index kept
in step. Plain text documents and notebook cells both come through here."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from lsprotocol import types

from ..documents import PositionError
from ..edit_history import MAX_CHARS
from ..server import BigCodeServer
from ..workspace import uri_to_path
from .suggest import after_edit

log = logging.getLogger("bigcode_ls")


def open_text(ls: BigCodeServer, uri: str, text: str, version: int, language: str) -> None:
    ls.documents.open(uri, text, version, language)
    ls.service.note_version(uri, version)
    path = uri_to_path(uri)
    if path is not None:
        ls.index.update(path, text)
    ls.service.read_ahead(uri, text)


def change_text(ls: BigCodeServer, uri: str, version: int, content_changes: Sequence[Any]) -> None:
    """Apply LSP content changes (ranged or whole-text) to an open document."""
    doc = ls.documents.get(uri)
    if doc is None:
        log.warning("didChange for %s, which is not open; ignored", uri)
        return
    changes = []
    for c in content_changes:
        rng = getattr(c, "range", None)
        span = (
            (rng.start.line, rng.start.character, rng.end.line, rng.end.character) if rng else None
        )
        changes.append((span, c.text))
    spans: list = []  # what each change replaced, for the history of edits
    try:
        doc.apply_changes(changes, ls.encoding, spans, MAX_CHARS)
    except PositionError as exc:
        log.error("rejected an edit to %s (the document is unchanged): %s", uri, exc)
        return
    for span, (_, new) in zip(spans, changes, strict=True):
        if span is None or len(new) > MAX_CHARS:
            ls.edits.break_join(uri)
        else:
            ls.edits.record(uri, span[0], span[1], new)
    doc.version = version
    ls.service.note_version(uri, version)
    ls.edited.add(uri)
    if len(changes) == 1 and changes[0][0] is not None:  # one edit: the cursor is at it
        (line, character, _, _), new = changes[0]
        after_edit(ls, uri, line, character, new)


def close_text(ls: BigCodeServer, uri: str) -> None:
    ls.documents.close(uri)
    ls.edits.forget(uri)
    ls.service.close(uri)
    ls.edited.discard(uri)
    ls.last_position.pop(uri, None)
    ls.acceptance.dismissed(uri)  # a suggestion still on screen was not taken
    path = uri_to_path(uri)
    if path is not None:
        ls.index.update(path)  # unsaved edits are gone: the file on disk counts again


# --- the LSP notifications -------------------------------------------------------------


def did_open(ls: BigCodeServer, params: types.DidOpenTextDocumentParams) -> None:
    d = params.text_document
    open_text(ls, d.uri, d.text, d.version, d.language_id)


def did_change(ls: BigCodeServer, params: types.DidChangeTextDocumentParams) -> None:
    d = params.text_document
    change_text(ls, d.uri, d.version, params.content_changes)


def did_close(ls: BigCodeServer, params: types.DidCloseTextDocumentParams) -> None:
    close_text(ls, params.text_document.uri)
