"""The command line's view of the settings: one `--kebab-name` option per setting of
`lsp_server.settings`, and the settings that the options given make."""

from __future__ import annotations

import argparse
import dataclasses

from lsp_server.settings import Settings, shown


def add_cli_options(parser: argparse.ArgumentParser) -> None:
    """One `--kebab-name` option per setting. An option not given sets nothing (argparse's
    SUPPRESS), so a subcommand's parser never overwrites what the main parser read."""
    for f in dataclasses.fields(Settings):
        flag = "--" + f.name.replace("_", "-")
        help_text = (f.metadata["doc"] + f" (default: {shown(f.default)})").replace("%", "%%")
        if isinstance(f.default, bool):
            parser.add_argument(
                flag,
                action=argparse.BooleanOptionalAction,
                default=argparse.SUPPRESS,
                help=help_text,
            )
            continue
        kind = {int: int, float: float}.get(type(f.default), str)
        parser.add_argument(
            flag,
            type=kind,
            default=argparse.SUPPRESS,
            choices=f.metadata["choices"],
            help=help_text,
        )


def from_cli(args: argparse.Namespace) -> tuple[Settings, list[str]]:
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(Settings)
        if getattr(args, f.name, None) is not None
    }
    return Settings().updated(given, spell=lambda key: "--" + key.replace("_", "-"))
