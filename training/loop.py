"""The optimisation: learning-rate schedule, AdamW, autocast by hardware, one step, the
held-out loss, and the loop that runs steps until the schedule or the session ends."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from model.modeling import GPTBigCodeForCausalLM
from model.progress import Progress

from .data import EpochFeed
from .recipe import Options, Recipe, State, say


def lr_at(step: int, r: Recipe) -> float:
    step -= r.schedule_start
    length = r.max_steps - r.schedule_start
    if step < r.warmup_steps:
        return r.lr * (step + 1) / r.warmup_steps
    progress = min(1.0, (step - r.warmup_steps) / max(1, length - r.warmup_steps))
    return r.min_lr + 0.5 * (r.lr - r.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: GPTBigCodeForCausalLM, r: Recipe) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": r.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    fused = next(model.parameters()).device.type == "cuda"  # one kernel per step on a GPU
    return torch.optim.AdamW(groups, lr=r.lr, betas=(0.9, 0.95), eps=1e-8, fused=fused)


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def choose_amp(amp: str, device: str, flags: set[str] | None = None) -> str:
    """The autocast mode for `amp="auto"`: bf16 where the hardware computes it natively
    (CUDA, or a CPU with AVX-512 BF16 or AMX), else none. On an AVX2-only CPU bf16
    autocast made a training step 25x slower than fp32: it is emulated there."""
    if amp != "auto":
        return "bf16" if amp in ("bf16", "bfloat16") else "none"
    if torch.device(device).type == "cuda":
        return "bf16"
    flags = cpu_flags() if flags is None else flags
    return "bf16" if flags & {"avx512_bf16", "amx_bf16"} else "none"


def autocast(device: str, amp: str):
    """bf16 autocast roughly doubles CPU training speed on chips with AVX-512 BF16; the
    weights, optimizer state and loss stay in fp32. `amp` is already resolved."""
    enabled = amp == "bf16"
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled)


@torch.no_grad()
def evaluate(model: GPTBigCodeForCausalLM, batches: torch.Tensor) -> float:
    model.eval()
    losses = [model(b, labels=b).loss.item() for b in batches]  # fp32: comparable across runs
    model.train()
    return sum(losses) / len(losses)


def step(model, opt, x: torch.Tensor, lr: float, clip: float, device: str, amp: str) -> float:
    """One optimizer step on batch x (B, T); returns the loss."""
    for g in opt.param_groups:
        g["lr"] = lr
    with autocast(device, amp):
        loss = model(x, labels=x).loss
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return loss.item()


# --- the loop ------------------------------------------------------------------------

HISTORY_EVERY = 20  # steps between points of the loss curve (and at every evaluation)
LOSS_EMA = 0.95  # smoothing of the training loss shown and recorded


@dataclass
class Run:
    """One session's working set: where it saves, what it trains, how."""

    directory: Path
    model: GPTBigCodeForCausalLM
    opt: torch.optim.AdamW
    recipe: Recipe
    state: State
    options: Options
    amp: str  # resolved autocast mode (see choose_amp)


class FitClock:
    """`--fit-minutes`: time a stretch of steps early in the session, then set max_steps
    so that the whole schedule (the cosine's tail included) ends inside the time given.
    The first steps are left out of the measurement: they pay for allocations (and, on
    a GPU, kernel selection) that later steps do not."""

    SKIP = 10  # steps of this session before timing starts
    MEASURE = 30  # steps timed
    MARGIN = 0.97  # of the time left: the final checkpoint and evaluation come after

    def __init__(self, minutes: float | None, start_step: int) -> None:
        self.minutes = minutes
        self.begin = start_step + self.SKIP
        self.end = self.begin + self.MEASURE
        self.session_t0 = time.monotonic()
        self.timed_t0: float | None = None

    def after_step(self, recipe: Recipe, state: State) -> bool:
        """Call after each step; True when it has just set `recipe.max_steps`."""
        if not self.minutes:
            return False
        if state.step == self.begin:
            self.timed_t0 = time.monotonic()
        if state.step != self.end or self.timed_t0 is None:
            return False
        steps_per_s = self.MEASURE / (time.monotonic() - self.timed_t0)
        left = self.minutes * 60 - (time.monotonic() - self.session_t0)
        fit_schedule(recipe, state, steps_per_s, self.MARGIN * left)
        return True


def fit_schedule(recipe: Recipe, state: State, steps_per_s: float, seconds_left: float) -> None:
    """Set max_steps so that the run (its cosine included) ends in `seconds_left`."""
    recipe.max_steps = state.step + max(1, int(seconds_left * steps_per_s))
    say(f"fit: {steps_per_s:.2f} steps/s -> max_steps {recipe.max_steps}")


def loop(r: Run, feed: EpochFeed, evals: dict, save: Callable[[Run], None]) -> None:
    """Train until the schedule ends or the session's minutes or steps run out, saving
    with `save(run)` every `save_every` steps and at the end."""
    recipe, state, o = r.recipe, r.state, r.options
    batches = feed.get(state.epoch)
    bar = Progress(recipe.max_steps, "train", start=state.step)
    session_t0, elapsed0 = time.monotonic(), state.elapsed_s
    deadline = session_t0 + o.minutes * 60 if o.minutes else None
    fit = FitClock(o.fit_minutes, state.step)
    session_end = state.step + o.session_steps if o.session_steps is not None else None
    loss_ema = None
    while state.step < min(recipe.max_steps, session_end or recipe.max_steps):
        if deadline is not None and time.monotonic() >= deadline:
            break
        if state.batch_in_epoch >= len(batches):
            state.epoch, state.batch_in_epoch = state.epoch + 1, 0
            batches = feed.get(state.epoch)
        x = batches[state.batch_in_epoch].to(o.device)
        loss = step(r.model, r.opt, x, lr_at(state.step, recipe), recipe.grad_clip, o.device, r.amp)
        state.step += 1
        state.batch_in_epoch += 1
        state.tokens += x.numel()
        state.elapsed_s = elapsed0 + time.monotonic() - session_t0
        loss_ema = loss if loss_ema is None else LOSS_EMA * loss_ema + (1 - LOSS_EMA) * loss
        tok_s = int(state.tokens / max(state.elapsed_s, 1e-9))
        bar.update(1, loss=loss_ema, tok_s=tok_s, epoch=state.epoch)
        record(r, evals, loss_ema)
        if fit.after_step(recipe, state):
            bar.total = recipe.max_steps
        if state.step % o.save_every == 0:
            save(r)
    bar.close()
    save(r)


def record(r: Run, evals: dict, loss_ema: float) -> None:
    """A point of the loss curve every HISTORY_EVERY steps, with the held-out losses at
    every evaluation."""
    state = r.state
    point = None
    if state.step % r.options.eval_every == 0 or state.step == r.recipe.max_steps:
        point = {name: evaluate(r.model, b) for name, b in evals.items()}
    if state.step % HISTORY_EVERY == 0 or point:
        state.history.append(
            {
                "step": state.step,
                "tokens": state.tokens,
                "elapsed_s": round(state.elapsed_s, 1),
                "train_loss": round(loss_ema, 4),
                **(point or {}),
            }
        )
