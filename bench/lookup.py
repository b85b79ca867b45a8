"""Prompt-lookup decoding: decode speed with `promptLookup` on against off, same run.

Cases are line starts in held-out stdlib files, through the server's completion path
(SPM, token healing, multi-line suggestions of up to 64 tokens, one thread):

    edit-like  the line to write repeats, word for word, a line earlier in the file (the
               next test case, the next dict entry, a copied block being adapted)
    plain      any code line (most have nothing to copy)

Each case is asked twice with the document's cache on: the first request prefills the
prompt (its suggestion is then cut from the cache, so that the second cannot draft it
from the previous output), the second reuses the prompt and only decodes, and that one is
timed. Reported per
set: decode tokens/s off and on, the ratio, and whether every suggestion is identical.

    typing     a keystroke replay: the repeated line of an edit-like case typed key by
               key, a request after each with the product's default settings (single or
               multi-line as the cursor decides), the document's cache carrying over; each
               request timed whole (the typed character's prefill and the decode). Here
               the previous suggestion is a draft source too: typing what was suggested
               asks for the rest of it.

    python -m bench.lookup [--cases 60] [--rounds 3] [--typing 20] [--json docs/results/lookup.json]

The per-case sets run off and on alternately `--rounds` times; the round with the median
speed-up is reported, with every round's.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.settings import Settings
from model.progress import Progress
from training.corpus import load_split


def cases(n: int, seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """(prefix, suffix) pairs per set; the cursor at a line's indentation."""
    edit, plain = [], []
    for f in load_split("heldout"):
        if f.relpath.startswith("encodings/"):
            continue  # codec tables: repetition of a kind no editor sees
        lines = f.text.splitlines(keepends=True)
        seen: set[str] = set()
        offset = 0
        for line in lines:
            code = line.strip()
            indent = len(line) - len(line.lstrip())
            at = offset + indent
            if len(code) > 12 and not code.startswith("#"):
                pair = (f.text[:at], f.text[at:])
                (edit if code in seen else plain).append(pair)
                seen.add(code)
            offset += len(line)
    rng = random.Random(seed)
    return {"edit-like": rng.sample(edit, min(n, len(edit))), "plain": rng.sample(plain, n)}


class Tally:
    """Timed requests: tokens, seconds and suggestions, in order."""

    def __init__(self) -> None:
        self.tokens, self.seconds, self.texts = 0, 0.0, []

    def ask(self, service: CompletionService, request: CompletionRequest) -> None:
        t0 = time.perf_counter()
        done = service.complete_now(request)
        self.seconds += time.perf_counter() - t0
        self.tokens += done.generated_tokens
        self.texts.append(done.text)

    def result(self) -> dict:
        tok_s = self.tokens / self.seconds
        return {"tokens": self.tokens, "seconds": self.seconds, "tok_s": tok_s, "texts": self.texts}


def run(service: CompletionService, pairs: list[tuple[str, str]], label: str) -> dict:
    tally = Tally()
    bar = Progress(len(pairs), label)
    for i, (prefix, suffix) in enumerate(pairs):
        request = CompletionRequest(f"file:///lookup/{i}.py", 1, prefix, suffix)
        warm = service.complete_now(request)  # prefill
        # Keep only the prompt in the cache: the timed request must not draft this very
        # suggestion from the "previous output" (that is the typing set's business).
        service.backend.sessions.peek(request.uri).cache.truncate(warm.prompt_tokens - 1)
        tally.ask(service, request)  # the whole prompt reused: decode only
        bar.update(1)
    bar.close()
    return tally.result()


def typing_run(service: CompletionService, pairs: list[tuple[str, str]], label: str) -> dict:
    """Type each case's next line key by key, asking after every key."""
    tally = Tally()
    lines = [(p, s.split("\n", 1)) for p, s in pairs]
    bar = Progress(sum(len(line) + 1 for _, (line, _) in lines), label)
    for i, (prefix, (line, rest)) in enumerate(lines):
        for k in range(len(line) + 1):
            # The line is being written: the text after the cursor is the rest of the file.
            request = CompletionRequest(
                f"file:///typing/{i}.py", k + 1, prefix + line[:k], "\n" + rest
            )
            tally.ask(service, request)
            bar.update(1)
    bar.close()
    return tally.result()


def compare(off: dict, on: dict) -> dict:
    return {
        "off_tok_s": off["tok_s"],
        "on_tok_s": on["tok_s"],
        "speedup": on["tok_s"] / off["tok_s"],
        "tokens": off["tokens"],
        "requests": len(off["texts"]),
        "identical": sum(a == b for a, b in zip(off["texts"], on["texts"], strict=True)),
    }


def typing_services(model: str | None, threads: int) -> dict[bool, CompletionService]:
    services = {}
    for flag in (False, True):
        settings = Settings(
            model=model,
            threads=threads,
            deadline_ms=60_000,
            repo_context=False,
            prompt_lookup=flag,
            precompute=False,
        )
        services[flag] = CompletionService(settings)
        services[flag].load().result()
    return services


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None)
    p.add_argument("--cases", type=int, default=60)
    p.add_argument("--typing", type=int, default=20, help="edit-like lines typed key by key")
    p.add_argument("--only-typing", action="store_true", help="skip the two per-case sets")
    p.add_argument("--rounds", type=int, default=3, help="off/on alternations per set (median)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", type=Path, default=Path("docs/results/lookup.json"))
    args = p.parse_args(argv)
    sets = cases(args.cases)
    results: dict = {"cases": {k: len(v) for k, v in sets.items()}, "sets": {}}
    services = {}
    for flag in (False, True):
        settings = Settings(
            model=args.model,
            threads=args.threads,
            multiline="multi",
            max_new_tokens=64,
            deadline_ms=60_000,
            repo_context=False,
            prompt_lookup=flag,
            precompute=False,  # each case is asked alone: nothing is accepted
        )
        services[flag] = CompletionService(settings)
        services[flag].load().result()
    for name, pairs in sets.items():
        if args.only_typing:
            break
        rounds = [
            (
                run(services[False], pairs, f"{name}, off #{r}"),
                run(services[True], pairs, f"{name}, on #{r}"),
            )
            for r in range(args.rounds)
        ]
        # The median round by speed-up: one round swings by about 5 % on this machine.
        rounds.sort(key=lambda pair: pair[1]["tok_s"] / pair[0]["tok_s"])
        results["sets"][name] = compare(*rounds[len(rounds) // 2])
        results["sets"][name]["round_speedups"] = [on["tok_s"] / off["tok_s"] for off, on in rounds]
        print(name, results["sets"][name], file=sys.stderr)
    if args.typing:
        typed = typing_services(args.model, args.threads)
        pairs = [c for c in sets["edit-like"] if len(c[1].split("\n", 1)[0]) <= 60][: args.typing]
        off = typing_run(typed[False], pairs, "typing, lookup off")
        on = typing_run(typed[True], pairs, "typing, lookup on")
        results["sets"]["typing"] = compare(off, on)
        print("typing", results["sets"]["typing"], file=sys.stderr)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
