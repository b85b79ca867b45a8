"""Exact checks of the params the server reads, before pygls structures them.

cattrs, under lsprotocol's converter, is lenient where it matters: a `null` or numeric
`text` becomes the string "None" or "3.25" inserted into the document, a fractional
`character` lands somewhere, a `null` version is taken. Here each parameter the server
reads must have its LSP type exactly (integers within LSP's `uinteger`), or the message
is refused with InvalidParams and changes nothing.
"""

from __future__ import annotations

from typing import Any

UINTEGER_MAX = 2**31 - 1


def _int(value: Any, name: str, nullable: bool = False) -> str | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{name} must be an integer, got {type(value).__name__}"
    if not -(2**31) <= value <= UINTEGER_MAX:
        return f"{name} {value} is out of range"
    return None


def _uint(value: Any, name: str) -> str | None:
    problem = _int(value, name)
    if problem is None and value < 0:
        return f"{name} must not be negative"
    return problem


def _str(value: Any, name: str) -> str | None:
    return None if isinstance(value, str) else f"{name} must be a string"


def _obj(value: Any, name: str) -> str | None:
    return None if isinstance(value, dict) else f"{name} must be an object"


def _position(value: Any, name: str) -> str | None:
    return (
        _obj(value, name)
        or _uint(value.get("line"), f"{name}.line")
        or _uint(value.get("character"), f"{name}.character")
    )


def _range(value: Any, name: str) -> str | None:
    return (
        _obj(value, name)
        or _position(value.get("start"), f"{name}.start")
        or _position(value.get("end"), f"{name}.end")
    )


def _document(params: dict, *, version: bool = False) -> str | None:
    doc = params.get("textDocument")
    problem = _obj(doc, "textDocument") or _str(doc.get("uri"), "textDocument.uri")
    if problem is None and version:
        problem = _int(doc.get("version"), "textDocument.version")
    return problem


def _did_open(params: dict) -> str | None:
    doc = params.get("textDocument")
    return (
        _obj(doc, "textDocument")
        or _str(doc.get("uri"), "textDocument.uri")
        or _str(doc.get("languageId", ""), "textDocument.languageId")
        or _int(doc.get("version"), "textDocument.version")
        or _str(doc.get("text"), "textDocument.text")
    )


def _did_change(params: dict) -> str | None:
    problem = _document(params, version=True)
    if problem:
        return problem
    changes = params.get("contentChanges")
    if not isinstance(changes, list):
        return "contentChanges must be an array"
    for i, change in enumerate(changes):
        name = f"contentChanges[{i}]"
        problem = _obj(change, name) or _str(change.get("text"), f"{name}.text")
        if problem is None and "range" in change:
            problem = _range(change["range"], f"{name}.range")
        if problem:
            return problem
    return None


def _at_position(params: dict) -> str | None:
    return _document(params) or _position(params.get("position"), "position")


def _status(params: Any) -> str | None:
    if params is None or params == []:  # Neovim encodes an empty table `{}` as `[]`
        return None
    if not isinstance(params, dict):
        return "params must be an object"
    uri = params.get("uri")
    return None if uri is None or isinstance(uri, str) else "uri must be a string"


CHECKS = {
    "textDocument/didOpen": _did_open,
    "textDocument/didChange": _did_change,
    "textDocument/didClose": _document,
    "textDocument/inlineCompletion": _at_position,
    "textDocument/completion": _at_position,
}


def check_params(method: str, params: Any) -> str | None:
    """Why `params` are not acceptable for `method`, or None."""
    if params is not None and not isinstance(params, dict | list):
        return "params must be an object or an array"
    if method == "bigcode/status":
        return _status(params)
    check = CHECKS.get(method)
    if check is None:
        return None
    if not isinstance(params, dict):
        return "params must be an object"
    return check(params)


def field_of(params: Any, name: str, kind: type) -> Any:
    """A field of a custom notification's params (a dict or pygls' object), or None
    when it is missing or of the wrong type."""
    value = params.get(name) if isinstance(params, dict) else getattr(params, name, None)
    if kind is int and isinstance(value, bool):
        return None
    return value if isinstance(value, kind) else None
