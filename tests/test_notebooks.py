"""The notebook store: cell order, structure changes, and the text around a cursor."""

from __future__ import annotations

import pytest

from lsp_server.notebooks import NotebookStore

TEXTS = {"a": "import math\n", "b": "# Title", "c": "def f(r):\n    return ", "d": "f(2)\n"}


def store() -> NotebookStore:
    s = NotebookStore()
    s.open("nb", 1, [("a", 2), ("b", 1), ("c", 2), ("d", 2)])
    return s


def test_code_cells_around_the_cursor_with_markers_and_no_markdown():
    prefix, suffix = store().surround("c", "def f(r):\n    return ", "", TEXTS.get, 10_000)
    assert prefix == "# %%\nimport math\n\n# %%\ndef f(r):\n    return "
    assert suffix == "\n\n# %%\nf(2)\n\n"
    assert "Title" not in prefix + suffix


def test_far_cells_drop_whole_so_the_prefix_does_not_slide():
    texts = {**TEXTS, "a": "x = 1\n" * 50}
    s = store()
    short, _ = s.surround("c", "def f(r):\n    return ", "", texts.get, 100)
    assert short == "# %%\ndef f(r):\n    return "  # the long first cell does not fit
    longer, _ = s.surround("c", "def f(r):\n    return 1", "", texts.get, 100)
    assert longer.startswith(short)  # typing appends: the KV cache still holds


def test_structure_changes_and_kinds():
    s = store()
    s.splice("nb", 1, 1, [("e", 2)])  # the markdown cell replaced by code
    assert [c for c, _ in s.get("nb").cells] == ["a", "e", "c", "d"]
    assert s.notebook_of("b") is None and s.notebook_of("e").uri == "nb"
    s.set_kind("e", 1)
    prefix, _ = s.surround("c", "", "", {**TEXTS, "e": "hidden"}.get, 10_000)
    assert "hidden" not in prefix
    with pytest.raises(ValueError):
        s.splice("nb", 9, 0, [])
    assert s.close("nb") == ["a", "e", "c", "d"] and s.notebook_of("a") is None


def test_a_plain_document_is_left_alone():
    assert store().surround("elsewhere", "p", "s", TEXTS.get, 100) == ("p", "s")
