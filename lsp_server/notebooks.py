"""Notebooks (LSP `notebookDocument/*`): which cells a notebook has, in order, and the
text around a cursor in one cell as the model should see it.

Each cell is a text document of its own (kept in the document store like any other);
this module only knows the order and kind of the cells. A completion in a code cell
sees the notebook's earlier code cells as prefix and its later ones as suffix, each
cell headed by a `# %%` line: the "percent" format of Jupytext, VS Code's interactive
window and Spyder, which is how notebooks appear in the Python code models learn from.
Markdown cells are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

CODE = 2  # lsprotocol's NotebookCellKind.Code (Markup is 1)
CELL_MARKER = "# %%\n"


@dataclass
class Notebook:
    uri: str
    version: int
    cells: list[tuple[str, int]] = field(default_factory=list)  # (cell uri, kind) in order


class NotebookStore:
    def __init__(self) -> None:
        self._notebooks: dict[str, Notebook] = {}
        self._owner: dict[str, str] = {}  # cell uri -> notebook uri

    def __len__(self) -> int:
        return len(self._notebooks)

    def open(self, uri: str, version: int, cells: list[tuple[str, int]]) -> None:
        self.close(uri)
        self._notebooks[uri] = Notebook(uri, version, list(cells))
        for cell, _ in cells:
            self._owner[cell] = uri

    def close(self, uri: str) -> list[str]:
        """Forget a notebook; returns its cells' URIs."""
        notebook = self._notebooks.pop(uri, None)
        if notebook is None:
            return []
        for cell, _ in notebook.cells:
            if self._owner.get(cell) == uri:  # a cell another notebook lists stays its own
                del self._owner[cell]
        return [cell for cell, _ in notebook.cells]

    def get(self, uri: str) -> Notebook | None:
        return self._notebooks.get(uri)

    def splice(self, uri: str, start: int, delete: int, cells: list[tuple[str, int]]) -> None:
        """A structure change: `delete` cells from `start` replaced by `cells`."""
        notebook = self._notebooks.get(uri)
        if notebook is None or not 0 <= start <= len(notebook.cells) or delete < 0:
            raise ValueError(f"bad cell change for {uri}: start {start}, delete {delete}")
        for cell, _ in notebook.cells[start : start + delete]:
            if self._owner.get(cell) == uri:
                del self._owner[cell]
        notebook.cells[start : start + delete] = cells
        for cell, _ in cells:
            self._owner[cell] = uri

    def set_kinds(self, kinds: dict[str, int]) -> None:
        """New kinds for cells (URI -> kind): one pass over each notebook they are in."""
        by_notebook: dict[str, dict[str, int]] = {}
        for cell, kind in kinds.items():
            owner = self._owner.get(cell)
            if owner is not None:
                by_notebook.setdefault(owner, {})[cell] = kind
        for uri, changes in by_notebook.items():
            notebook = self._notebooks[uri]
            notebook.cells = [(c, changes.get(c, k)) for c, k in notebook.cells]

    def notebook_of(self, cell: str) -> Notebook | None:
        return self._notebooks.get(self._owner.get(cell, ""))

    def surround(
        self,
        cell: str,
        prefix: str,
        suffix: str,
        text_of: Callable[[str], str | None],
        window: int,
    ) -> tuple[str, str]:
        """(prefix, suffix) for a cursor in `cell`, between `prefix` and `suffix` of that
        cell: the other code cells around them, each headed by `# %%`, each side within
        `window` characters. Whole cells are dropped, farthest first, so that the text
        before the cursor does not slide while the user types (the KV cache's rule)."""
        notebook = self.notebook_of(cell)
        if notebook is None:
            return prefix, suffix
        uris = [c for c, kind in notebook.cells if kind == CODE or c == cell]
        if cell not in uris:
            return prefix, suffix
        at = uris.index(cell)
        before = _fitting(
            [CELL_MARKER + _block(text_of(c)) for c in reversed(uris[:at])],
            window - len(prefix) - len(CELL_MARKER),
        )
        after = _fitting(
            [CELL_MARKER + _block(text_of(c)) for c in uris[at + 1 :]], window - len(suffix) - 2
        )
        prefix = "".join(reversed(before)) + CELL_MARKER + prefix
        if after:
            suffix = suffix.rstrip("\n") + "\n\n" + "".join(after)
        return prefix, suffix


def _fitting(blocks: list[str], room: int) -> list[str]:
    """The leading blocks whose total length fits `room`."""
    kept = []
    for block in blocks:
        room -= len(block)
        if room < 0:
            break
        kept.append(block)
    return kept


def _block(text: str | None) -> str:
    """A cell's text as a block: ends with one blank line."""
    return (text or "").rstrip("\n") + "\n\n"
