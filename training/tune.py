"""Adapt a small GPTBigCode model to one repository: `bigcode-ls tune PATH --out DIR`.

A naive continuation memorises a small repository within a few hundred steps (training
loss falls, held-out files gain nothing). So tuning here:

- trains on the repository's files (the server's file filter, `fim/repo_files.py`) with
  the trainer's editor-shaped FIM cuts, each epoch mixed with as many chunks of general
  code (the standard library's training split) as the repository has;
- holds out a fixed share of the repository's files (by a hash of their path) and
  measures their loss every `eval_every` steps; DIR always holds the weights with the
  lowest held-out loss so far (the base model's, if nothing beats it);
- runs a low learning rate with a short warmup and a cosine over the time budget, and
  stops at `--minutes` (training time, summed over resumed sessions).

The run's checkpoint lives in DIR/.tune (safetensors + JSON), so an interrupted tune
resumes where it stopped. DIR/tune.json records the base model and the recipe, file
counts and the held-out curve, never a path inside the repository or its text.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from fim.formats import detect_format
from fim.repo_files import iter_repo_files, read_source
from model import GPTBigCodeForCausalLM, ModelLoadError
from model.loading import read_config
from model.progress import Progress
from model.tokenizer import load_tokenizer

from .checkpoint import load_checkpoint, save_checkpoint
from .corpus import chunk_text, load_split
from .data import encode_documents, epoch_batches, windows
from .loop import choose_amp, evaluate, make_optimizer, step
from .recipe import Recipe, State

RUN = ".tune"
SUMMARY = "tune.json"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json")
# A 15-minute tune needs a few hundred steps to learn anything; a nominal CPU rate (the
# bundled model trains at about 110 GFLOP/s per thread on an AVX-512 CPU, an AVX2 one at
# half that) turns the model's size into an estimate before any weight is loaded.
CPU_FLOPS_PER_THREAD = 50e9
REFERENCE_MINUTES = 15
MIN_STEPS = 200


class TuneError(Exception):
    """A refused input, with a message meant for the user."""


@dataclass
class TuneOptions:
    repo: Path
    out: Path
    base: Path
    minutes: float = 15.0
    device: str = "cpu"
    threads: int = 1
    heldout_percent: int = 10
    # A low rate: in a sweep of 11 recipes over 5 held-out packages (bench/tune_sweep.py,
    # docs/model.md) 3e-5 did best; 1e-3 and more made held-out files worse at once.
    lr: float = 3e-5
    # 0: the cosine runs over `minutes`; else over this many steps, and the run stops there
    # (a recipe measured on a fast machine then means the same on a slow one).
    steps: int = 0
    # General-code chunks mixed in per repository chunk (forgetting guard).
    general_share: float = 1.0
    # Windows as long as the bundled model's training windows: a 3,000-character FIM
    # example cut across two shorter windows teaches a middle without its prefix and
    # suffix (measured: 512-token windows lowered held-out first-10 match on toolz).
    batch_size: int = 2
    seq_len: int = 1024
    eval_every: int = 25
    save_every: int = 50
    seed: int = 0


# --------------------------------------------------------------------------------------
# Inputs and refusals


def repo_texts(repo: Path) -> dict[str, str]:
    """The repository's source files (relative path → text), as the server would read them."""
    texts = {}
    for f in iter_repo_files(repo):
        text = read_source(f.path)
        if text is not None and text.strip():
            texts[f.relpath] = text
    return texts


def split_files(relpaths: list[str], percent: int) -> tuple[list[str], list[str]]:
    """(train, held-out) by a hash of each path; at least one file on each side."""
    rank = sorted(relpaths, key=lambda r: hashlib.sha256(r.encode()).hexdigest())
    held = [r for r in rank if int(hashlib.sha256(r.encode()).hexdigest()[:8], 16) % 100 < percent]
    held = held or rank[:1]
    if len(held) == len(rank):
        held = held[:1]
    return [r for r in rank if r not in held], held


def estimated_step_s(base: Path, o: TuneOptions) -> float:
    try:
        config = read_config(base)
    except ModelLoadError as exc:
        raise TuneError(str(exc)) from None
    params = 12 * config.n_layer * config.n_embd**2 + config.vocab_size * config.n_embd
    return 6 * params * o.batch_size * o.seq_len / (CPU_FLOPS_PER_THREAD * max(1, o.threads))


