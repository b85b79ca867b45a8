"""`bigcode-ls tune PATH --out DIR`: tune a model on a repository, then show what it gained.

The training is `training/tune.py`'s; this module adds the command line and the before /
after report: exact match and first-10-characters match on whole-line holes cut from the
repository's held-out files, completed through the server's own prompt path (the
`CompletionService` with the settings a user gets), by the base model and by the result.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lsp_server.settings import Settings

HOLES = 200


def add_parser(sub) -> None:
    tune = sub.add_parser(
        "tune",
        help="adapt a small model to a repository (writes a model directory)",
        description="Continue training a small GPTBigCode model on a repository's source "
        "files. The result memorises code it saw: do not share a model tuned on private code.",
    )
    tune.add_argument("path", type=Path, help="the repository's folder")
    tune.add_argument("--out", type=Path, required=True, help="the model directory to write")
    tune.add_argument("--minutes", type=float, default=15.0, help="training time (default 15)")
    tune.add_argument("--from", dest="base", type=Path, help="base model (default: bundled)")
    tune.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    tune.add_argument("--threads", type=int, default=None, help="CPU threads (default: all)")
    tune.add_argument("--holes", type=int, default=HOLES, help="held-out holes to report on")
    tune.add_argument("--lr", type=float, default=None, help="peak learning rate (default 3e-5)")
    tune.add_argument(
        "--steps", type=int, default=0, help="stop after this many steps (default: by --minutes)"
    )
    tune.add_argument(
        "--general-share",
        type=float,
        default=None,
        help="general-code chunks mixed in per repository chunk (default 1)",
    )
    tune.add_argument(
        "--heldout-percent",
        type=int,
        default=10,
        help="share of the repository's files held out to choose the weights (default 10)",
    )


def run_tune(args: argparse.Namespace) -> int:
    from lsp_server.backends.engine import bundled_model_path
    from training.tune import TuneError, TuneOptions, load_repo, tune, write_summary

    base = (args.base or bundled_model_path()).expanduser()
    threads = args.threads or len(os.sched_getaffinity(0))
    given = {"lr": args.lr, "general_share": args.general_share}
    o = TuneOptions(
        args.path,
        args.out,
        base,
        args.minutes,
        args.device,
        threads,
        args.heldout_percent,
        steps=args.steps,
        **{k: v for k, v in given.items() if v is not None},
    )
    try:
        if not (base / "config.json").is_file():
            raise TuneError(f"{base} is not a model directory (no config.json)")
        texts, _, held = load_repo(o)
        summary = tune(o)
    except TuneError as exc:
        sys.stderr.write(f"bigcode-ls: {exc}\n")
        return 2
    holes = held_out_holes(texts, held, args.holes)
    report = {
        "holes": len(holes),
        "before": score_model(base, holes, threads),
        "after": score_model(args.out, holes, threads),
    }
    summary["heldout_holes"] = report
    write_summary(args.out, summary)
    sys.stderr.write(format_report(report, summary, args.out))
    return 0


def held_out_holes(texts: dict[str, str], held: list[str], n: int) -> list[dict]:
    from fim.holes import line_holes

    class File:
        def __init__(self, relpath: str) -> None:
            self.relpath, self.text = relpath, texts[relpath]

    return line_holes([File(r) for r in held], n, seed=0)


def score_model(model: Path, holes: list[dict], threads: int, **settings) -> dict:
    """Exact and first-10 match of `model` on `holes`, through the server's own path
    (`settings`: further Settings fields, e.g. a device)."""
    from fim.holes import score
    from lsp_server.completion.service import CompletionRequest, CompletionService

    service = CompletionService(
        Settings(
            model=str(model),
            threads=threads,
            multiline="single",
            precompute=False,
            min_confidence=0,  # a model's own suggestions, none hidden, before and after
            **settings,
        )
    )
    service.load().result()
    exact = first10 = 0
    for i, h in enumerate(holes):
        request = CompletionRequest(f"file:///tune/{i}", 1, h["prefix"], h["suffix"], h["file"])
        hit, near = score(service.complete_now(request).text, h["target"])
        exact, first10 = exact + hit, first10 + near
        if (i + 1) % max(1, len(holes) // 10) == 0 or i + 1 == len(holes):
            sys.stderr.write(f"holes {model.name}: {i + 1}/{len(holes)}\n")
    service.shutdown(wait_s=10.0)
    n = max(1, len(holes))
    return {"exact_match": exact / n, "first10_match": first10 / n}


def format_report(report: dict, summary: dict, out: Path) -> str:
    b, a = report["before"], report["after"]
    return (
        f"tuned {summary.get('steps', 0)} steps in {summary.get('minutes', 0)} min; "
        f"held-out loss {summary['base_heldout_loss']:.3f} -> {summary['best_heldout_loss']:.3f} "
        f"(best at step {summary['best_step']})\n"
        f"{report['holes']} held-out holes: exact match {b['exact_match']:.1%} -> "
        f"{a['exact_match']:.1%}, first 10 characters {b['first10_match']:.1%} -> "
        f"{a['first10_match']:.1%}\n"
        f"wrote {out}: load it with --model {out}. It memorises the code it saw: "
        "do not share a model tuned on private code.\n"
    )
