"""The bundled model's corpus: the Python standard library shipped with the interpreter.

Files are split into train and held-out by a hash of their path relative to the stdlib
root, so the split is the same on every machine and never depends on file order. Long
files are cut at line boundaries into chunks of about `chunk_chars`, so that a FIM
example (prefix, middle and suffix of one chunk) fits in a training window.
"""

from __future__ import annotations

import hashlib
import json
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

HELDOUT_PERCENT = 5
MAX_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class SourceFile:
    relpath: str
    text: str

    @property
    def split(self) -> str:
        return split_of(self.relpath)


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def split_of(relpath: str) -> str:
    h = int(hashlib.sha256(relpath.encode()).hexdigest()[:8], 16)
    return "heldout" if h % 100 < HELDOUT_PERCENT else "train"


def iter_stdlib(root: Path | None = None) -> Iterator[SourceFile]:
    """Every readable UTF-8 `.py` file of the stdlib, outside site-packages, sorted by path."""
    root = root or stdlib_root()
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "site-packages" in rel.split("/") or "dist-packages" in rel.split("/"):
            continue
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                continue
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text.strip():
            yield SourceFile(rel, text.replace("\r\n", "\n"))


def load_split(split: str, root: Path | None = None) -> list[SourceFile]:
    return [f for f in iter_stdlib(root) if f.split == split]


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut at line boundaries into pieces of at most ~chunk_chars (a longer line stays whole)."""
    chunks, current, size = [], [], 0
    for line in text.splitlines(keepends=True):
        if current and size + len(line) > chunk_chars:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line)
    if current:
        chunks.append("".join(current))
    return chunks


def write_manifest(path: Path, root: Path | None = None) -> dict:
    files = list(iter_stdlib(root))
    manifest = {
        "source": "Python standard library (PSF licence)",
        "heldout_rule": f"sha256(relpath)[:8] % 100 < {HELDOUT_PERCENT}",
        "train": [f.relpath for f in files if f.split == "train"],
        "heldout": [f.relpath for f in files if f.split == "heldout"],
    }
    path.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest
