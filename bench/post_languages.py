"""Post-processing in languages other than Python, on recorded outputs of a model that
writes the right code and does not stop: where do the rules end the suggestion?

    python -m bench.post_languages --collect   # writes the holes down (before scoring)
    python -m bench.post_languages --score     # Python's rules for every file vs per language

The code is held out (never trained on): JavaScript from the permissively licensed packages
that code-server installs (MIT, ISC, BSD, Apache), C++ from llama.cpp (MIT), both already on this machine. A hole
is a block of at most 14 lines opened by a line ending in `{`, cut two ways: its body and
its closing line (someone writing a new function), or its body alone (the `}` already
below the cursor). The recorded output is the true text from the cursor on: the hole,
then everything after it. The right suggestion is exactly the hole.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

from fim.languages import language_of
from fim.postprocess import PostOptions, finish_text

SOURCES = {
    "javascript": (Path.home() / ".cache/bigcode-ls/code-server/node_modules", "*.js"),
    "cpp": (Path.home() / ".cache/bigcode-ls/llama.cpp-11434.0.0", "src/*.cpp"),
}
PERMISSIVE = {"MIT", "ISC", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "0BSD"}
HOLES = Path("docs/results/post_languages_holes.json")
MAX_BLOCK_LINES = 14
PER_LANGUAGE = 120  # blocks; each gives two holes


def _files(language: str) -> list[Path]:
    root, pattern = SOURCES[language]
    if language == "javascript":
        packages = [
            d for d in root.iterdir() if d.name != "code-server" and _licence(d) in PERMISSIVE
        ]
        found = [p for d in packages for p in d.glob("lib/**/" + pattern)]
        found += [p for d in packages for p in d.glob(pattern)]
        found = [p for p in found if ".min." not in p.name]
    else:
        found = list(root.glob("src/*/llama.cpp/" + pattern))
    return sorted(p for p in found if p.is_file() and 2_000 < p.stat().st_size < 200_000)


def _licence(package: Path) -> str:
    try:
        return str(json.loads((package / "package.json").read_text()).get("license"))
    except (OSError, ValueError):
        return ""


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """(opener line, closer line) of blocks whose closer sits at the opener's indentation."""
    out = []
    for i, line in enumerate(lines):
        if not line.rstrip().endswith("{") or line.lstrip().startswith(("//", "*", "/*")):
            continue
        indent = line[: len(line) - len(line.lstrip())]
        for j in range(i + 2, min(len(lines), i + MAX_BLOCK_LINES + 2)):
            if lines[j].startswith(indent + "}"):
                out.append((i, j))
                break
            if (
                lines[j].strip()
                and not lines[j].startswith(indent + " ")
                and not lines[j].startswith(indent + "\t")
            ):
                break
    return out


def collect(seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    holes = []
    for language in SOURCES:
        candidates = []
        for path in _files(language):
            lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
            candidates += [(str(path), i, j) for i, j in _blocks(lines)]
        for path, i, j in sorted(rng.sample(candidates, min(PER_LANGUAGE, len(candidates)))):
            for kind in ("body+closer", "body"):
                holes.append(
                    {"language": language, "path": path, "opener": i, "closer": j, "kind": kind}
                )
    return holes


def _hole(h: dict) -> tuple[str, str, str]:
    """(prefix, suffix, target) of a hole written down by `collect`."""
    lines = Path(h["path"]).read_text(encoding="utf-8", errors="replace").split("\n")
    i, j = h["opener"], h["closer"]
    prefix = "\n".join(lines[: i + 1])
    last = j if h["kind"] == "body+closer" else j - 1
    target = "\n" + "\n".join(lines[i + 1 : last + 1])
    suffix = "\n" + "\n".join(lines[last + 1 :])
    return prefix[-6000:], suffix[:4000], target


def score(holes: list[dict]) -> dict:
    out: dict = {}
    for h in holes:
        prefix, suffix, target = _hole(h)
        output = (target + suffix)[:3000]  # the model writes on past the hole
        for rules in ("python rules", "per language"):
            name = "python" if rules == "python rules" else language_of(h["path"]).name
            got = finish_text(output, prefix, suffix, PostOptions(language=name))[0]
            row = out.setdefault(f"{h['language']} {h['kind']}", {}).setdefault(
                rules, {"holes": 0, "exact": 0, "short": 0, "long": 0, "other": 0}
            )
            row["holes"] += 1
            want = target.rstrip()
            if got.rstrip() == want:
                row["exact"] += 1
            elif want.startswith(got.rstrip()):
                row["short"] += 1
            elif got.startswith(want):
                row["long"] += 1
            else:
                row["other"] += 1
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--collect", action="store_true")
    p.add_argument("--score", action="store_true")
    p.add_argument("--json", type=Path, default=Path("docs/results/post_languages.json"))
    args = p.parse_args(argv)
    if args.collect:
        holes = collect()
        HOLES.write_text(json.dumps(holes, indent=0) + "\n")
        print(f"{len(holes)} holes written to {HOLES}")
    if args.score:
        result = score(json.loads(HOLES.read_text()))
        args.json.write_text(json.dumps(result, indent=1) + "\n")
        for case, rows in result.items():
            for rules, r in rows.items():
                print(
                    f"{case:24} {rules:13} exact {r['exact']}/{r['holes']}  short {r['short']}  long {r['long']}  other {r['other']}"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
