"""The layering rules of design.md §1, and no pickle loading anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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
        ("fim", {"torch", "pygls", "lsprotocol", "model", "lsp_server", "training"}),
        ("model", {"pygls", "lsprotocol", "lsp_server", "fim", "training"}),
        ("lsp_server", {"torch"}),
        ("training", {"pygls", "lsprotocol", "lsp_server"}),
    ],
)
def test_import_rules(package, forbidden):
    for file, names in imported_modules(package).items():
        assert not names & forbidden, f"{file} imports {names & forbidden}"


def test_only_the_completion_service_and_backends_join_fim_and_model():
    joiners = ("completion.py", "engine.py", "local_backend.py", "remote.py")
    for file, names in imported_modules("lsp_server").items():
        if {"fim", "model"} <= names:
            assert file.endswith(joiners), file


def test_no_pickle_loading_of_checkpoints():
    for package in ("model", "fim", "lsp_server", "training", "bench"):
        for file in (ROOT / package).rglob("*.py"):
            text = file.read_text()
            for bad in ("torch.load(", "pickle.load", "pickle.loads", "weights_only=False"):
                assert bad not in text, f"{file} uses {bad}"


@pytest.mark.parametrize("package", ["model", "fim", "lsp_server"])
def test_functions_and_files_stay_small(package):
    """No function over 60 lines and no file over 400 in the product packages."""
    for file in (ROOT / package).rglob("*.py"):
        text = file.read_text()
        assert text.count("\n") <= 400, f"{file.name} has {text.count(chr(10))} lines"
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                assert length <= 60, f"{file.name}:{node.lineno} {node.name} has {length} lines"
