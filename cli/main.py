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
import json
import logging
import os
import signal
import sys
from pathlib import Path

from lsp_server import __version__

from .complete import run_complete
from .download import add_parser as add_download_parser
from .download import run_download
from .options import add_cli_options, from_cli
from .tune import add_parser as add_tune_parser
from .tune import run_tune


class ArgumentParser(argparse.ArgumentParser):
    """Exact option names only: with a setting per option (`--line-search`), an
    abbreviation is ambiguous or, worse, silently becomes a setting as options are added."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

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
        "complete",
        help="complete once at a position and print the suggestion",
        description="Complete once at a zero-based LSP position (the editor's line 1 is "
        "--line 0) and print the suggestion; when there is none, say why on stderr.",
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
    complete.add_argument(
        "--line", type=int, required=True, help="zero-based line (the editor's line 1 is 0)"
    )
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
        return run_complete(args, _settings_from(args))
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


TERMINAL_NOTE = """bigcode-ls: this is a language server: it speaks LSP (JSON-RPC) on stdin and
stdout, and an editor starts it (see the README for VS Code, Neovim and Emacs). To try a
completion from a terminal: bigcode-ls complete FILE --line L --character C (zero-based).
Ctrl-C ends it.
"""


def _interrupted(signum, frame) -> None:
    """Ctrl-C ends the server at once, wherever its threads are (a model thread inside a
    native call would keep an orderly exit waiting)."""
    sys.stderr.write("bigcode-ls: interrupted\n")
    logging.shutdown()
    os._exit(130)


def run_serve(args: argparse.Namespace) -> int:
    from lsp_server.app import build_server
    from lsp_server.logs import setup_logging

    logger = setup_logging(args.log_level, args.log_file)
    settings = _settings_from(args)
    ls = build_server(settings)
    signal.signal(signal.SIGINT, _interrupted)
    if args.tcp:
        if args.host not in ("127.0.0.1", "localhost", "::1"):
            logger.warning("listening on %s: other machines can reach this server", args.host)
        logger.info("bigcode-ls %s listening on %s:%d", __version__, args.host, args.port)
        sys.stderr.write(f"bigcode-ls: listening on {args.host}:{args.port}\n")
        ls.serve_tcp(args.host, args.port)
        return 0
    if sys.stdin.isatty():
        sys.stderr.write(TERMINAL_NOTE)
    code = ls.serve_stdio()
    # The model thread may be inside a native call (a load, a generation): end the
    # process without the interpreter's teardown, which would abort there.
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
