"""The bundled model's corpus: the Python standard library shipped with the interpreter
and, from v2, the pinned permissively licensed packages of `training/packages.py`.

Stdlib files are split into train and held-out by a hash of their path relative to the
stdlib root, so the split is the same on every machine and never depends on file order;
packages are held out whole. Long files are cut at line boundaries into chunks of about
`chunk_chars`, so that a FIM example (prefix, middle and suffix of one chunk) fits in a
training window.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import lzma
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from . import packages as pkgs

HELDOUT_PERCENT = 5
MAX_FILE_BYTES = 1 << 20
STDLIB = "stdlib"


@dataclass(frozen=True)
class SourceFile:
    relpath: str
    text: str
    origin: str = STDLIB  # "stdlib" or the package's name

    @property
    def split(self) -> str:
        if self.origin == STDLIB:
            return split_of(self.relpath)
        return pkgs.split_of_package(self.origin)


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


def iter_packages(
    wheels: Path, packages: tuple[pkgs.Package, ...] = pkgs.PACKAGES
) -> Iterator[SourceFile]:
    """The source files of the pinned packages, from wheels already in `wheels`.

    Refuses a package that is reserved, missing, or whose wheel declares no permissive
    licence: the corpus must be exactly what the manifest says."""
    for p in packages:
        if p.name.lower() in pkgs.EXCLUDED:
            raise ValueError(f"{p.name} is reserved for an outside evaluation")
        wheel = pkgs.find_wheel(p, wheels)
        if wheel is None:
            raise FileNotFoundError(f"no wheel for {p.name}=={p.version} in {wheels}")
        with zipfile.ZipFile(wheel) as z:
            declared = pkgs.wheel_licence(z)
        if not pkgs.is_permissive(declared or p.licence):
            raise ValueError(f"{p.name}: licence {declared!r} is not permissive")
        for relpath, text in pkgs.iter_wheel_sources(p, wheel):
            yield SourceFile(relpath, text, origin=p.name)


def load_split(
    split: str,
    root: Path | None = None,
    wheels: Path | None = None,
    packages: tuple[pkgs.Package, ...] = pkgs.PACKAGES,
) -> list[SourceFile]:
    """One split of the stdlib, plus that split of the packages when `wheels` is given."""
    files = [f for f in iter_stdlib(root) if f.split == split]
    if wheels is not None:
        files += [f for f in iter_packages(wheels, packages) if f.split == split]
    return files


# A corpus pack: the corpus as one xz-compressed JSON-lines file (a header, then one
# {relpath, origin, text} per file, every split), so that a run can train on a machine
# with neither this interpreter's stdlib nor the wheels (a GPU box with no network).


def write_pack(path: Path, corpus: str, files: Iterator[SourceFile]) -> int:
    """Write `files` as a pack; returns how many."""
    n = 0
    with lzma.open(path, "wt", encoding="utf-8", preset=6) as out:
        out.write(json.dumps({"corpus": corpus, "format": 1}) + "\n")
        for f in files:
            out.write(json.dumps({"relpath": f.relpath, "origin": f.origin, "text": f.text}))
            out.write("\n")
            n += 1
    return n


def read_pack(path: Path) -> tuple[str, list[SourceFile]]:
    """(corpus name, files) of a pack. Plain JSON: nothing in it is executed."""
    with lzma.open(path, "rt", encoding="utf-8") as src:
        header = json.loads(src.readline())
        if header.get("format") != 1:
            raise ValueError(f"{path}: not a corpus pack (format {header.get('format')!r})")
        files = [SourceFile(**json.loads(line)) for line in src]
    for f in files:
        if f.origin.lower() in pkgs.EXCLUDED:
            raise ValueError(f"{path}: holds {f.origin}, which is reserved")
    return header["corpus"], files


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


def manifest(
    wheels: Path | None = None,
    root: Path | None = None,
    packages: tuple[pkgs.Package, ...] = pkgs.PACKAGES,
) -> dict:
    """What the corpus holds: stdlib file lists by split, and per package its pinned
    version, declared licence, split and size."""
    stdlib = list(iter_stdlib(root))
    out: dict = {
        "stdlib": {
            "source": "Python standard library (PSF licence)",
            "heldout_rule": f"sha256(relpath)[:8] % 100 < {HELDOUT_PERCENT}",
            "train": [f.relpath for f in stdlib if f.split == "train"],
            "heldout": [f.relpath for f in stdlib if f.split == "heldout"],
        },
        # The reserved packages are enforced in training/packages.py and its tests, and
        # are deliberately not named here: the manifest lists only what the corpus holds.
        "packages": [],
    }
    if wheels is None:
        return out
    sizes: dict[str, list[int]] = {}
    for f in iter_packages(wheels, packages):
        sizes.setdefault(f.origin, []).append(len(f.text))
    for p in packages:
        wheel = pkgs.find_wheel(p, wheels)
        with zipfile.ZipFile(wheel) as z:
            declared = pkgs.wheel_licence(z)
        out["packages"].append(
            {
                "name": p.name,
                "version": p.version,
                "licence": p.licence,
                "declared": declared,
                "split": pkgs.split_of_package(p.name),
                "files": len(sizes.get(p.name, [])),
                "chars": sum(sizes.get(p.name, [])),
            }
        )
    return out


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(
        description="write the corpus manifest (files, licences), or pack the corpus"
    )
    p.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    p.add_argument("--out", type=Path, default=Path("docs/corpus_manifest.json"))
    p.add_argument("--corpus", default="stdlib+packages", choices=list(pkgs.CORPORA))
    p.add_argument("--pack", type=Path, default=None, help="write the corpus to this .jsonl.xz")
    args = p.parse_args()
    chosen = pkgs.packages_of(args.corpus)
    pkgs.fetch(args.wheels, chosen)
    if args.pack:
        files = iter_stdlib()
        if chosen:
            files = itertools.chain(files, iter_packages(args.wheels, chosen))
        print(f"packed {write_pack(args.pack, args.corpus, files)} files into {args.pack}")
    else:
        out = manifest(args.wheels, packages=chosen)
        args.out.write_text(json.dumps(out, indent=1) + "\n")