def check_inputs(o: TuneOptions) -> None:
    if not o.repo.is_dir():
        raise TuneError(f"{o.repo} is not a folder")
    if not (o.lr > 0 and o.general_share >= 0 and o.steps >= 0):
        raise TuneError("--lr must be above 0, --general-share and --steps at least 0")
    if o.out.exists() and any(o.out.iterdir()) and not (o.out / RUN / "tune.json").exists():
        raise TuneError(
            f"{o.out} exists and is not a tune run to resume; choose a new --out folder"
        )
    if o.device == "cpu":
        secs = estimated_step_s(o.base, o)
        if REFERENCE_MINUTES * 60 / secs < MIN_STEPS:
            raise TuneError(
                f"{o.base} is too large to tune on this CPU: one step of {o.batch_size}x"
                f"{o.seq_len} tokens would take about {secs:.0f} s with {o.threads} thread(s), "
                f"so {REFERENCE_MINUTES} minutes give under {MIN_STEPS} steps; use a GPU "
                f"(--device cuda) or a smaller model"
            )
    if not (o.base / "tokenizer.json").is_file():
        raise TuneError(f"{o.base} has no tokenizer.json")


# --------------------------------------------------------------------------------------
# The run


def lr_at(elapsed_s: float, step_no: int, o: TuneOptions) -> float:
    warm = min(1.0, (step_no + 1) / 20)
    progress = min(1.0, step_no / o.steps if o.steps else elapsed_s / (o.minutes * 60))
    return warm * (o.lr / 10 + 0.45 * o.lr * (1 + math.cos(math.pi * progress)))


def open_run(o: TuneOptions, held: list[str], train: list[str]):
    """The run's checkpoint, created from the base model on the first session."""
    run = o.out / RUN
    if (run / "checkpoint" / "state.json").exists():
        model, opt, recipe, state = load_checkpoint(run, o.device)
        meta = json.loads((run / "tune.json").read_text())
        exported = _read_json(o.out / SUMMARY)  # an export may postdate the last checkpoint
        if exported.get("best_heldout_loss", math.inf) < meta.get("best_heldout_loss", math.inf):
            meta.update(
                best_heldout_loss=exported["best_heldout_loss"], best_step=exported["best_step"]
            )
        return model, opt, recipe, state, meta
    try:
        model = GPTBigCodeForCausalLM.from_pretrained(o.base, dtype=torch.float32, device=o.device)
    except ModelLoadError as exc:
        raise TuneError(str(exc)) from None
    run.mkdir(parents=True, exist_ok=True)
    c = model.config
    recipe = Recipe(
        vocab_size=c.vocab_size,
        n_embd=c.n_embd,
        n_layer=c.n_layer,
        n_head=c.n_head,
        n_positions=c.n_positions,
        seq_len=min(o.seq_len, c.n_positions),
        batch_size=o.batch_size,
        lr=o.lr,
        fim_rate=0.6,
        spm_rate=0.7,
        line_fim_rate=0.5,
        chunk_chars=3000,
        seed=o.seed,
        amp="auto",
        corpus="repository+stdlib",
    )
    model.train()
    shutil.copyfile(o.base / "tokenizer.json", run / "tokenizer.json")
    meta = {"base": str(o.base.resolve()), "options": _public(o), "files": {}, "curve": []}
    meta["files"] = {"train": len(train), "heldout": len(held)}
    (run / "tune.json").write_text(json.dumps(meta, indent=1))
    save_checkpoint(run, model, make_optimizer(model, recipe), recipe, State())
    return model, make_optimizer(model, recipe), recipe, State(), meta


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _public(o: TuneOptions) -> dict:
    d = asdict(o)
    for k in ("repo", "out", "base"):
        d.pop(k)
    return d


def heldout_windows(tokenizer, fmt, chunks: list[str], recipe: Recipe, limit: int = 16):
    plain = replace(recipe, fim_rate=0.5, spm_rate=0.5, line_fim_rate=0.0)
    stream = encode_documents(tokenizer, chunks, random.Random(recipe.seed), plain, fmt)
    w = windows(stream, recipe.seq_len)
    if len(w) == 0:  # a tiny held-out set: one short window
        w = torch.tensor(stream[: recipe.seq_len]).view(1, -1)
    return w[:limit]


def export_best(model, run: Path, out: Path, meta: dict) -> None:
    model.save_pretrained(out)
    shutil.copyfile(run / "tokenizer.json", out / "tokenizer.json")
    write_summary(out, meta)


def write_summary(out: Path, meta: dict) -> None:
    tmp = out / (SUMMARY + ".tmp")
    tmp.write_text(json.dumps(meta, indent=1) + "\n")
    tmp.replace(out / SUMMARY)


