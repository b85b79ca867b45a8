"""Share of each keystroke's prompt tokens that the previous prompt's KV cache covers.

Replays typing a 30-line function into a 1,700-line stdlib file (the same replay as
bench/latency.py, every character) and builds the server's prompt after each key with
the bundled tokenizer; the reusable share of a prompt is its longest common token prefix
with the previous prompt, divided by its length. No model runs: this measures the
layout alone, SPM against PSM, and SPM with repository context (the stdlib folder as the
workspace, snippets chosen per keystroke by the server's own `RepoContext`).

    python -m bench.fim_reuse [--json docs/results/fim_reuse.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from bench.latency import FILE, FUNCTION, replay_points
from fim.formats import STARCODER, Special
from fim.healing import Vocabulary
from fim.prompt import PromptOptions, build_prompt
from lsp_server.repo_context import RepoContext
from lsp_server.workspace import WorkspaceIndex
from model.generate import common_prefix_len
from model.progress import Progress
from model.tokenizer import load_tokenizer, token_starts, token_texts
from training.corpus import stdlib_root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--tokenizer", default=str(Path(__file__).resolve().parent.parent / "model" / "bundled")
    )
    p.add_argument("--budget", type=int, default=1536)
    p.add_argument("--json", type=Path, default=Path("docs/results/fim_reuse.json"))
    args = p.parse_args(argv)

    tok = load_tokenizer(args.tokenizer)
    encode_cache: dict[str, list[int]] = {}

    def encode(text: str) -> list[int]:
        if text not in encode_cache:
            encode_cache[text] = tok.encode(text, add_special_tokens=False).ids
        return encode_cache[text]

    def count(text: str) -> int:
        return len(encode(text))

    vocab = Vocabulary(token_texts(tok))
    source = (stdlib_root() / FILE).read_text()
    base, body, at = replay_points(source, FUNCTION)
    results = {}
    index = WorkspaceIndex()
    index.set_folders([stdlib_root()]).result()
    context = RepoContext(index)
    uri = (stdlib_root() / FILE).as_uri()
    for config in ("spm", "psm", "spm+context"):
        order = config[:3]
        share = 0.3 if "context" in config else 0.0
        options = PromptOptions(budget=args.budget, order=order, snippet_share=share)
        prev: list[int] = []
        shares, lengths = [], []
        bar = Progress(len(body), config)
        for i in range(1, len(body) + 1):
            text = base[:at] + body[:i] + base[at:]
            cursor = at + i
            snippets = context.snippets(uri, text[:cursor], text[cursor:]) if share else ()
            prompt = build_prompt(
                text[:cursor],
                text[cursor:],
                STARCODER,
                count,
                options,
                snippets=snippets,
                token_starts=lambda text: token_starts(tok, text),
                vocab=vocab,
            )
            ids = [tok.token_to_id(x) if isinstance(x, Special) else None for x in prompt.pieces]
            flat: list[int] = []
            for piece, special in zip(prompt.pieces, ids, strict=True):
                flat.extend([special] if special is not None else encode(piece))
            if prev:
                shares.append(min(common_prefix_len(prev, flat), len(flat) - 1) / len(flat))
            lengths.append(len(flat))
            prev = flat
            bar.update(1)
        bar.close()
        results[config] = {
            "keystrokes": len(shares),
            "mean_reusable_share": statistics.fmean(shares),
            "median_reusable_share": statistics.median(shares),
            "p5_reusable_share": statistics.quantiles(shares, n=20)[0],
            "keystrokes_below_90pct": sum(s < 0.9 for s in shares),
            "mean_prompt_tokens": statistics.fmean(lengths),
        }
        r = results[config]
        print(
            f"{config}: mean reusable {r['mean_reusable_share']:.1%}, median {r['median_reusable_share']:.1%}, "
            f"p5 {r['p5_reusable_share']:.1%}, {r['keystrokes_below_90pct']} of {r['keystrokes']} keys below 90%, "
            f"prompt {r['mean_prompt_tokens']:.0f} tokens",
            file=sys.stderr,
        )
    out = {
        "file": FILE,
        "lines": source.count("\n"),
        "typed_chars": len(body),
        "budget": args.budget,
        **results,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
