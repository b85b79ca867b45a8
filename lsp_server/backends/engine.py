"""A loaded model and its tokenizer, as the server sees them: strings and token ids.

With `tokens.py` (the tokenizer), the server's only door into `model/`; it hands out
opaque cache objects and never exposes tensors to the rest of the server.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model import GPTBigCodeForCausalLM, ModelLoadError, set_threads
from model.branching import first_deviations, greedy_branches
from model.generate import GenerationStats, extend, generate, new_cache
from model.packed import onednn_problem, pack_linears, parameter_count
from model.quantize import wide_passes
from model.scoring import continuation_logprobs

from ..checkpoints import resolve_model
from .tokens import Tokens

log = logging.getLogger("bigcode_ls")


def bundled_model_path() -> Path:
    """The model shipped inside the `model` package (package data)."""
    import model

    return Path(model.__file__).resolve().parent / "bundled"


def usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


# From this size up, int8 weights decode 2x (AVX2) to 5x (AVX-512) faster than fp32 and
# prefill faster too; below it, prefill loses more than decoding gains (docs/benchmarks.md).
AUTO_INT8_PARAMETERS = 100_000_000


def auto_int8(lm) -> bool:
    """`quantize = "auto"`: int8 weight-only for a large float32 model on a CPU."""
    return (
        lm.device.type == "cpu"
        and str(lm.dtype) == "torch.float32"  # the server never touches torch itself
        and lm.num_parameters() >= AUTO_INT8_PARAMETERS
    )


def to_int8(lm, wide: bool) -> None:
    """Make the linears int8, with bf16 copies for wide passes when `wide` is asked for,
    the CPU multiplies bf16 natively and the copies (2 bytes a weight) fit in half the
    memory the system has left."""
    from model.quantize import native_bf16, quantize_int8, wide_bytes

    n = parameter_count(lm) / 1e6  # before: int8 weights are buffers, not parameters
    keep = wide and native_bf16() and wide_bytes(lm) <= available_bytes() // 2
    quantize_int8(lm, wide=keep)
    log.info("int8 weights (%.0fM parameters); bf16 copies for wide passes: %s", n, keep)


def available_bytes() -> int:
    """Memory the system can give (Linux's MemAvailable); unknown: no limit."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def pack_for_cpu(lm) -> None:
    """The float32 linears on oneDNN's packed weights (`model/packed.py`), where it runs."""
    problem = onednn_problem()
    if problem:
        log.info("packed linears: off (%s)", problem)
        return
    log.info("packed linears: %d float32 layers on oneDNN's packed weights", pack_linears(lm))


def default_threads(cpus: int) -> int:
    """Threads for `threads = 0`: half the usable CPUs, at least one. An editor's machine
    is rarely idle (the editor, a build, a browser), and OpenMP threads that must meet at
    every barrier slow down 10-100x when another process takes one of their cores; one
    thread per two CPUs leaves room and loses little on a small model (docs/benchmarks.md,
    "Under load")."""
    return max(1, cpus // 2)


@dataclass
class Generation:
    """A running generation: new token ids as they come, and (once the first has come)
    how many prompt tokens were taken from the cache rather than computed."""

    tokens: Iterator[int]
    stats: GenerationStats = field(default_factory=GenerationStats)

    @property
    def reused_tokens(self) -> int:
        return self.stats.reused_tokens


@dataclass
class Engine:
    lm: Any
    tokens: Tokens
    path: Path
    options: dict  # the model directory's optional "bigcode_ls" config block
    stop_ids: frozenset[int] = frozenset()  # set from the tokenizer and config if empty
    bundled: bool = field(init=False, default=False)  # the demonstration model serves

    def __post_init__(self) -> None:
        self.bundled = self.path.resolve() == bundled_model_path()
        if not self.stop_ids:
            eos = self.lm.config.eos_token_id
            eos_ids = set(eos) if isinstance(eos, list) else {eos} if eos is not None else set()
            self.stop_ids = self.tokens.special_ids | eos_ids
        # a config's end-of-text id past the model's rows (HF's default 50256 kept under a
        # smaller vocabulary) can never be generated, and indexing with it fails
        self.stop_ids = frozenset(i for i in self.stop_ids if 0 <= i < self.lm.config.vocab_size)

    @classmethod
    def load(
        cls,
        path: str | Path | None,
        device: str = "auto",
        dtype: str = "auto",
        threads: int = 0,
        quantize: str = "none",
        report: Callable[[str, int], None] = lambda message, percent: None,
        packed: bool = True,
        wide: bool = True,
    ) -> Engine:
        """Load weights and tokenizer; `report(message, percent)` tracks progress."""
        path = resolve_model(path) if path else bundled_model_path()
        if not path.is_dir():
            raise ModelLoadError(f"model directory not found: {path}")
        cpus = usable_cpus()
        if not threads:
            threads = default_threads(cpus)
            log.info(
                "threads: %d of %d usable CPUs (setting threads = 0: automatic)", threads, cpus
            )
        elif threads > cpus:  # more threads than CPUs only slows a small model down
            log.warning("threads %d is more than the %d CPUs: using %d", threads, cpus, cpus)
            threads = cpus
        set_threads(threads)
        report("reading tokenizer", 5)
        tokens = Tokens.load(path)
        report("loading weights", 20)
        int8 = quantize == "int8"
        lm = GPTBigCodeForCausalLM.from_pretrained(
            path,
            dtype=dtype,
            device=device,
            quantize=None if quantize == "auto" or int8 else quantize,
        )
        if int8 and lm.device.type != "cpu":
            raise ModelLoadError("quantize=int8 is for CPU inference; on CUDA use bfloat16")
        if int8 or (quantize == "auto" and auto_int8(lm)):
            to_int8(lm, wide)
        if packed and lm.device.type == "cpu":
            pack_for_cpu(lm)
        if lm.config.vocab_size < tokens.size:
            raise ModelLoadError(
                f"{path}: tokenizer has {tokens.size} tokens but the model only {lm.config.vocab_size}"
            )
        options = lm.config.extra.get("bigcode_ls") or {}
        engine = cls(lm, tokens, path, options if isinstance(options, dict) else {})
        report("warming up", 90)
        list(
            engine.generate([0], 1).tokens
        )  # first-call allocations happen here, not on a keystroke
        report("ready", 100)
        return engine

    @property
    def fim_override(self) -> dict | None:
        """A model directory may name its FIM tokens in config.json under "fim"."""
        fim = self.lm.config.extra.get("fim")
        return fim if isinstance(fim, dict) else None

    @property
    def context_size(self) -> int:
        return self.lm.config.n_positions

    @property
    def description(self) -> str:
        c = self.lm.config
        params = parameter_count(self.lm) / 1e6
        weights = str(self.lm.dtype)
        if c.extra.get("quantized") == "int8":
            weights = "int8, bf16 for prompts" if wide_passes(self.lm) else "int8"
        return f"{self.path.name} ({params:.1f}M parameters, {c.n_layer} layers, context {c.n_positions}, {weights}, {self.lm.device})"

    # --- generation ------------------------------------------------------------------
    def new_cache(self, capacity: int) -> Any:
        return new_cache(self.lm, capacity)

    @staticmethod
    def cache_bytes(cache: Any) -> int:
        return cache.nbytes

    @staticmethod
    def reusable(cache: Any, prompt_ids: Sequence[int]) -> int:
        """How many of the prompt's tokens `cache` holds already."""
        return cache.reusable(prompt_ids)

    @staticmethod
    def forget(cache: Any) -> None:
        """Empty a cache (the next request computes its whole prompt)."""
        cache.truncate(0)

    def generate(
        self,
        prompt_ids: Sequence[int],
        max_new_tokens: int,
        *,
        cache: Any = None,
        should_stop: Callable[[], bool] | None = None,
        allowed_first_ids: Collection[int] | None = None,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        lookup: bool = False,
        constrain: Callable[[list[int]], Collection[int] | None] | None = None,
        file_ngrams: float = 0.0,
    ) -> Generation:
        stats = GenerationStats()
        tokens = generate(
            self.lm,
            prompt_ids,
            max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            stop_token_ids=self.stop_ids,
            cache=cache,
            should_stop=should_stop,
            allowed_first_ids=allowed_first_ids,
            seed=seed,
            stats=stats,
            lookup=lookup,
            constrain=constrain,
            file_ngrams=file_ngrams,
        )
        return Generation(tokens, stats)

    def extend(self, prompt_ids: Sequence[int], cache: Any, should_stop: Callable[[], bool]) -> int:
        """Compute `prompt_ids` into `cache` ahead of need (see `model.generate.extend`)."""
        return extend(self.lm, cache, prompt_ids, should_stop)

    def logprobs(
        self,
        prompt_ids: Sequence[int],
        continuations: Sequence[Sequence[int]],
        *,
        cache: Any,
        should_stop: Callable[[], bool] | None = None,
        end_ids: Collection[int] | None = None,
    ) -> list[float]:
        """Each continuation's log-probability after the prompt (and, with `end_ids`, of
        ending there), computed on a document's `cache`, which keeps the prompt (see
        `model.scoring.continuation_logprobs`)."""
        return continuation_logprobs(
            self.lm, cache, prompt_ids, continuations, should_stop, end_ids
        )

    def branches(
        self,
        prompt_ids: Sequence[int],
        greedy: Sequence[int],
        stats: GenerationStats,
        width: int,
        ends: Collection[int],
        max_tokens: int,
        *,
        cache: Any,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[list[int]]:
        """The `width` likeliest ways to leave the `greedy` tokens of a generation (whose
        `stats` hold each step's likeliest tokens), each continued greedily to a token in
        `ends`, decoded together on a document's `cache` (`model.branching`); [] when
        there is none or `should_stop()` turned true."""
        starts = first_deviations(greedy, stats.logprobs, stats.top, width)
        if not starts:
            return []
        found = greedy_branches(self.lm, cache, prompt_ids, starts, ends, max_tokens, should_stop)
        return found or []
