"""What a training run is: its recipe (saved with every checkpoint and exported model),
its state (where it stands), and the options of one session (never saved)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


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


def say(message: str) -> None:
    print(message, file=sys.stderr)
