"""Benchmark 4, repository quality: does the rest of the project make suggestions right?

Whole-line holes in the files of real, permissively licensed packages that the bundled
model never trained on (the corpus' held-out packages, training/packages.py HELDOUT),
with the package's folder as the workspace, driven through the real server over stdio.
Each hole's file is opened with the line's code removed, one inline completion is asked
at the line's indentation, and the document is closed again. Server runs:

    off      repoContext false, dropEchoes false   (the product before this change)
    off+echo repoContext false, dropEchoes true
    on       repoContext true,  dropEchoes true    (the defaults of session 7)
    off+lines  as off+echo, with lineCandidates true (lines the document suggests)
    on+lines   as on, with lineCandidates true    (the defaults of session 8)
    gate0.5    as on+lines, with minConfidence 0.5 (the defaults since session 11)

The other runs set minConfidence 0 (nothing hidden); each reports what the values in
GATES would have kept of its suggestions (from the server's `confidence` of each), which
`gate0.5` checks for one value. `--no-costs` skips the latency-cost measurements.

Reported: exact match, first-line prefix match, first-10-characters match, echo rates
(strict: the rule post-processing applies; near: the suggestion equals any of the three
non-blank lines above or below), client latency p50/p95; in-process, the retrieval step
alone per request and the index build per 1,000 files; and, without a model, how often
the best two windows by Jaccard or by BM25 contain the hole's names that its own file
does not.

    python -m bench.repo_quality [--model DIR] [--holes-per-package 90]
    python -m bench.repo_quality --random-positions 8192 --context-tokens 6000 \
        --holes-per-package 20 --json docs/results/repo_quality_8k.json

The second form measures latency only (exact match means nothing there): a random-weight
model shaped like the bundled one but with 8,192 positions, as users' own checkpoints
have, and a prompt budget that leaves room for real context.

`--ceiling` adds, in this process, the bound on what repository snippets can give the
model: each hole asked with no snippets, with the server's retrieval, and with a
retrieval told the answer (`ToldContext`), document lines off; and where the targets
occur (elsewhere in their own file, only in other files, in the server's snippets).

`--typed-word` asks after the line's first word is typed (the cursor after `return`,
`self`, `if`...; lines that are one word, or start with a bracket or a quote, are asked
at their indentation as before), the state most keystrokes leave a line in; a
suggestion is then right when the typed word and it make the line.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

from bench.rawlsp import RawServer
from fim.holes import line_holes, score
from fim.postprocess import echoes
from fim.prompt import Snippet
from fim.repo_files import iter_repo_files, read_source
from fim.retrieval import choose_snippets, query_of
from fim.windows import Window, identifiers
from lsp_server.repo_context import DEFINITIONS, SIMILAR, RepoContext
from lsp_server.workspace import WorkspaceIndex, uri_to_path
from model.progress import Progress
from training.corpus import stdlib_root
from training.packages import HELDOUT, PACKAGES, fetch

NO_GATE = {"minConfidence": 0.0}
CONFIGS = {
    "off": {"repoContext": False, "dropEchoes": False, "lineCandidates": False, **NO_GATE},
    "off+echo": {"repoContext": False, "dropEchoes": True, "lineCandidates": False, **NO_GATE},
    "on": {"repoContext": True, "dropEchoes": True, "lineCandidates": False, **NO_GATE},
    "off+lines": {"repoContext": False, "dropEchoes": True, "lineCandidates": True, **NO_GATE},
    "on+lines": {"repoContext": True, "dropEchoes": True, "lineCandidates": True, **NO_GATE},
    "gate0.5": {
        "repoContext": True,
        "dropEchoes": True,
        "lineCandidates": True,
        "minConfidence": 0.5,
    },
}
# minConfidence values whose effect `summarize` works out from the ungated runs' rows
GATES = (0.2, 0.3, 0.4, 0.5, 0.6)


def unpack(wheels: Path, root: Path) -> list[Path]:
    """Each held-out package's wheel unpacked into its own folder (the workspace)."""
    held = tuple(p for p in PACKAGES if p.name in HELDOUT)
    fetch(wheels, held)
    out = []
    for p in held:
        wheel = next(wheels.glob(f"{p.name}-{p.version}-*.whl"))
        folder = (root / p.name).absolute()
        if not folder.exists():
            with zipfile.ZipFile(wheel) as z:
                z.extractall(folder)
        out.append(folder)
    return out


