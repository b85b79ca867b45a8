"""Which `tune` recipe helps? A sweep of learning rate, general-code share and steps.

On a 2-core CPU one 15-minute tune of the bundled model is about 1,300 steps (2 threads,
bf16 autocast) and tells one number; on a GPU the same steps take seconds, so this runs
many recipes × packages side by side (a pool of processes sharing the device) and scores
each result the way `bigcode-ls tune` reports it: exact and first-10-characters match on
whole-line holes cut from the package's held-out files, through the server's own path.
Recipes are step-based (`TuneOptions.steps`), so a choice made here means the same on a
CPU; the CPU run that confirms it is `bigcode-ls tune --lr ... --steps ...`.

Results go to one JSON file, rewritten after every job, so that a lease that ends early
still returns what finished.

    python -m bench.tune_sweep --repos runs/repos --json $OUT/tune_sweep.json --device cuda
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

PACKAGES = ("toolz", "sqlparse", "marshmallow", "humanize", "pyparsing")
# (name, lr, general chunks per repository chunk, steps); "now" is the recipe shipped
# before this sweep (lr 1e-4; the default is now 3e-5), at this CPU's step count for 15
# minutes. The names are the keys of docs/results/tune_sweep.json.
RECIPES = (
    ("now", 1e-4, 1.0, 1200),
    ("lr3e-4", 3e-4, 1.0, 1200),
    ("lr1e-3", 1e-3, 1.0, 1200),
    ("lr3e-4-share.25", 3e-4, 0.25, 1200),
    ("lr1e-3-share.25", 1e-3, 0.25, 1200),
    ("lr3e-3", 3e-3, 1.0, 1200),
    ("lr1e-3-share0", 1e-3, 0.0, 1200),
    ("lr1e-3-600", 1e-3, 1.0, 600),
    ("lr3e-5", 3e-5, 1.0, 1200),
    ("lr5e-5-share3", 5e-5, 3.0, 1200),
    ("now-share3", 1e-4, 3.0, 1200),
)
HELDOUT_PERCENT = 25


def job(repo: str, recipe: tuple, base: str, work: str, holes: int, device: str) -> dict:
    """Tune (unless the recipe is None: the base model) and score; one process each."""
    import torch

    from cli.tune import held_out_holes, score_model
    from training.tune import TuneOptions, load_repo, tune

    torch.set_num_threads(1)
    name = recipe[0] if recipe else "base"
    t0 = time.monotonic()
    out = Path(work) / f"{Path(repo).name}-{name}"
    shutil.rmtree(out, ignore_errors=True)
    lr, share, steps = recipe[1:] if recipe else (TuneOptions.lr, 1.0, 0)
    o = TuneOptions(
        Path(repo),
        out,
        Path(base),
        minutes=60.0,
        device=device,
        threads=1,
        heldout_percent=HELDOUT_PERCENT,
        lr=lr,
        steps=steps,
        general_share=share,
    )
    result = {"package": Path(repo).name, "recipe": name}
    texts, _, held = load_repo(o)
    if recipe:
        summary = tune(o, say=lambda m: print(f"{out.name}: {m}", file=sys.stderr))
        result.update(
            lr=o.lr,
            general_share=o.general_share,
            steps=summary["steps"],
            base_loss=summary["base_heldout_loss"],
            best_loss=summary["best_heldout_loss"],
            best_step=summary["best_step"],
            tune_s=round(time.monotonic() - t0, 1),
        )
    model = out if recipe else Path(base)
    cut = held_out_holes(texts, held, holes)
    try:
        scores = score_model(model, cut, 1, device=device, dtype="float32")
    except Exception as e:  # noqa: BLE001 - the CPU scores what the device could not
        result["score_error"] = f"{type(e).__name__}: {e}"
        scores = score_model(model, cut, 1, device="cpu", dtype="float32")
    result.update(scores, holes=len(cut), seconds=round(time.monotonic() - t0, 1))
    shutil.rmtree(out, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, default=Path("runs/repos"))
    ap.add_argument("--packages", default=",".join(PACKAGES))
    ap.add_argument("--base", type=Path, default=Path("model/bundled"))
    ap.add_argument("--work", type=Path, default=Path("/tmp/tune-sweep"))
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--holes", type=int, default=200)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--recipes", default="", help="comma-separated names (default: all)")
    ap.add_argument("--scale-steps", type=float, default=1.0, help="for a quick CPU try")
    args = ap.parse_args(argv)
    wanted = set(filter(None, args.recipes.split(",")))
    recipes = [r for r in RECIPES if not wanted or r[0] in wanted]
    recipes = [(n, lr, s, max(1, int(k * args.scale_steps))) for n, lr, s, k in recipes]
    packages = args.packages.split(",")
    # Base scores first, then each recipe across the packages: a cut-short run still
    # compares whole recipes.
    jobs = [(p, None) for p in packages] + [(p, r) for r in recipes for p in packages]
    results: list[dict] = []
    ctx = multiprocessing.get_context("spawn")
    t0 = time.monotonic()
    with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
        futures = {
            pool.submit(
                job,
                str(args.repos / p),
                r,
                str(args.base),
                str(args.work),
                args.holes,
                args.device,
            ): (p, r[0] if r else "base")
            for p, r in jobs
        }
        for f in as_completed(futures):
            try:
                results.append(f.result())
            except Exception as e:  # noqa: BLE001 - one failed job is a result, not a stop
                p, r = futures[f]
                results.append({"package": p, "recipe": r, "error": f"{type(e).__name__}: {e}"})
            print(
                f"[{time.monotonic() - t0:5.0f} s] {len(results)}/{len(jobs)} {results[-1]}",
                file=sys.stderr,
                flush=True,
            )
            meta = {"device": args.device, "torch": torch_version(), "holes": args.holes}
            args.json.write_text(json.dumps({**meta, "results": results}, indent=1) + "\n")
    print(table(results))
    return 0


def torch_version() -> str:
    import torch

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"
    return f"{torch.__version__} on {name}"


def table(results: list[dict]) -> str:
    """Per recipe: first-10 and exact ratio to the base, per package."""
    base = {r["package"]: r for r in results if r["recipe"] == "base" and "error" not in r}
    rows = ["recipe | package | exact base -> tuned | first10 base -> tuned (ratio) | best step"]
    for r in sorted(results, key=lambda r: (r["recipe"], r["package"])):
        b = base.get(r["package"])
        if r["recipe"] == "base" or b is None or "error" in r:
            continue
        ratio = r["first10_match"] / max(b["first10_match"], 1e-9)
        rows.append(
            f"{r['recipe']} | {r['package']} | {b['exact_match']:.3f} -> {r['exact_match']:.3f}"
            f" | {b['first10_match']:.3f} -> {r['first10_match']:.3f} ({ratio:.2f}x)"
            f" | {r.get('best_step')}"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
