"""Train a small GPTBigCode with FIM on Python source, resumably.

    python -m training.train --out runs/bundled --minutes 60      # start, or resume
    python -m training.train --out runs/bundled --export model/bundled

The run directory holds `checkpoint/` (weights and AdamW moments as safetensors, the
step, data position and history as JSON: no pickle) and is resumed automatically, with
the same data order, until `--max-steps` (the schedule's length; `--session-steps` and
`--minutes` only end this session). Every epoch re-draws the FIM cuts with a seed
derived from (seed, epoch), so repeated epochs see new prefix/middle/suffix splits.

The pieces, in the order a run uses them: `recipe.py` (what a run is), `data.py`
(corpus, batches, tokenizer), `checkpoint.py` (save, resume, seed, export), `loop.py`
(the optimisation).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from .checkpoint import export, load_checkpoint, new_model, save_checkpoint, seed_run
from .data import EpochFeed, eval_batches, load_chunks, run_tokenizer
from .loop import Run, choose_amp, loop, make_optimizer
from .packages import fetch, packages_of
from .recipe import Options, Recipe, State, say


def train(run: Path, recipe: Recipe, minutes: float | None = None, **options) -> State:
    """Train (or resume) in `run` until max_steps, `minutes` or `session_steps` run out.

    `init_from` (an exported model directory with its training.json) seeds a new run
    directory: weights, tokenizer, recipe and data position carry over; the AdamW
    moments start afresh. That lets a run continue on a machine that only has the
    repository (run directories are not committed). A resumed run keeps its saved
    recipe; of `overrides` only `max_steps` applies, changing its length. A seeded run
    takes all `overrides` of the exported recipe (a new training phase: other rates, a
    longer run, a longer context); `restart_schedule` starts a fresh warmup + cosine at
    the seeded step."""
    o = Options(minutes=minutes, **options)
    run.mkdir(parents=True, exist_ok=True)
    if o.init_from is not None and not (run / "checkpoint" / "state.json").exists():
        seed_run(run, o.init_from, o.device, o.overrides, o.restart_schedule)
    tokenizer = run_tokenizer(run, recipe)
    model, opt, recipe, state = open_run(run, recipe, tokenizer, o)
    amp = choose_amp(recipe.amp, o.device)
    say(f"autocast: {amp} (recipe amp={recipe.amp!r}, {torch.get_num_threads()} threads)")
    wheels = o.wheels
    if packages_of(recipe.corpus) and o.pack is None:
        wheels = wheels or Path("runs/wheels")
        fetch(wheels, packages_of(recipe.corpus))
    feed = EpochFeed(
        tokenizer, load_chunks("train", recipe, wheels, o.pack), recipe, o.data_workers
    )
    evals = eval_batches(tokenizer, recipe, wheels, o.device, o.pack)
    try:
        loop(Run(run, model, opt, recipe, state, o, amp), feed, evals, save)
    finally:
        feed.close()
    return state


def save(r: Run) -> None:
    save_checkpoint(r.directory, r.model, r.opt, r.recipe, r.state)


def open_run(run: Path, recipe: Recipe, tokenizer, o: Options):
    """The run's checkpoint if it has one (its recipe wins), else a new model."""
    if (run / "checkpoint" / "state.json").exists():
        model, opt, saved, state = load_checkpoint(run, o.device)
        if "max_steps" in o.overrides:  # extending (or shortening) a run is allowed
            saved.max_steps = o.overrides["max_steps"]
        ignored = [k for k, v in o.overrides.items() if getattr(saved, k) != v]
        if ignored:
            say(f"resuming: the saved recipe wins; ignored {', '.join(sorted(ignored))}")
        say(f"resuming at step {state.step} (epoch {state.epoch}, batch {state.batch_in_epoch})")
        recipe = saved
    else:
        model = new_model(recipe, tokenizer.get_vocab_size()).to(o.device)
        model.train()
        opt = make_optimizer(model, recipe)
        state = State()
    n_params = model.num_parameters(exclude_embeddings=True)
    say(
        f"model: {n_params / 1e6:.2f}M non-embedding parameters, "
        f"{model.num_parameters() / 1e6:.2f}M total, context {model.config.n_positions}"
    )
    return model, opt, recipe, state


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m training.train",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--out", type=Path, required=True, help="run directory (resumed if it holds a checkpoint)"
    )
    p.add_argument(
        "--minutes", type=float, default=None, help="stop (and checkpoint) after this many minutes"
    )
    p.add_argument(
        "--session-steps",
        "--steps",
        dest="session_steps",
        type=int,
        default=None,
        help="stop this session (and checkpoint) after this many steps; the schedule's "
        "length is --max-steps",
    )
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="seed a new run from an exported model directory",
    )
    p.add_argument(
        "--restart-schedule",
        action="store_true",
        help="with --init-from: a fresh warmup and cosine from the seeded step to --max-steps",
    )
    add_data_options(p)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--eval-every", type=int, default=200)
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument(
        "--export",
        type=Path,
        default=None,
        help="write the model directory from the run's checkpoint and exit",
    )
    p.add_argument(
        "--export-dtype",
        default="float32",
        choices=["float32", "bfloat16"],
        help="weights' type on disk (bfloat16: half the size, for shipping)",
    )
    for f in Recipe.__dataclass_fields__.values():
        # None: not given, so that resuming never overrides the saved recipe by accident.
        p.add_argument(
            "--" + f.name.replace("_", "-"),
            type=type(f.default),
            default=None,
            help=f"default {f.default}",
        )
    return p


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Where the run computes and where its data comes from (not part of the recipe)."""
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--wheels",
        type=Path,
        default=None,
        help="folder of the packages corpus' wheels (default runs/wheels; fetched if missing)",
    )
    p.add_argument(
        "--pack",
        type=Path,
        default=None,
        help="train on a corpus pack (python -m training.corpus --pack) instead of the "
        "stdlib and wheels: for a machine with neither",
    )
    p.add_argument(
        "--data-workers",
        type=int,
        default=0,
        help="processes that prepare the next epochs while one trains (for a GPU)",
    )
    p.add_argument(
        "--fit-minutes",
        type=float,
        default=None,
        help="measure the speed over the first steps and set --max-steps to end in this time",
    )


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.export:
        export(args.out, args.export, args.export_dtype)
        print(f"wrote {args.export}", file=sys.stderr)
        return 0
    given = {
        k: getattr(args, k) for k in Recipe.__dataclass_fields__ if getattr(args, k) is not None
    }
    recipe = Recipe(**given)
    state = train(
        args.out,
        recipe,
        args.minutes,
        device=args.device,
        eval_every=args.eval_every,
        save_every=args.save_every,
        session_steps=args.session_steps,
        init_from=args.init_from,
        overrides=given,
        restart_schedule=args.restart_schedule,
        wheels=args.wheels,
        pack=args.pack,
        data_workers=args.data_workers,
        fit_minutes=args.fit_minutes,
    )
    print(
        f"stopped at step {state.step}, {state.tokens} tokens, {state.elapsed_s / 60:.1f} min",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