def package_holes(folder: Path, n: int, seed: int = 0) -> list[dict]:
    files = []
    for f in iter_repo_files(folder):
        text = read_source(f.path)
        if text and f.relpath.endswith(".py"):
            files.append(SimpleNamespace(relpath=f.relpath, text=text))
    holes = line_holes(files, n, seed=seed)
    for h in holes:
        h["path"] = folder / h["file"]
    return holes


def type_first_word(h: dict) -> dict:
    """The hole with its line's first word typed (the cursor after it), when more follows."""
    word = re.match(r"[A-Za-z_]\w*", h["target"])
    if not word or word.end() == len(h["target"]):
        return h
    return {**h, "prefix": h["prefix"] + word.group(0), "typed": word.group(0)}


def near_echo(line: str, h: dict) -> bool:
    above = [ln.strip() for ln in h["prefix"].split("\n")[:-1] if ln.strip()][-3:]
    below = [ln.strip() for ln in h["suffix"].split("\n")[1:] if ln.strip()][:3]
    return bool(line) and line in above + below


def random_model(path: Path, positions: int) -> Path:
    """The bundled model's shape and tokenizer with `positions` positions, random weights."""
    import shutil

    import torch

    from lsp_server.backends.engine import bundled_model_path
    from model import GPTBigCodeConfig, GPTBigCodeForCausalLM

    bundled = bundled_model_path()
    config = GPTBigCodeConfig.from_pretrained(bundled)
    config.n_positions = positions
    torch.manual_seed(0)
    GPTBigCodeForCausalLM(config).save_pretrained(path)
    shutil.copyfile(bundled / "tokenizer.json", path / "tokenizer.json")
    return path


class ToldContext(RepoContext):
    """Retrieval that is told the hole's answer: the query holds the target line (so
    similar windows and definitions are chosen for its names), and a window of another
    file that holds the target line verbatim, if any, goes nearest the cursor. No real
    retrieval can do better, so it bounds what repository snippets can give this model."""

    target = ""

    def snippets(self, uri: str, prefix: str, suffix: str) -> list[Snippet]:
        corpus = self.index.snapshot()
        path = uri_to_path(uri)
        exclude = self.index.label_of(path) if path else ""
        indent = prefix[prefix.rfind("\n") + 1 :]
        told = f"{prefix}{self.target}\n{indent}"
        chosen = choose_snippets(corpus, told, suffix, exclude, DEFINITIONS, SIMILAR)
        verbatim = next(
            (w for w in corpus.windows() if w.path != exclude and holds(w, self.target)), None
        )
        if verbatim is not None:
            chosen = [verbatim, *(w for w in chosen if w != verbatim)][: DEFINITIONS + SIMILAR]
        return [Snippet(w.path, w.text) for w in reversed(chosen)]


def holds(window: Window, line: str) -> bool:
    return any(body.strip() == line for body in window.text.split("\n"))


