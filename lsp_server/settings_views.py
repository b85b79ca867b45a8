"""The other views of the settings' one definition (`settings.py`): the README table and
the VS Code extension's `contributes.configuration` properties.

`python -m lsp_server.settings_views --markdown` prints the table, `--vscode` the
properties; `--write .` regenerates both in a checkout (`make settings`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path
from typing import Any

from .settings import SECTION, Settings, camel, shown


def markdown_table() -> str:
    rows = ["| setting | default | meaning |", "| --- | --- | --- |"]
    for f in dataclasses.fields(Settings):
        choices = f.metadata["choices"]
        meaning = f.metadata["doc"]
        if choices:
            meaning += " One of " + ", ".join(f"`{c}`" for c in choices) + "."
        rows.append(f"| `{camel(f.name)}` | `{shown(f.default)}` | {meaning} |")
    return "\n".join(rows)


def vscode_properties() -> dict[str, dict]:
    """The extension's `contributes.configuration.properties` for the server settings."""
    out = {}
    for f in dataclasses.fields(Settings):
        prop: dict[str, Any] = {}
        if isinstance(f.default, bool):
            prop["type"] = "boolean"
        elif isinstance(f.default, int | float):
            prop["type"] = "integer" if isinstance(f.default, int) else "number"
        else:
            prop["type"] = "string"
        prop["default"] = "" if f.default is None else f.default
        if f.metadata["choices"]:
            prop["enum"] = list(f.metadata["choices"])
        if f.metadata["bounds"]:
            prop["minimum"], prop["maximum"] = f.metadata["bounds"]
        prop["description"] = f.metadata["doc"]
        out[f"{SECTION}.{camel(f.name)}"] = prop
    return out


def write_views(root: Path) -> None:
    """Regenerate the README table and the VS Code extension's settings in a checkout."""
    readme = root / "README.md"
    text = readme.read_text()
    start = text.index("| setting | default | meaning |")
    end = text.index("\n\n", start)
    readme.write_text(text[:start] + markdown_table() + text[end:])
    package = root / "editors/vscode/package.json"
    data = json.loads(package.read_text())
    props = data["contributes"]["configuration"]["properties"]
    kept = {k: v for k, v in props.items() if k.removeprefix(SECTION + ".") in EXTENSION_KEYS}
    data["contributes"]["configuration"]["properties"] = {**kept, **vscode_properties()}
    package.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    source = root / "editors/vscode/src/settings.ts"
    keys = "".join(f'  "{camel(f.name)}",\n' for f in dataclasses.fields(Settings))
    text = re.sub(
        r"(export const SERVER_KEYS = \[\n).*?(\] as const;)",
        lambda m: m.group(1) + keys + m.group(2),
        source.read_text(),
        flags=re.S,
    )
    source.write_text(text)


EXTENSION_KEYS = ("serverPath", "serverArgs", "languages", "debounceMs")  # the extension's own

if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_table() + "\n")
    elif sys.argv[1:] == ["--vscode"]:
        sys.stdout.write(json.dumps(vscode_properties(), indent=2) + "\n")
    elif sys.argv[1:2] == ["--write"] and len(sys.argv) == 3:
        write_views(Path(sys.argv[2]))
    else:
        sys.exit("usage: python -m lsp_server.settings_views --markdown | --vscode | --write ROOT")
