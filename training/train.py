"""Train a small GPTBigCode with FIM on Python source, resumably.

    python -m training.train --out runs/bundled --minutes 60      # start, or resume
    python -m training.train --out runs/bundled --export model/bundled

The run directory holds `checkpoint/` (weights and AdamW moments as safetensors, the
step, data position and history as JSON: no pickle) and is resumed automatically, with
the same data order, until `--max-steps`. Every epoch re-draws the FIM cuts with a seed
derived from (seed, epoch), so repeated epochs see new prefix/middle/suffix splits.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import random
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from fim.formats import STARCODER
from fim.healing import Vocabulary, heal_boundary
from fim.transform import fim_transform
from model.config import GPTBigCodeConfig
from model.loading import load_tokenizer, save_model, token_starts, token_texts
from model.modeling import GPTBigCodeForCausalLM
from model.progress import Progress

from .context import documents
from .corpus import STDLIB, SourceFile, chunk_text, load_split, read_pack
from .packages import fetch, packages_of
from .tokenizer import train_tokenizer


@dataclass
class Recipe:
    vocab_size: int = 8192
    n_embd: int = 256
    n_layer: int = 6
    n_head: int = 8
    n_positions: int = 2048
    seq_len: int = 2048
    batch_size: int = 4
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup_steps: int = 100
    max_steps: int = 3600
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    fim_rate: float = 0.5
    spm_rate: float = 0.5
    line_fim_rate: float = 0.0  # share of FIM examples cut where an editor's cursor sits
    schedule_start: int = 0  # step where warmup + cosine begin (a later training phase)
    chunk_chars: int = 6000
    dropout: float = 0.0
    seed: int = 1234
    eval_windows: int = 16
    amp: str = "auto"  # autocast for forward/backward: auto (by CPU), bf16 or none (fp32)
    corpus: str = "stdlib"  # a name in training/packages.py's CORPORA
    stdlib_weight: int = 1  # with packages: each stdlib chunk appears this often per epoch
    context_rate: float = 0.0  # share of chunks with other files' snippets ahead (context.py)


@dataclass
class State:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    tokens: int = 0
    elapsed_s: float = 0.0
    history: list[dict] = field(default_factory=list)


# --------------------------------------------------------------------------------------
# Data


def healing_boundary(tokenizer) -> Callable[[str], int]:
    """The server's token-healing cut (fim/healing.py) with this tokenizer."""
    vocab = Vocabulary(token_texts(tokenizer))
    return lambda text: heal_boundary(text, lambda t: token_starts(tokenizer, t), vocab)


def encode_documents(
    tokenizer, documents: list, rng: random.Random, recipe: Recipe, fmt=STARCODER
) -> list[int]:
    """FIM-transform each document, tokenize each piece on its own, join with the format's
    end-of-text token (`fmt`: the model's FIM tokens, StarCoder's for our own models)."""
    eot = tokenizer.token_to_id(fmt.eot)
    special = {t: tokenizer.token_to_id(t) for t in fmt.special_tokens}
    boundary = healing_boundary(tokenizer) if recipe.line_fim_rate else None
    docs = []
    for d in documents:
        snippets, text = d if isinstance(d, tuple) else ((), d)
        pieces = [p for snippet in snippets for p in (snippet, fmt.eot)]
        cut = fim_transform(
            text, rng, recipe.fim_rate, recipe.spm_rate, recipe.line_fim_rate, boundary
        )
        docs.append(pieces + cut.pieces(fmt))
    texts = [p for pieces in docs for p in pieces if p not in special]
    encoded = iter(tokenizer.encode_batch(texts, add_special_tokens=False))
    stream: list[int] = []
    for pieces in docs:
        for p in pieces:
            stream.extend([special[p]] if p in special else next(encoded).ids)
        stream.append(eot)
    return stream


def windows(stream: list[int], seq_len: int) -> torch.Tensor:
    n = len(stream) // seq_len
    return torch.tensor(stream[: n * seq_len], dtype=torch.long).view(n, seq_len)