def context_ceiling(model: str, folders: list[Path], holes: dict[str, list[dict]]) -> dict:
    """Exact and first-10 match in this process with no repository context, with the
    server's retrieval and with retrieval told the answer (`ToldContext`), document lines
    off so that only the snippets differ; and where the targets occur: elsewhere in their
    own file, only in other files of the package, in the server's chosen snippets."""
    from lsp_server.completion import CompletionRequest, CompletionService
    from lsp_server.settings import Settings

    kinds = ("none", "server", "told")
    exact, first10 = dict.fromkeys(kinds, 0), dict.fromkeys(kinds, 0)
    targets = dict.fromkeys(("own_file", "other_files_only", "in_server_snippets"), 0)
    for folder in folders:
        index = WorkspaceIndex()
        index.set_folders([folder]).result()
        contexts = {"none": None, "server": RepoContext(index), "told": ToldContext(index)}
        for kind, context in contexts.items():
            settings = Settings(
                model=model,
                threads=1,
                multiline="single",
                precompute=False,
                line_candidates=False,
                repo_context=context is not None,
                min_confidence=0,
            )
            service = CompletionService(settings, context=context)
            service.load().result()
            for h in holes[folder.name]:
                ToldContext.target = h["target"]
                uri = h["path"].as_uri()
                request = CompletionRequest(uri, 1, h["prefix"], h["suffix"], h["file"])
                hit = score(h.get("typed", "") + service.complete_now(request).text, h["target"])
                service.close(uri)
                exact[kind] += hit[0]
                first10[kind] += hit[1]
            service.shutdown(wait_s=5)
        windows = list(index.snapshot().windows())
        for h in holes[folder.name]:
            label, uri = index.label_of(h["path"]), h["path"].as_uri()
            own = h["target"] in {x.strip() for x in (h["prefix"] + "\n" + h["suffix"]).split("\n")}
            other = any(w.path != label and holds(w, h["target"]) for w in windows)
            chosen = contexts["server"].snippets(uri, h["prefix"], h["suffix"])
            contexts["server"].forget(uri)
            targets["own_file"] += own
            targets["other_files_only"] += other and not own
            targets["in_server_snippets"] += any(
                h["target"] in {x.strip() for x in s.text.split("\n")} for s in chosen
            )
    holes_n = sum(len(h) for h in holes.values())
    return {"holes": holes_n, "exact": exact, "first10": first10, "targets": targets}


def run_config(model: str, settings: dict, folder: Path, holes: list[dict], bar) -> list[dict]:
    server = RawServer("--model", model, "--threads", "1") if model else RawServer("--threads", "1")
    rows = []
    try:
        server.initialize(
            {"bigcode": {**settings, "multiline": "single"}},
            workspaceFolders=[{"uri": folder.as_uri(), "name": folder.name}],
        )
        server.wait_model(120)
        deadline = time.monotonic() + 120
        while settings["repoContext"] and server.status()["workspace"]["indexing"]:
            if time.monotonic() > deadline:
                raise TimeoutError("the index was not built")
            time.sleep(0.1)
        for h in holes:
            uri = h["path"].as_uri()
            server.open(uri, h["prefix"] + h["suffix"])
            line = h["prefix"].count("\n")
            col = len(h["prefix"]) - h["prefix"].rfind("\n") - 1
            t0 = time.perf_counter()
            server.inline(uri, line, col, timeout=60)
            wall = (time.perf_counter() - t0) * 1000
            last = server.status(uri).get("last") or {}
            server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            shown = (last.get("text") or "").split("\n", 1)[0]
            text = (h.get("typed", "") + shown).strip()  # the whole line, as typed + shown
            exact, first10 = score(text, h["target"])
            rows.append(
                {
                    "exact": exact,
                    "first10": first10,
                    "prefix": bool(shown.strip()) and h["target"].startswith(text),
                    "empty": not shown.strip(),
                    "echo": echoes(shown.rstrip(), h["prefix"], h["suffix"]),
                    "near_echo": near_echo(text, h),
                    "ms": wall,
                    "context": len(last.get("context") or []),
                    "document_line": last.get("source") == "document",
                    "confidence": last.get("confidence"),
                    "prompt_tokens": last.get("promptTokens", 0),
                }
            )
            bar.update(1)
    finally:
        server.close()
    return rows


def summarize(rows: list[dict]) -> dict:
    n = len(rows)
    shown = [r for r in rows if not r["empty"]]
    ms = sorted(r["ms"] for r in rows)
    return {
        "holes": n,
        "exact_match": sum(r["exact"] for r in rows) / n,
        "prefix_match": sum(r["prefix"] for r in rows) / n,
        "first10_match": sum(r["first10"] for r in rows) / n,
        "suggestions": len(shown),
        "echo_rate": sum(r["echo"] for r in shown) / max(1, len(shown)),
        "near_echo_rate": sum(r["near_echo"] for r in shown) / max(1, len(shown)),
        "p50_ms": statistics.median(ms),
        "p95_ms": ms[int(0.95 * (n - 1))],
        "mean_snippets": sum(r["context"] for r in rows) / n,
        "mean_prompt_tokens": sum(r["prompt_tokens"] for r in rows) / n,
        "document_lines": sum(r["document_line"] for r in rows) / n,
        "gates": gates(shown),
    }


