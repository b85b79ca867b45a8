"""Settings are defined once (lsp_server/settings.py); every other view is held to it."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path

import pytest

from cli.main import parser
from cli.options import from_cli
from lsp_server.settings import RELOAD_KEYS, Settings, camel
from lsp_server.settings_views import markdown_table, vscode_properties

ROOT = Path(__file__).resolve().parents[1]
FIELDS = dataclasses.fields(Settings)


def test_readme_table_is_the_generated_one():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, (
        "README settings table is stale: python -m lsp_server.settings_views --markdown"
    )


def test_vscode_contributes_every_server_setting_as_defined():
    pkg = json.loads((ROOT / "editors/vscode/package.json").read_text())
    props = pkg["contributes"]["configuration"]["properties"]
    server = {k: v for k, v in props.items() if k in vscode_properties()}
    assert server == vscode_properties()
    source = (ROOT / "editors/vscode/src/settings.ts").read_text()
    block = re.search(r"SERVER_KEYS = \[(.*?)\]", source, re.S).group(1)
    assert re.findall(r'"(\w+)"', block) == [camel(f.name) for f in FIELDS]


@pytest.mark.parametrize("f", FIELDS, ids=lambda f: f.name)
def test_every_setting_is_a_command_line_option(f):
    value = {bool: False, int: 7, float: 0.5, str: None}[
        type(f.default) if f.default is not None else str
    ]
    flag = "--" + f.name.replace("_", "-")
    if isinstance(f.default, bool):
        argv = ["--no-" + flag[2:]]
    elif f.metadata["choices"]:
        value = f.metadata["choices"][-1]
        argv = [flag, value]
    elif f.default is None or isinstance(f.default, str):
        value = "/models/x"
        argv = [flag, value]
    else:
        low, high = f.metadata["bounds"]
        value = type(f.default)(low + 1 if low + 1 <= high else (low + high) / 2)
        argv = [flag, str(value)]
    for subcommand in ([], ["serve"]):  # the subcommand's parser must not reset it
        settings, problems = from_cli(parser().parse_args(argv + subcommand))
        assert not problems and getattr(settings, f.name) == value


def test_options_before_a_subcommand_survive_it():
    settings, _ = from_cli(parser().parse_args(["--quantize", "int8", "serve", "--threads", "1"]))
    assert settings.quantize == "int8" and settings.threads == 1


def test_bad_values_are_rejected_one_key_at_a_time():
    new, problems = Settings().updated(
        {
            "enable": False,
            "maxNewTokens": math.nan,
            "threads": 10_000,
            "fimOrder": "xyz",
            "topP": math.inf,
        }
    )
    assert new.enable is False  # the valid key still applies
    assert (new.max_new_tokens, new.threads, new.fim_order, new.top_p) == (64, 0, "spm", 0.95)
    assert len(problems) == 4


def test_changes_that_need_a_new_model_reload_it():
    model = {"model", "device", "dtype", "threads", "quantize", "packed_linears", "wide_passes"}
    remote = {"backend", "fim_template", "tokenizer"} | {k for k in RELOAD_KEYS if "remote" in k}
    assert set(RELOAD_KEYS) == model | remote
    assert len(remote) == 9


def test_an_empty_section_from_a_lua_client_is_no_setting_at_all():
    # Neovim encodes `{ bigcode = {} }` as {"bigcode": []}: no settings, no complaint
    settings, problems = Settings().updated({"bigcode": []})
    assert settings == Settings() and problems == []
    _, problems = Settings().updated({"bigcode": {"maxNewTokens": 0}})
    assert problems == [
        "'maxNewTokens': invalid value 0 (expected an integer from 1 to 1024); kept 64"
    ]
