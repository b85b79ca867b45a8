"""Names imported that do not exist: `from module import ` lines of held-out code, cut
after `import `, completed with `staticAnalysis` off and on (the server's defaults
otherwise, in process, one request per hole with its file read ahead as on a didOpen).

Holes: every `from ... import name[, name]` line (not parenthesised, not `*`) among the
whole-line holes of the held-out stdlib files and of the held-out packages (seed 0, the
draws bench.quality and bench.repo_quality use), the package's folder as the workspace.
For each suggestion shown, each name it imports is checked against what Jedi lists after
`import ` (without a time limit); a module Jedi does not know is not counted. Also: exact match of the rest of the line, shown, wrong
in the first ten characters.

    python -m bench.import_names [--per-set 150] [--json docs/results/import_names.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sysconfig
from dataclasses import replace
from pathlib import Path

from bench.repo_quality import package_holes, unpack
from fim.holes import line_holes, score
from lsp_server.analysis import Analysis
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.repo_context import RepoContext
from lsp_server.settings import Settings
from lsp_server.workspace import WorkspaceIndex
from model.progress import Progress
from training.corpus import load_split

FROM = re.compile(r"from\s+[\w.]+\s+import\s+")
QUESTIONS = itertools.count()  # (an object's id may be reused once it is freed)
IMPORTED = re.compile(r"([A-Za-z_]\w*)(?:\s+as\s+\w+)?\s*(?:,|$)")


def import_holes(holes: list[dict], n: int) -> list[dict]:
    """The holes whose line imports names from a module, cut after `import `."""
    out = []
    for h in holes:
        m = FROM.match(h["target"])
        if m is None or "(" in h["target"] or "*" in h["target"] or "#" in h["target"]:
            continue
        cut = m.end()
        out.append(
            h | {"prefix": h["prefix"] + h["target"][:cut], "target": h["target"][cut:].strip()}
        )
    return out[:n]


def stdlib_set(n: int) -> list[dict]:
    root = Path(sysconfig.get_paths()["stdlib"])
    holes = import_holes(line_holes(load_split("heldout"), 100_000, seed=0), n)
    return [h | {"path": root / h["file"], "root": None} for h in holes]


def package_sets(wheels: Path, workspaces: Path, n: int) -> list[tuple[Path, list[dict]]]:
    """Each held-out package's folder, and its holes."""
    out = []
    for folder in unpack(wheels, workspaces):
        holes = import_holes(package_holes(folder, 100_000, seed=0), n)
        out.append((folder, [h | {"root": folder} for h in holes]))
    return out


def missing_names(checker: Analysis, h: dict, text: str) -> tuple[int, list[str]]:
    """(names imported whose module Jedi knows, those of them it does not list). Jedi is
    asked after `import ` with nothing after it on the line: it leaves out of its list the
    names a statement imports already."""
    code = h["prefix"] + h["suffix"]
    row = code.count("\n", 0, len(h["prefix"])) + 1
    col = len(h["prefix"]) - (h["prefix"].rfind("\n") + 1)
    key = f"import@{next(QUESTIONS)}"  # a fresh question: the answer is this document's
    names = checker.attributes(code, row, col, key, str(h["path"]), h["root"], 120)
    if not names:
        return 0, []
    imported = IMPORTED.findall(text)
    return len(imported), [name for name in imported if name not in names]


def run(service: CompletionService, holes: list[dict], checker: Analysis, bar) -> dict:
    exact = shown = wrong10 = known = 0
    missing: list[tuple[str, str]] = []
    for i, h in enumerate(holes):
        uri = Path(h["path"]).as_uri()
        warm = service.read_ahead(uri, h["prefix"] + h["suffix"])
        if warm is not None:
            warm.result()
        done = service.complete_now(CompletionRequest(uri, i, h["prefix"], h["suffix"], h["file"]))
        service.close(uri)
        text = done.text.split("\n", 1)[0]
        hit, first10 = score(text, h["target"])
        exact += hit
        if text.strip():
            shown += 1
            wrong10 += not first10
            k, gone = missing_names(checker, h, text)
            known += k
            missing += [(h["target"], name) for name in gone]
        bar.update(1)
    return {
        "holes": len(holes),
        "exact": exact,
        "shown": shown,
        "wrong_first10_shown": wrong10,
        "names_known": known,
        "names_not_existing": len(missing),
        "examples": missing[:20],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-set", type=int, default=150, help="holes per set (at most)")
    p.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    p.add_argument("--workspaces", type=Path, default=Path("runs/repos"))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=Path("docs/results/import_names.json"))
    args = p.parse_args(argv)
    sets = {
        "stdlib": [(None, stdlib_set(args.per_set))],
        "packages": package_sets(args.wheels, args.workspaces, args.per_set // 5),
    }
    index = WorkspaceIndex()
    service = CompletionService(
        Settings(multiline="single", precompute=False, threads=args.threads), RepoContext(index)
    )
    service.load().result()
    checker = Analysis()
    out: dict = {"model": service.backend.description}
    for on in (False, True):
        service.settings = replace(service.settings, static_analysis=on)
        for name, groups in sets.items():
            label = f"{name}, staticAnalysis {'on' if on else 'off'}"
            bar = Progress(sum(len(holes) for _, holes in groups), label)
            results = []
            for folder, holes in groups:
                index.set_folders([folder] if folder else []).result()
                results.append(run(service, holes, checker, bar))
            bar.close()
            out[label] = {k: sum(r[k] for r in results) for k in results[0] if k != "examples"}
            out[label]["examples"] = [e for r in results for e in r["examples"]][:20]
            print(label, json.dumps({k: v for k, v in out[label].items() if k != "examples"}))
    service.shutdown(wait_s=5)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