def gates(shown: list[dict]) -> dict[str, dict]:
    """What each `minConfidence` in GATES would keep of an ungated run's suggestions: the
    server hides a model suggestion below it and nothing else, so this is exact."""
    out = {}
    for gate in GATES:
        kept = [r for r in shown if r["confidence"] is None or r["confidence"] >= gate]
        out[str(gate)] = {
            "suggestions": len(kept),
            "exact": sum(r["exact"] for r in kept),
            "first10": sum(r["first10"] for r in kept),
        }
    return out


def retrieval_costs(folders: list[Path], holes: dict[str, list[dict]]) -> dict:
    """Index build per 1,000 files (the packages and the stdlib as a bigger workspace) and
    the retrieval step per request, in this process."""
    builds = {}
    for folder in [*folders, stdlib_root()]:
        index = WorkspaceIndex()
        t0 = time.perf_counter()
        index.set_folders([folder]).result()
        s = time.perf_counter() - t0
        builds[folder.name] = {"files": index.snapshot().files, "s": s}
    files = sum(b["files"] for b in builds.values())
    per_request = []
    recall = {"jaccard": [], "bm25": []}
    for folder in folders:
        index = WorkspaceIndex()
        index.set_folders([folder]).result()
        context = RepoContext(index)
        corpus = index.snapshot()
        for h in holes[folder.name]:
            uri = h["path"].as_uri()
            t0 = time.perf_counter()
            context.snippets(uri, h["prefix"], h["suffix"])
            per_request.append((time.perf_counter() - t0) * 1000)
            context.forget(uri)
            own = set(identifiers(h["prefix"][-4000:] + h["suffix"][:2000]))
            wanted = set(identifiers(h["target"])) - own
            if not wanted:
                continue
            label = index.label_of(h["path"])
            for scorer in recall:
                found = corpus.similar(query_of(h["prefix"]), 2, label, scorer)
                names = set().union(*(w.idents for _, w in found)) if found else set()
                recall[scorer].append(len(wanted & names) / len(wanted))
    per_request.sort()
    return {
        "index_build": builds,
        "index_s_per_1000_files": sum(b["s"] for b in builds.values()) / files * 1000,
        "retrieval_p50_ms": statistics.median(per_request),
        "retrieval_p95_ms": per_request[int(0.95 * (len(per_request) - 1))],
        "new_name_recall": {k: statistics.fmean(v) for k, v in recall.items()},
        "holes_with_new_names": len(recall["jaccard"]),
    }


