"""The layering rules (docs/architecture.md): which package may import which, no import
cycle among the library's modules, small files and functions, and no pickle loading."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ("model", "fim", "lsp_server", "training", "cli")  # all but tests/ and bench/


def imported_modules(package: str) -> dict[str, set[str]]:
    found = {}
    for file in (ROOT / package).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[str(file.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize(
    "package, forbidden",
    [
        ("fim", {"torch", "pygls", "lsprotocol", "model", "lsp_server", "training", "cli"}),
        ("model", {"pygls", "lsprotocol", "lsp_server", "fim", "training", "cli"}),
        ("lsp_server", {"torch", "training"}),
        ("training", {"pygls", "lsprotocol", "lsp_server", "cli"}),
    ],
)
def test_import_rules(package, forbidden):
    for file, names in imported_modules(package).items():
        if file == "lsp_server/__main__.py":  # `python -m lsp_server` is the command line
            names = names - {"cli"}
        assert not names & forbidden, f"{file} imports {names & forbidden}"


def test_only_the_backends_join_fim_and_model():
    """The server reaches the model through its backends, and plans with fim elsewhere."""
    for file, names in imported_modules("lsp_server").items():
        if {"fim", "model"} <= names:
            assert file.startswith("lsp_server/backends/"), file


# --- import cycles -------------------------------------------------------------------


def module_name(file: Path, root: Path = ROOT) -> str:
    parts = list(file.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == (
        "TYPE_CHECKING"
    )


def imports_of(file: Path, modules: set[str], root: Path = ROOT) -> set[str]:
    """The library modules `file` imports, at any depth (lazy imports in functions
    included), except under `if TYPE_CHECKING:`; `from a import b` counts `a.b` when
    that is a module, else `a`."""
    name = module_name(file, root)
    package = name if file.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(file.read_text()))
    resolved = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def import_graph() -> dict[str, set[str]]:
    files = {module_name(f): f for package in LIBRARY for f in (ROOT / package).rglob("*.py")}
    return {name: imports_of(file, set(files)) for name, file in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_sees_lazy_imports_and_skips_type_checking(tmp_path):
    file = tmp_path / "pkg" / "a.py"
    file.parent.mkdir()
    file.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .b import B\n"
        "def f():\n    from .c import g\n    from . import d\n"
    )
    found = imports_of(file, {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}, tmp_path)
    assert found == {"pkg.c", "pkg.d", "pkg"}


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# --- size and safety -----------------------------------------------------------------


def test_no_pickle_loading_of_checkpoints():
    for package in (*LIBRARY, "bench"):
        for file in (ROOT / package).rglob("*.py"):
            text = file.read_text()
            for bad in ("torch.load(", "pickle.load", "pickle.loads", "weights_only=False"):
                assert bad not in text, f"{file} uses {bad}"


@pytest.mark.parametrize("package", LIBRARY)
def test_functions_and_files_stay_small(package):
    """No function over 60 lines and no file over 400 in the library packages."""
    for file in (ROOT / package).rglob("*.py"):
        text = file.read_text()
        assert text.count("\n") <= 400, f"{file.name} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"{file.name}:{node.lineno} {node.name} has {length} lines"
