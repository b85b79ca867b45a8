"""`bigcode-ls download MODEL`: fetch a GPTBigCode checkpoint from the Hugging Face Hub,
check it the way `--model` loads it, and print its local directory (the last line)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lsp_server.checkpoints import SHORT_NAMES


def add_parser(sub) -> None:
    p = sub.add_parser(
        "download",
        help="fetch a GPTBigCode checkpoint from the Hugging Face Hub",
        description="Fetch a GPTBigCode checkpoint (config, safetensors weights, tokenizer; "
        "never pickle files) into the Hugging Face cache, check that it loads, and print its "
        "directory. Afterwards --model NAME uses it without any network access. Short names: "
        + ", ".join(f"{k} ({v})" for k, v in SHORT_NAMES.items())
        + ". Gated repositories (StarCoderBase) need HF_TOKEN; HF_ENDPOINT names a mirror.",
    )
    p.add_argument("model", help="a short name or an org/name repository id")
    p.add_argument("--revision", help="a branch, tag or commit (default: main)")
    p.add_argument("--dir", type=Path, help="download into this folder instead of the cache")


def run_download(args: argparse.Namespace) -> int:
    from lsp_server.checkpoints import DownloadError, download

    def say(message: str) -> None:
        sys.stderr.write(f"bigcode-ls: {message}\n")

    try:
        directory = download(args.model, args.revision, args.dir, say)
    except DownloadError as exc:
        say(str(exc))
        return 1
    problem = check_model_dir(directory)
    if problem:
        say(f"the download finished but the model cannot be used: {problem}")
        return 1
    say(f"ready: use --model {args.model} (or the directory below)")
    sys.stdout.write(f"{directory}\n")
    return 0


def check_model_dir(directory: Path) -> str | None:
    """Why `--model directory` would fail (config, weights' shapes, tokenizer, FIM tokens),
    or None. Reads headers only: no weights are loaded."""
    from fim.formats import detect_format
    from model import ModelLoadError
    from model.loading import Checkpoint
    from model.tokenizer import load_tokenizer

    try:
        checkpoint = Checkpoint(directory, device="cpu")
        tokenizer = load_tokenizer(directory)
    except ModelLoadError as exc:
        return str(exc)
    if checkpoint.config.vocab_size < tokenizer.get_vocab_size():
        return f"the tokenizer has more tokens than the model ({checkpoint.config.vocab_size})"
    fim = checkpoint.config.extra.get("fim")
    try:
        fmt = detect_format(tokenizer.get_vocab().keys(), fim if isinstance(fim, dict) else None)
    except ValueError as exc:
        return str(exc)
    if fmt is None:
        return "its tokenizer has no fill-in-the-middle tokens (<fim_prefix> or <fim-prefix>)"
    return None
