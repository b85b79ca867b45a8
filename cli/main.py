"""Command line: `bigcode-ls [serve]` runs the server; `bigcode-ls complete` completes once;
`bigcode-ls tune` adapts a model to a repository; `bigcode-ls download` fetches a checkpoint.

Examples:
  bigcode-ls                                   LSP over stdio with the bundled model
  bigcode-ls --model ~/models/tiny_starcoder_py --device cuda
  bigcode-ls --tcp --port 2087                 LSP over TCP on 127.0.0.1
  bigcode-ls complete app.py --line 10 --character 4 --json
  bigcode-ls tune ~/src/myproject --out ~/models/myproject --minutes 15
  bigcode-ls download tiny_starcoder_py          then: bigcode-ls --model tiny_starcoder_py
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from lsp_server import __version__
from lsp_server.settings import add_cli_options, from_cli

from .download import add_parser as add_download_parser
from .download import run_download
from .tune import add_parser as add_tune_parser
from .tune import run_tune


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, no usage dump
        sys.stderr.write(f"bigcode-ls: {message}\n")
        sys.exit(2)


def parser() -> ArgumentParser:
    p = ArgumentParser(
        prog="bigcode-ls", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"bigcode-ls {__version__}")
    sub = p.add_subparsers(dest="command")

    serve = sub.add_parser("serve", help="run the language server (the default)")
    complete = sub.add_parser(
        "complete", help="complete once at a position and print the suggestion"
    )
    for target in (p, serve):
        add_cli_options(target)
        target.add_argument(
            "--stdio",
            action="store_true",
            help="LSP over stdio (the default; accepted for clients that pass it)",
        )
        target.add_argument("--tcp", action="store_true", help="LSP over TCP instead of stdio")
        target.add_argument(
            "--host",
            default="127.0.0.1",
            help="TCP address to bind (default 127.0.0.1: this machine only)",
        )
        target.add_argument("--port", type=int, default=2087)
        target.add_argument("--log-file", type=Path, help="also write logs to this file")
        target.add_argument(
            "--log-level", default="info", choices=["debug", "info", "warning", "error"]
        )

    add_tune_parser(sub)
    add_download_parser(sub)
    stats = sub.add_parser(
        "stats", help="print the acceptance counts kept with the statsFile setting"
    )
    stats.add_argument("--json", action="store_true", help="print the file's JSON")
    add_cli_options(complete)
    complete.add_argument("file", type=Path)
    complete.add_argument("--line", type=int, required=True, help="zero-based line")
    complete.add_argument(
        "--character", type=int, required=True, help="zero-based UTF-16 column, as in LSP"
    )
    complete.add_argument(
        "--json", action="store_true", help='print {"text", "range", "tokens", "ms"}'
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "complete":
        return run_complete(args)
    if args.command == "tune":
        return run_tune(args)
    if args.command == "stats":
        return run_stats(args)
    if args.command == "download":
        return run_download(args)
    return run_serve(args)


def run_stats(args: argparse.Namespace) -> int:
    from lsp_server.acceptance import format_table, load_counts, stats_path

    counts = load_counts(stats_path())
    if not counts:
        sys.stderr.write(
            f"bigcode-ls: no acceptance counts in {stats_path()} yet; turn the statsFile "
            "setting on (--stats-file or bigcode.statsFile) to keep them\n"
        )
        return 1
    sys.stdout.write((json.dumps(counts, indent=1) if args.json else format_table(counts)) + "\n")
    return 0


def _settings_from(args: argparse.Namespace):
    settings, problems = from_cli(args)
    if problems:
        sys.stderr.write(f"bigcode-ls: {problems[0]}\n")
        sys.exit(2)
    return settings


def run_serve(args: argparse.Namespace) -> int:
    from lsp_server.app import build_server
    from lsp_server.logs import setup_logging

    logger = setup_logging(args.log_level, args.log_file)
    settings = _settings_from(args)
    ls = build_server(settings)
    if args.tcp:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("listening on %s: other machines can reach this server", args.host)
        logger.info("bigcode-ls %s listening on %s:%d", __version__, args.host, args.port)
        sys.stderr.write(f"bigcode-ls: listening on {args.host}:{args.port}\n")
        ls.serve_tcp(args.host, args.port)
        return 0
    code = ls.serve_stdio()
    # The model thread may be inside a native call (a load, a generation): end the
    # process without the interpreter's teardown, which would abort there.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


def run_complete(args: argparse.Namespace) -> int:
    from lsp_server.documents import Document, PositionError

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sys.stderr.write(
            f"bigcode-ls: cannot read {args.file}: {getattr(exc, 'strerror', None) or exc}\n"
        )
        return 2
    doc = Document(args.file.resolve().as_uri(), text)
    try:
        offset = doc.offset_at(args.line, args.character)
    except PositionError as exc:
        sys.stderr.write(f"bigcode-ls: {exc}\n")
        return 2
    # One completion, then exit: no look-ahead (nothing will be accepted, and a thread still
    # inside torch when the interpreter tears down aborts the process).
    settings = dataclasses.replace(_settings_from(args), precompute=False)
    # Bad arguments are answered above, before torch is imported (a second or two).
    from lsp_server.completion.service import CompletionRequest, CompletionService
    from model import ModelLoadError

    service = CompletionService(settings)
    try:
        service.load().result()
    except (ModelLoadError, OSError, ValueError, RuntimeError) as exc:
        sys.stderr.write(f"bigcode-ls: {exc}\n")
        return 2
    request = CompletionRequest(doc.uri, 0, text[:offset], text[offset:], args.file.name)
    result = service.complete_now(request)
    if result.status in ("error", "unavailable"):
        sys.stderr.write(f"bigcode-ls: completion failed: {result.detail}\n")
        return 1
    if args.json:
        start = {"line": args.line, "character": args.character}
        out = {
            "text": result.text,
            "range": {"start": start, "end": start},
            "tokens": result.generated_tokens,
            "ms": round(result.ms, 1),
        }
        sys.stdout.write(json.dumps(out) + "\n")
    else:
        sys.stdout.write(result.text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
