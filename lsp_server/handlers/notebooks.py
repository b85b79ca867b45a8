"""LSP notebook sync (`notebookDocument/*`, LSP 3.17; VS Code's Jupyter sends it): cells
become text documents in the store, and the notebook store keeps their order."""

from __future__ import annotations

import logging

from lsprotocol import types

from ..server import BigCodeServer
from .text import change_text, close_text, open_text

log = logging.getLogger("bigcode_ls")


def _cells(cells) -> list[tuple[str, int]]:
    return [(c.document, int(c.kind)) for c in cells or ()]


def did_open_notebook(ls: BigCodeServer, params: types.DidOpenNotebookDocumentParams) -> None:
    nb = params.notebook_document
    for d in params.cell_text_documents:
        open_text(ls, d.uri, d.text, d.version, d.language_id)
    ls.notebooks.open(nb.uri, nb.version, _cells(nb.cells))


def did_change_notebook(ls: BigCodeServer, params: types.DidChangeNotebookDocumentParams) -> None:
    uri = params.notebook_document.uri
    notebook = ls.notebooks.get(uri)
    cells = params.change.cells
    if notebook is None:
        log.warning("notebookDocument/didChange for %s, which is not open; ignored", uri)
        return
    notebook.version = params.notebook_document.version
    if cells is None:
        return
    if cells.structure is not None:
        s = cells.structure
        for d in s.did_open or ():
            open_text(ls, d.uri, d.text, d.version, d.language_id)
        try:
            ls.notebooks.splice(uri, s.array.start, s.array.delete_count, _cells(s.array.cells))
        except ValueError as exc:
            log.error("%s", exc)
        for d in s.did_close or ():
            close_text(ls, d.uri)
    if cells.data:
        ls.notebooks.set_kinds({cell.document: int(cell.kind) for cell in cells.data})
    for content in cells.text_content or ():
        change_text(ls, content.document.uri, content.document.version, content.changes)


def did_close_notebook(ls: BigCodeServer, params: types.DidCloseNotebookDocumentParams) -> None:
    ls.notebooks.close(params.notebook_document.uri)
    for d in params.cell_text_documents:
        close_text(ls, d.uri)


def did_save_notebook(ls: BigCodeServer, params: types.DidSaveNotebookDocumentParams) -> None:
    pass  # cells are kept current by didChange; the .ipynb on disk is not read