def epoch_batches(
    tokenizer, chunks: list[str], recipe: Recipe, epoch: int, fmt=STARCODER
) -> torch.Tensor:
    """All batches of one epoch, (n_batches, B, T), fixed by (seed, epoch)."""
    rng = random.Random(recipe.seed * 1_000_003 + epoch)
    order = list(chunks)
    rng.shuffle(order)
    w = windows(encode_documents(tokenizer, order, rng, recipe, fmt), recipe.seq_len)
    w = w[torch.randperm(len(w), generator=torch.Generator().manual_seed(recipe.seed + epoch))]
    n = len(w) // recipe.batch_size
    return w[: n * recipe.batch_size].view(n, recipe.batch_size, recipe.seq_len)


@functools.lru_cache(maxsize=1)
def _pack(path: Path) -> tuple[str, list[SourceFile]]:
    return read_pack(path)


def corpus_files(
    split: str, recipe: Recipe, wheels: Path | None = None, pack: Path | None = None
) -> list[SourceFile]:
    """The files of one split of the recipe's corpus: from a corpus pack when given
    (training/corpus.py), else from this interpreter's stdlib and `wheels`."""
    if pack is not None:
        name, files = _pack(pack)
        if name != recipe.corpus:
            raise SystemExit(f"{pack} holds corpus {name!r}, the recipe wants {recipe.corpus!r}")
        return [f for f in files if f.split == split]
    chosen = packages_of(recipe.corpus)
    if not chosen:
        return load_split(split)
    return load_split(split, wheels=wheels, packages=chosen)


def load_chunks(
    split: str, recipe: Recipe, wheels: Path | None = None, pack: Path | None = None
) -> list:
    """Chunks of one split (some with repository snippets ahead, see context.py); with a
    packages corpus, `wheels` holds their wheels."""
    files = corpus_files(split, recipe, wheels, pack)
    weight = {STDLIB: recipe.stdlib_weight}
    if recipe.context_rate:
        return documents(files, recipe.chunk_chars, recipe.context_rate, recipe.seed, weight)
    return [
        c
        for f in files
        for c in chunk_text(f.text, recipe.chunk_chars)
        for _ in range(weight.get(f.origin, 1))
    ]


def heldout_sets(
    recipe: Recipe, wheels: Path | None, pack: Path | None = None
) -> dict[str, list[str]]:
    """Held-out chunks by name: `eval_loss` is always the stdlib's (curves stay comparable
    across corpus versions); a packages corpus adds its held-out packages."""
    files = corpus_files("heldout", recipe, wheels, pack)

    def chunks(keep) -> list[str]:
        return [c for f in files if keep(f) for c in chunk_text(f.text, recipe.chunk_chars)]

    sets = {"eval_loss": chunks(lambda f: f.origin == STDLIB)}
    if packages_of(recipe.corpus):
        sets["eval_loss_packages"] = chunks(lambda f: f.origin != STDLIB)
    return sets


# --------------------------------------------------------------------------------------
# Optimisation


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


# --------------------------------------------------------------------------------------
# Checkpoints (safetensors + JSON)


