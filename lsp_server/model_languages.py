"""Which languages a model completes, as LSP language ids: what the clients start for.

The bundled model knows Python only. A checkpoint says so in its model card's front
matter (`programming_language:`, as santacoder's does) or is known by its name; any other
checkpoint, and a remote server, counts as every language ("*"): the user chose it.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from fim.repo_files import read_regular

EVERY = "*"
# Model card spellings -> LSP language ids.
CARD_NAMES = {
    "python": "python",
    "java": "java",
    "javascript": "javascript",
    "typescript": "typescript",
    "go": "go",
    "rust": "rust",
    "c": "c",
    "c++": "cpp",
    "cpp": "cpp",
    "c#": "csharp",
    "ruby": "ruby",
    "php": "php",
    "lua": "lua",
    "shell": "shellscript",
    "sql": "sql",
}
# Checkpoints whose cards do not say (directory names, lower case, as downloaded).
KNOWN = {"tiny_starcoder_py": ("python",), "santacoder": ("python", "java", "javascript")}
CARD_FIELD = re.compile(r"^programming_language:\s*\n((?:\s*-\s*.+\n)+)", re.MULTILINE)


def model_languages(path: str | None, backend: str, demonstration: bool) -> list[str]:
    if demonstration:
        return ["python"]
    if backend != "local" or not path:
        return [EVERY]
    return list(_checkpoint_languages(path))


@functools.lru_cache(maxsize=16)
def _checkpoint_languages(path: str) -> tuple[str, ...]:
    data = read_regular(Path(path) / "README.md", 1 << 16)
    front = data.decode("utf-8", "replace").split("\n---", 1)[0] if data else ""
    m = CARD_FIELD.search(front + "\n")
    if m:
        names = [line.strip().lstrip("-").strip().lower() for line in m.group(1).splitlines()]
        found = tuple(dict.fromkeys(CARD_NAMES[n] for n in names if n in CARD_NAMES))
        if found:
            return found
    name = Path(path).name.lower()
    return next((langs for key, langs in KNOWN.items() if key in name), (EVERY,))
