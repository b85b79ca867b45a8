"""`textDocument/copilotInlineEdit`: the edit the user will make next, as Copilot's
language server shapes it, so its clients work as they are.

Params `{textDocument: {uri, version}, position}`; result `{edits: [{text, range,
textDocument: {uri, version}}]}`, ranked, `[]` when nothing is worth proposing (the common
case) or the version is stale. The predictors (`fim.next_edits`) run on a thread of the
loop's executor, never on the event loop, and never wait for the model.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import PurePosixPath
from typing import Any

from fim.next_edit_prompt import REGION_END, region_edits, zeta_prompt
from fim.next_edits import Proposal, propose

from ..backends.remote.next_edit import rewrite
from ..completion.monitoring import PYTHON
from ..rpc.wire import field_of
from ..server import BigCodeServer
from ..workspace import uri_to_path
from .suggest import file_label

log = logging.getLogger("bigcode_ls")

INLINE_EDIT_METHOD = "textDocument/copilotInlineEdit"
MAX_CHARS = 1 << 20  # larger files get no proposals


def module_of(label: str) -> str | None:
    """`folder/pkg/mod.py` (an index label) -> `pkg.mod`; a package's `__init__` -> `pkg`."""
    parts = PurePosixPath(label).with_suffix("").parts[1:]
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


async def inline_edit(ls: BigCodeServer, params: Any) -> dict:
    document = field_of(params, "textDocument", object)
    uri = field_of(document, "uri", str) if document is not None else None
    version = field_of(document, "version", int) if document is not None else None
    doc = ls.documents.get(uri) if uri else None
    edit = ls.edits.last(uri) if uri else None
    if doc is None or edit is None or not uri.endswith(PYTHON) or len(doc) > MAX_CHARS:
        return {"edits": []}
    if version is not None and version != doc.version:
        return {"edits": []}  # the client is behind: whatever we propose is stale
    text, at_version = doc.text, doc.version
    path = uri_to_path(uri)
    corpus, own = ls.index.snapshot(), ls.index.label_of(path) if path else ""

    def defined_in(name: str) -> str | None:
        found = corpus.definition(name, exclude=own)
        return module_of(found.path) if found is not None else None

    loop = asyncio.get_running_loop()
    proposals = await loop.run_in_executor(None, propose, text, edit, defined_in)
    if not proposals and ls.settings.next_edit_model == "zeta" and ls.settings.backend != "local":
        cursor = edit.start + len(edit.new)
        proposals = await loop.run_in_executor(
            None, _ask_model, ls.settings, uri, text, cursor, edit
        )
    if doc.version != at_version or ls.documents.get(uri) is not doc:
        return {"edits": []}
    return {"edits": [_as_lsp(ls, doc, uri, p) for p in proposals]}


def _ask_model(settings, uri: str, text: str, cursor: int, edit) -> list[Proposal]:
    """The remote next-edit model's proposals (none when it fails: logged)."""
    prompt = zeta_prompt(file_label(uri), text, cursor, edit)
    try:
        answer = rewrite(settings, prompt.prompt, [REGION_END])
    except Exception as exc:  # a server down or refusing: the built-in predictors stand
        log.warning("the next-edit model did not answer: %s", exc)
        return []
    return region_edits(text, prompt, answer + REGION_END)


def _as_lsp(ls: BigCodeServer, doc, uri: str, p: Proposal) -> dict:
    (a_line, a_char), (b_line, b_char) = (doc.position_at(o, ls.encoding) for o in (p.start, p.end))
    return {
        "text": p.text,
        "range": {
            "start": {"line": a_line, "character": a_char},
            "end": {"line": b_line, "character": b_char},
        },
        "textDocument": {"uri": uri, "version": doc.version},
    }