def load_repo(o: TuneOptions) -> tuple[dict[str, str], list[str], list[str]]:
    """Check the inputs; the repository's texts and its (train, held-out) file split."""
    check_inputs(o)
    texts = repo_texts(o.repo)
    if len(texts) < 2:
        raise TuneError(
            f"{o.repo} has {len(texts)} source file(s) that bigcode-ls would read; tuning "
            "needs at least 2 (one is held out to choose when to stop)"
        )
    train, held = split_files(sorted(texts), o.heldout_percent)
    return texts, train, held


def tune(o: TuneOptions, say=lambda m: print(m, file=sys.stderr)) -> dict:
    """Run (or resume) a tune until its minutes are spent; returns the summary."""
    texts, train, held = load_repo(o)
    torch.set_num_threads(max(1, o.threads))
    model, opt, recipe, state, meta = open_run(o, held, train)
    run = o.out / RUN
    tokenizer = load_tokenizer(run)
    fmt = detect_format(tokenizer.get_vocab())
    if fmt is None:
        raise TuneError(f"{o.base} has no FIM tokens that bigcode-ls knows; cannot tune it")
    amp = choose_amp(recipe.amp, o.device)
    repo_chunks = [c for r in train for c in chunk_text(texts[r], recipe.chunk_chars)]
    general = [c for f in load_split("train") for c in chunk_text(f.text, recipe.chunk_chars)]
    held_batches = (
        heldout_windows(
            tokenizer,
            fmt,
            [c for r in held for c in chunk_text(texts[r], recipe.chunk_chars)],
            recipe,
        )
        .to(o.device)
        .split(recipe.batch_size)
    )
    say(
        f"tune: {len(train)} training and {len(held)} held-out files, "
        f"{len(repo_chunks)} repository chunks, {o.general_share:g} general chunk(s) each; "
        f"autocast {amp}"
    )
    if not meta["curve"]:
        loss = evaluate(model, held_batches)
        meta.update(base_heldout_loss=loss, best_heldout_loss=loss, best_step=0)
        meta["curve"].append({"step": 0, "elapsed_s": 0.0, "heldout_loss": loss})
        export_best(model, run, o.out, meta)
    _loop(o, model, opt, recipe, state, meta, tokenizer, fmt, repo_chunks, general, held_batches)
    return meta


def _epoch(tokenizer, fmt, repo_chunks, general, recipe, epoch, share: float):
    rng = random.Random(recipe.seed * 7919 + epoch)
    mixed = repo_chunks + rng.sample(general, min(len(general), round(share * len(repo_chunks))))
    return epoch_batches(tokenizer, mixed, recipe, epoch, fmt)


def _loop(o, model, opt, recipe, state, meta, tokenizer, fmt, repo_chunks, general, held):
    run = o.out / RUN
    budget = o.minutes * 60
    amp = choose_amp(recipe.amp, o.device)
    batches = _epoch(tokenizer, fmt, repo_chunks, general, recipe, state.epoch, o.general_share)
    bar = Progress(int(budget), "tune", start=int(state.elapsed_s))
    t0, elapsed0 = time.monotonic(), state.elapsed_s
    while state.elapsed_s < budget and not (o.steps and state.step >= o.steps):
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            batches = _epoch(
                tokenizer, fmt, repo_chunks, general, recipe, state.epoch, o.general_share
            )
        x = batches[state.batch_in_epoch].to(o.device)
        loss = step(model, opt, x, lr_at(state.elapsed_s, state.step, o), 1.0, o.device, amp)
        state.step, state.batch_in_epoch = state.step + 1, state.batch_in_epoch + 1
        state.tokens += x.numel()
        before = int(state.elapsed_s)
        state.elapsed_s = elapsed0 + time.monotonic() - t0
        if state.step % o.eval_every == 0:
            h = evaluate(model, held)
            meta["curve"].append(
                {"step": state.step, "elapsed_s": round(state.elapsed_s, 1), "heldout_loss": h}
            )
            if h < meta["best_heldout_loss"]:
                meta.update(best_heldout_loss=h, best_step=state.step)
                export_best(model, run, o.out, meta)
        bar.update(int(state.elapsed_s) - before, loss=loss, step=state.step)
        if state.step % o.save_every == 0:
            _save(run, model, opt, recipe, state, meta)
    bar.close()
    _save(run, model, opt, recipe, state, meta)
    meta.update(steps=state.step, tokens=state.tokens, minutes=round(state.elapsed_s / 60, 2))
    write_summary(o.out, meta)


def _save(run: Path, model, opt, recipe, state, meta) -> None:
    save_checkpoint(run, model, opt, recipe, state)
    (run / "tune.json").write_text(json.dumps(meta, indent=1))
