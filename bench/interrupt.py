"""How long a keystroke waits for background work that it makes useless.

While the user is idle the server computes ahead: the suggestion after the shown one
(`lsp_server/lookahead.py`, decode steps) and the prompt of the prefix window's next
position (`model.generate.extend`, 32-token passes). A keystroke stops that work, but it
can only start its own once the pass in progress has ended. The engine now asks
`should_stop()` before each block of a pass (`KVCache.interruptible`), so the wait is
at most a block's time; before, it was the rest of a decode step or an extend chunk.

Both are measured in one run, on the same model and the same prompt, alternating: a
timer sets the stop flag at a random moment within the work, and the wait is the time
from the flag to the work's return. "Between passes" is the old rule, reproduced by
checking the flag only between decode steps (a caller that closes the generator after
a yield) or between extend chunks (one `extend` call per chunk).

    python -m bench.interrupt [--shapes bundled,tiny_starcoder_py] [--trials 40]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from bench.latency import random_model
from lsp_server.backends.engine import Engine
from model.generate import EXTEND_CHUNK, extend, generate, new_cache
from model.progress import Progress
from training.corpus import stdlib_root

PROMPT_TOKENS = 1200
AHEAD_TOKENS = 256  # what `extend` computes ahead: several chunks
DECODE_TOKENS = 16


def stopped_after(work: Callable[[Callable[[], bool]], None], delay_s: float) -> float:
    """Run `work(should_stop)` with the flag set `delay_s` in; seconds from the flag to
    the work's end (0 when it ended before the flag)."""
    flag = threading.Event()
    raised_at: list[float] = []

    def fire() -> None:
        raised_at.append(time.perf_counter())
        flag.set()

    timer = threading.Timer(delay_s, fire)
    timer.start()
    work(flag.is_set)
    end = time.perf_counter()
    timer.cancel()
    return max(0.0, end - raised_at[0]) if raised_at else 0.0


def decode_work(lm, cache, prompt: list[int], per_block: bool):
    def work(should_stop: Callable[[], bool]) -> None:
        cache.truncate(len(prompt) - 1)
        tokens = generate(
            lm, prompt, DECODE_TOKENS, cache=cache, should_stop=should_stop if per_block else None
        )
        for _ in tokens:
            if not per_block and should_stop():
                tokens.close()  # the old rule: the step in progress ran to its end
                return

    return work


def extend_work(lm, cache, prompt: list[int], ahead: list[int], per_block: bool):
    def work(should_stop: Callable[[], bool]) -> None:
        cache.truncate(len(prompt))
        if per_block:
            extend(lm, cache, ahead, should_stop)
            return
        for end in range(len(prompt) + EXTEND_CHUNK, len(ahead) + EXTEND_CHUNK, EXTEND_CHUNK):
            if should_stop():
                return
            extend(lm, cache, ahead[:end])

    return work


def duration(work) -> float:
    t0 = time.perf_counter()
    work(lambda: False)
    return time.perf_counter() - t0


def measure(shape: str, trials: int, rng: random.Random) -> dict:
    engine = Engine.load(None if shape == "bundled" else random_model(shape), threads=1)
    lm = engine.lm
    text = (stdlib_root() / "ast.py").read_text()
    ids = engine.tokens.encode(text)
    prompt, ahead = ids[:PROMPT_TOKENS], ids[: PROMPT_TOKENS + AHEAD_TOKENS]
    cache = new_cache(lm, len(ahead) + DECODE_TOKENS + 1)
    extend(lm, cache, prompt)
    result: dict = {"shape": shape, "layers": lm.config.n_layer, "trials": trials}
    for name, make in (
        ("decode", lambda per_block: decode_work(lm, cache, prompt, per_block)),
        ("extend", lambda per_block: extend_work(lm, cache, prompt, ahead, per_block)),
    ):
        total = duration(make(False))
        waits: dict[str, list[float]] = {"between_passes": [], "per_block": []}
        bar = Progress(trials, f"{shape} {name}")
        for t in range(trials):
            delay = rng.uniform(0.05, 0.95) * total
            for per_block in (t % 2 == 0, t % 2 == 1):  # alternate which goes first
                key = "per_block" if per_block else "between_passes"
                waits[key].append(stopped_after(make(per_block), delay) * 1000)
            bar.update(1)
        bar.close()
        old, new = (statistics.median(waits[k]) for k in ("between_passes", "per_block"))
        result[name] = {
            "work_ms": total * 1000,
            "wait_ms": waits,
            "median_between_passes_ms": old,
            "median_per_block_ms": new,
            "p95_between_passes_ms": _p95(waits["between_passes"]),
            "p95_per_block_ms": _p95(waits["per_block"]),
        }
        print(
            f"{shape} {name}: the work takes {total * 1000:.0f} ms; a stop waits {old:.1f} ms "
            f"(between passes) vs {new:.1f} ms (per block), median",
            file=sys.stderr,
        )
    return result


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--shapes", default="bundled,tiny_starcoder_py")
    p.add_argument("--trials", type=int, default=40)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path("docs/results/interrupt.json"))
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    results = [measure(shape, args.trials, rng) for shape in args.shapes.split(",")]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