def line_costs(model: str, folders: list[Path], holes: dict[str, list[dict]]) -> dict:
    """What weighing document lines adds to a request, paired: each hole asked twice in
    this process, `lineCandidates` off and on in alternating order, each a cold request
    (its own document), so that a machine slowing down mid-run cannot bias the ratio."""
    from dataclasses import replace

    from fim.candidates import line_candidates
    from lsp_server.completion import CompletionRequest, CompletionService
    from lsp_server.settings import Settings

    base = Settings(model=model, threads=1, multiline="single", precompute=False, min_confidence=0)
    ms: dict[bool, list[float]] = {False: [], True: []}
    extra = []  # on minus off, for the requests that had candidate lines
    for folder in folders:
        index = WorkspaceIndex()
        index.set_folders([folder]).result()
        service = CompletionService(base, context=RepoContext(index))
        service.load().result()
        for i, h in enumerate(holes[folder.name]):
            uri = h["path"].as_uri()
            for flag in (False, True) if i % 2 else (True, False):
                service.settings = replace(base, line_candidates=flag)
                request = CompletionRequest(f"{uri}?{flag}", 1, h["prefix"], h["suffix"], h["file"])
                t0 = time.perf_counter()
                service.complete_now(request)
                ms[flag].append((time.perf_counter() - t0) * 1000)
                service.close(request.uri)
            if line_candidates(h["prefix"], h["suffix"]):
                extra.append(ms[True][-1] - ms[False][-1])
        service.shutdown(wait_s=5)
    return {
        "p50_ms_off": statistics.median(ms[False]),
        "p50_ms_on": statistics.median(ms[True]),
        "p50_ratio": statistics.median(ms[True]) / statistics.median(ms[False]),
        "mean_ratio": statistics.fmean(ms[True]) / statistics.fmean(ms[False]),
        "requests_with_candidates": len(extra),
        "median_extra_ms_with_candidates": statistics.median(extra) if extra else 0.0,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="", help="model directory (default: the bundled one)")
    p.add_argument("--holes-per-package", type=int, default=90)
    p.add_argument("--seed", type=int, default=0, help="another draw of holes (1: for choosing)")
    p.add_argument("--wheels", type=Path, default=Path("runs/wheels"))
    p.add_argument("--workspaces", type=Path, default=Path("runs/repos"))
    p.add_argument("--json", type=Path, default=Path("docs/results/repo_quality.json"))
    p.add_argument("--context-tokens", type=int, default=None, help="the contextTokens setting")
    p.add_argument("--random-positions", type=int, default=None)
    p.add_argument("--configs", default=",".join(CONFIGS), help="which server runs")
    p.add_argument(
        "--typed-word",
        action="store_true",
        help="ask after the line's first word is typed (as mid-line typing does)",
    )
    p.add_argument(
        "--ceiling",
        action="store_true",
        help="also measure, in process, what retrieval told the answer would give",
    )
    p.add_argument(
        "--no-costs",
        action="store_true",
        help="skip the retrieval and line-candidate cost measurements (quality only)",
    )
    args = p.parse_args(argv)
    if args.random_positions:
        args.model = str(random_model(Path("runs/random-long"), args.random_positions))
    extra = {"contextTokens": args.context_tokens} if args.context_tokens else {}

    folders = unpack(args.wheels, args.workspaces)
    holes = {f.name: package_holes(f, args.holes_per_package, args.seed) for f in folders}
    if args.typed_word:
        holes = {name: [type_first_word(h) for h in hs] for name, hs in holes.items()}
    total = sum(len(h) for h in holes.values())
    results: dict = {
        "model": args.model or "bundled",
        "settings": extra,
        "packages": {f.name: len(holes[f.name]) for f in folders},
    }
    for name in args.configs.split(","):
        settings = CONFIGS[name]
        bar = Progress(total, name)
        rows = []
        for f in folders:
            rows += run_config(args.model, {**settings, **extra}, f, holes[f.name], bar)
        bar.close()
        results[name] = summarize(rows)
        r = results[name]
        print(
            f"{name}: exact {r['exact_match']:.1%}, prefix {r['prefix_match']:.1%}, "
            f"echo {r['echo_rate']:.1%} (near {r['near_echo_rate']:.1%}), "
            f"p50 {r['p50_ms']:.0f} ms",
            file=sys.stderr,
        )
    if not args.no_costs:
        results["retrieval"] = retrieval_costs(folders, holes)
    if args.ceiling:
        results["ceiling"] = context_ceiling(args.model, folders, holes)
        print(json.dumps(results["ceiling"]), file=sys.stderr)
    if "on+lines" in args.configs.split(",") and not args.no_costs:
        results["line_costs"] = line_costs(args.model, folders, holes)
        print(json.dumps(results["line_costs"]), file=sys.stderr)
    if {"on", "off", "off+echo"} <= results.keys():
        results["ratios"] = {
            "exact_on_vs_off": results["on"]["exact_match"]
            / max(1e-9, results["off"]["exact_match"]),
            "p50_on_vs_off_echo": results["on"]["p50_ms"] / results["off+echo"]["p50_ms"],
        }
    for name in ("off+lines", "on+lines"):
        if {name, "off", "off+echo"} <= results.keys():
            ratios = results.setdefault("ratios", {})
            ratios[f"exact_{name}_vs_off"] = results[name]["exact_match"] / max(
                1e-9, results["off"]["exact_match"]
            )
            ratios[f"p50_{name}_vs_off_echo"] = (
                results[name]["p50_ms"] / results["off+echo"]["p50_ms"]
            )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results.get("ratios", {})), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