def save_checkpoint(run: Path, model, opt, recipe: Recipe, state: State) -> None:
    from safetensors.torch import save_file

    ckpt = run / "checkpoint"
    tmp = run / "checkpoint.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    save_model(model, tmp)
    names = {id(p): n for n, p in model.named_parameters()}
    moments = {}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                moments[f"{names[id(p)]}.exp_avg"] = st["exp_avg"].contiguous()
                moments[f"{names[id(p)]}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
    save_file(moments, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(
        json.dumps({"recipe": asdict(recipe), "state": asdict(state)}, indent=1)
    )
    if ckpt.exists():
        old = run / "checkpoint.old"
        ckpt.rename(old)
        tmp.rename(ckpt)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(ckpt)


def load_checkpoint(
    run: Path, device: str
) -> tuple[GPTBigCodeForCausalLM, torch.optim.AdamW, Recipe, State]:
    from safetensors.torch import load_file

    ckpt = run / "checkpoint"
    saved = json.loads((ckpt / "state.json").read_text())
    recipe = Recipe(**saved["recipe"])
    state = State(**saved["state"])
    # fp32 master weights on every device (a GPU's loading default would be bf16)
    model = GPTBigCodeForCausalLM.from_pretrained(ckpt, dtype=torch.float32, device=device)
    model.train()
    opt = make_optimizer(model, recipe)
    moments = load_file(str(ckpt / "optimizer.safetensors"), device=device)
    for name, p in model.named_parameters():
        if f"{name}.exp_avg" in moments:
            opt.state[p] = {
                "step": torch.tensor(float(state.step)),
                "exp_avg": moments[f"{name}.exp_avg"],
                "exp_avg_sq": moments[f"{name}.exp_avg_sq"],
            }
    return model, opt, recipe, state


# --------------------------------------------------------------------------------------
# Main loop


def new_model(recipe: Recipe, vocab_size: int) -> GPTBigCodeForCausalLM:
    config = GPTBigCodeConfig(
        vocab_size=vocab_size,
        n_positions=recipe.n_positions,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        resid_pdrop=recipe.dropout,
        embd_pdrop=recipe.dropout,
        attn_pdrop=recipe.dropout,
        bos_token_id=0,
        eos_token_id=0,
        multi_query=True,
    )
    torch.manual_seed(recipe.seed)
    return GPTBigCodeForCausalLM(config)


@dataclass
class Options:
    """How to run a session (not part of the recipe: never saved, free to change)."""

    minutes: float | None = None
    device: str = "cpu"
    eval_every: int = 200
    save_every: int = 100
    session_steps: int | None = None
    init_from: Path | None = None
    overrides: dict = field(default_factory=dict)
    restart_schedule: bool = False
    wheels: Path | None = None  # wheels of the packages corpus (fetched when missing)
    pack: Path | None = None  # the corpus as one file (training/corpus.py), instead of wheels
    data_workers: int = 0  # processes preparing later epochs while this one trains
    fit_minutes: float | None = None  # set max_steps from the measured speed to end in time


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
    train_chunks = load_chunks("train", recipe, wheels, o.pack)
    evals = eval_batches(tokenizer, recipe, wheels, o.device, o.pack)
    loop(run, model, opt, recipe, state, tokenizer, train_chunks, evals, amp, o)
    return state


def say(message: str) -> None:
    print(message, file=sys.stderr)


def run_tokenizer(run: Path, recipe: Recipe):
    tok_file = run / "tokenizer.json"
    if not tok_file.exists():
        say(f"training a {recipe.vocab_size}-token BPE on the train split")
        texts = (f.text for f in load_split("train"))
        train_tokenizer(texts, recipe.vocab_size).save(str(tok_file))
    return load_tokenizer(tok_file)


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


def eval_batches(
    tokenizer, recipe: Recipe, wheels: Path | None, device: str, pack: Path | None = None
) -> dict:
    """Fixed held-out batches per held-out set, one FIM mixture whatever the phase."""
    eval_recipe = replace(recipe, fim_rate=0.5, spm_rate=0.5, line_fim_rate=0.0)
    out = {}
    for name, chunks in heldout_sets(recipe, wheels, pack).items():
        stream = encode_documents(tokenizer, chunks, random.Random(recipe.seed), eval_recipe)
        w = windows(stream, recipe.seq_len)[: recipe.eval_windows]
        out[name] = w.to(device).split(recipe.batch_size)
    return out


class EpochFeed:
    """The batches of each epoch. With `workers`, the next epochs are tokenized in worker
    processes while this one trains (a GPU outruns one CPU core's FIM transform and
    tokenizer); the batches are the same either way, fixed by (seed, epoch). The workers
    are spawned, not forked: a child forked after the parent ran OpenMP can hang."""

    def __init__(self, tokenizer, chunks: list, recipe: Recipe, workers: int = 0):
        self.args, self.workers = (tokenizer, chunks, recipe), workers
        self.pool, self.pending = None, {}
        if workers:
            import concurrent.futures
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_feed,
                initargs=(tokenizer.to_str(), chunks, recipe),
            )

    def get(self, epoch: int) -> torch.Tensor:
        if self.pool is None:
            return epoch_batches(*self.args, epoch)
        for e in range(epoch, epoch + self.workers + 1):
            if e not in self.pending:
                self.pending[e] = self.pool.submit(_feed_epoch, e)
        return torch.from_numpy(self.pending.pop(epoch).result()).long()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


_FEED_ARGS = None


def _init_feed(tokenizer_json: str, chunks: list, recipe: Recipe) -> None:
    from tokenizers import Tokenizer

    global _FEED_ARGS
    torch.set_num_threads(1)  # the workers share the CPU with each other
    _FEED_ARGS = (Tokenizer.from_str(tokenizer_json), chunks, recipe)


def _feed_epoch(epoch: int):
    return epoch_batches(*_FEED_ARGS, epoch).to(torch.int32).numpy()  # a quarter of the bytes


def fit_schedule(recipe: Recipe, state: State, steps_per_s: float, seconds_left: float) -> None:
    """Set max_steps so that the run (its cosine included) ends in `seconds_left`."""
    recipe.max_steps = state.step + max(1, int(seconds_left * steps_per_s))
    say(f"fit: {steps_per_s:.2f} steps/s -> max_steps {recipe.max_steps}")


def loop(run, model, opt, recipe, state, tokenizer, train_chunks, evals, amp, o: Options):
    feed = EpochFeed(tokenizer, train_chunks, recipe, o.data_workers)
    batches = feed.get(state.epoch)
    bar = Progress(recipe.max_steps, "train", start=state.step)
    session_t0, session_elapsed0 = time.monotonic(), state.elapsed_s
    deadline = session_t0 + o.minutes * 60 if o.minutes else None
    loss_ema = None
    stop_step = recipe.max_steps
    if o.session_steps is not None:
        stop_step = min(stop_step, state.step + o.session_steps)
    fit_at, fit_t0 = state.step + 40, None  # measure steps 10..40 of this session
    while state.step < stop_step and (deadline is None or time.monotonic() < deadline):
        if state.batch_in_epoch >= len(batches):
            state.epoch += 1
            state.batch_in_epoch = 0
            batches = feed.get(state.epoch)
        x = batches[state.batch_in_epoch].to(o.device)
        loss = step(model, opt, x, lr_at(state.step, recipe), recipe.grad_clip, o.device, amp)
        state.step += 1
        state.batch_in_epoch += 1
        state.tokens += x.numel()
        state.elapsed_s = session_elapsed0 + time.monotonic() - session_t0
        loss_ema = loss if loss_ema is None else 0.95 * loss_ema + 0.05 * loss
        tok_s = int(state.tokens / max(state.elapsed_s, 1e-9))
        bar.update(1, loss=loss_ema, tok_s=tok_s, epoch=state.epoch)
        point = None
        if state.step % o.eval_every == 0 or state.step == recipe.max_steps:
            point = {name: evaluate(model, b) for name, b in evals.items()}
        if state.step % 20 == 0 or point:
            state.history.append(
                {
                    "step": state.step,
                    "tokens": state.tokens,
                    "elapsed_s": round(state.elapsed_s, 1),
                    "train_loss": round(loss_ema, 4),
                    **(point or {}),
                }
            )
        if o.fit_minutes and state.step == fit_at - 30:
            fit_t0 = time.monotonic()
        if o.fit_minutes and state.step == fit_at and fit_t0 is not None:
            left = o.fit_minutes * 60 - (time.monotonic() - session_t0)
            fit_schedule(recipe, state, 30 / (time.monotonic() - fit_t0), 0.97 * left)
            stop_step = recipe.max_steps
            bar.total = recipe.max_steps
        if state.step % o.save_every == 0:
            save_checkpoint(run, model, opt, recipe, state)
    bar.close()
    feed.close()
    save_checkpoint(run, model, opt, recipe, state)


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


# The shape an exported model keeps when a run is seeded from it; the context alone may grow.
SHAPE = ("vocab_size", "n_embd", "n_layer", "n_head")
CORPUS_NOTES = {
    "stdlib": "Python standard library (held-out split by path hash, see training/corpus.py)",
    "stdlib+packages": "Python standard library and pinned permissive packages "
    "(training/packages.py; whole packages held out)",
}


def seed_run(
    run: Path, exported: Path, device: str, overrides: dict, restart_schedule: bool
) -> None:
    """Make `run` a checkpoint of the exported model (fresh optimizer state)."""
    summary = json.loads((exported / "training.json").read_text())
    recipe = Recipe(**summary["recipe"])
    state = State(**summary["state"])
    changed = [k for k in SHAPE if k in overrides and overrides[k] != getattr(recipe, k)]
    if changed:
        raise SystemExit(f"--init-from keeps the model's shape; cannot change {', '.join(changed)}")
    if overrides.get("n_positions", recipe.n_positions) < recipe.n_positions:
        raise SystemExit("--init-from can lengthen the context, not shorten it")
    data = ("corpus", "stdlib_weight", "context_rate", "seq_len", "chunk_chars", "batch_size")
    if any(k in overrides and overrides[k] != getattr(recipe, k) for k in data):
        state.batch_in_epoch = 0  # other data: the saved position in the epoch means nothing
    recipe = replace(recipe, **overrides)
    if restart_schedule:
        recipe.schedule_start = state.step
    if recipe.max_steps <= state.step:
        raise SystemExit(f"--max-steps must exceed the seeded step {state.step}")
    model = GPTBigCodeForCausalLM.from_pretrained(exported, dtype=torch.float32, device=device)
    if recipe.n_positions > model.config.n_positions:
        model = extend_context(model, recipe.n_positions)
    model.train()
    (run / "tokenizer.json").write_text((exported / "tokenizer.json").read_text())
    save_checkpoint(run, model, make_optimizer(model, recipe), recipe, state)
    say(f"seeded {run} from {exported} at step {state.step}")


def extend_context(model: GPTBigCodeForCausalLM, n_positions: int) -> GPTBigCodeForCausalLM:
    """A copy of `model` with `n_positions` learned positions, the new table stretched from
    the old by linear interpolation (position i takes old position i * (n_old - 1) /
    (n_new - 1)): neighbouring positions keep similar embeddings, so training adapts the
    longer context instead of learning it from noise."""
    old = model.transformer.wpe.weight.detach()  # (n_old, D)
    n_old = old.shape[0]
    where = torch.linspace(0, n_old - 1, n_positions, dtype=torch.float64)
    lo = where.floor().long().clamp(max=n_old - 1)
    hi = (lo + 1).clamp(max=n_old - 1)
    frac = (where - lo).to(old.dtype)[:, None]
    table = old[lo] * (1 - frac) + old[hi] * frac
    config = GPTBigCodeConfig.from_dict({**model.config.to_dict(), "n_positions": n_positions})
    bigger = GPTBigCodeForCausalLM(config).to(old.device)
    state = {k: v for k, v in model.state_dict().items() if k != "transformer.wpe.weight"}
    bigger.load_state_dict({**state, "transformer.wpe.weight": table}, strict=False)
    bigger.tie_weights()
    return bigger


def export(run: Path, out: Path, dtype: str = "float32") -> None:
    """Write the HF-style model directory that the server loads. Weights in float32, or
    `dtype` bfloat16 to ship half the bytes (the server computes in float32 on a CPU, and
    bfloat16 -> float32 is exact, so what loads is exactly what was written)."""
    ckpt = run / "checkpoint"
    saved = json.loads((ckpt / "state.json").read_text())
    model = GPTBigCodeForCausalLM.from_pretrained(ckpt, dtype=torch.float32, device="cpu")
    model = model.to(getattr(torch, dtype))
    model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = 0.0
    # Trained without StarCoder's <filename> headers: tell the server not to send them.
    model.config.extra["bigcode_ls"] = {"filename_header": False}
    save_model(model, out)
    (out / "tokenizer.json").write_text((run / "tokenizer.json").read_text())
    state = saved["state"]
    summary = {
        "recipe": saved["recipe"],
        "steps": state["step"],
        "tokens": state["tokens"],
        "cpu_hours": round(state["elapsed_s"] / 3600, 3),
        "final_eval_loss": next(
            (h["eval_loss"] for h in reversed(state["history"]) if "eval_loss" in h), None
        ),
        "history": state["history"],
        "corpus": CORPUS_NOTES.get(saved["recipe"].get("corpus", "stdlib"), ""),
        "state": state,  # lets `--init-from` continue the run elsewhere
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1) + "\n")


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
        "--steps", type=int, default=None, help="stop (and checkpoint) after this many steps"
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
        session_steps=args.steps,
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
