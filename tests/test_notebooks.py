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
    s.set_kinds({"e": 1})
    prefix, _ = s.surround("c", "", "", {**TEXTS, "e": "hidden"}.get, 10_000)
    assert "hidden" not in prefix
    with pytest.raises(ValueError):
        s.splice("nb", 9, 0, [])
    assert s.close("nb") == ["a", "e", "c", "d"] and s.notebook_of("a") is None


def test_a_plain_document_is_left_alone():
    assert store().surround("elsewhere", "p", "s", TEXTS.get, 100) == ("p", "s")


def test_restating_ten_thousand_cells_kinds_is_one_pass():
    import threading

    s = NotebookStore()
    cells = [(f"cell{i}", 2) for i in range(10_000)]
    s.open("nb", 1, cells)
    done = threading.Event()
    kinds = {c: 1 if i % 2 else 2 for i, (c, _) in enumerate(cells)}
    threading.Thread(target=lambda: (s.set_kinds(kinds), done.set()), daemon=True).start()
    assert done.wait(5)  # was O(cells) per cell: 14 s on the event loop
    assert s.get("nb").cells[1] == ("cell1", 1) and s.get("nb").cells[2] == ("cell2", 2)


def test_closing_one_of_two_notebooks_that_list_a_cell_keeps_it_in_the_other():
    s = NotebookStore()
    s.open("nb1", 1, [("shared", 2), ("a", 2)])
    s.open("nb2", 1, [("shared", 2), ("b", 2)])  # the cell now belongs to nb2
    s.close("nb1")
    assert s.notebook_of("shared") is not None and s.notebook_of("shared").uri == "nb2"
