"""Next edits: the edit history, the predictors, and `textDocument/copilotInlineEdit`."""

from __future__ import annotations

import pytest

from bench.rawlsp import RawServer
from fim.next_edits import LastEdit, propose
from lsp_server.edit_history import EditHistory
from tests.models import make_constant_model_dir

SOURCE = (
    "import os\n\n\n"
    "def total(items, count):\n"
    '    """count is in the docstring"""\n'
    "    result = count * 2  # count in a comment\n"
    "    self.count = count\n"
    "    return result + count\n\n\n"
    "def other(count):\n"
    "    return count\n"
)


def renamed(text: str, old: str, new: str, nth: int = 0) -> tuple[str, LastEdit]:
    at = -1
    for _ in range(nth + 1):
        at = text.index(old, at + 1)
    return text[:at] + new + text[at + len(old) :], LastEdit(at, old, new)


def test_a_rename_by_hand_is_proposed_at_the_other_uses_in_its_scope_nearest_first():
    text, edit = renamed(SOURCE, "count", "n", nth=0)  # the parameter in `total`
    proposals = propose(text, edit)
    got = [(text[p.start : p.end], text.count("\n", 0, p.start) + 1) for p in proposals]
    # lines 6, 7 (not `self.count`), 8; not the docstring, the comment or `other`
    assert got == [("count", 6), ("count", 7), ("count", 8)]
    assert all(p.text == "n" and p.kind == "rename" for p in proposals)


def test_an_attribute_renamed_renames_attributes_only():
    text = "class A:\n    def f(self):\n        self.size = 1\n        size = self.size\n"
    new, edit = renamed(text, "size", "length", nth=0)
    (p,) = propose(new, edit)
    assert new[p.start - 5 : p.end] == "self.size" and p.start > new.index("size = ")


def test_a_missing_import_is_proposed_after_the_files_imports():
    text = "import os\nimport sys\n\n\ndef f():\n    data = json."
    (p,) = propose(text, LastEdit(len(text) - 1, "", "."))
    assert (p.kind, p.text, p.start) == ("import", "import json\n", text.index("\n\n\ndef") + 1)
    bound = "import os\njson = None\n\ndef f():\n    data = json."
    assert propose(bound, LastEdit(len(bound) - 1, "", ".")) == []
    # a top-level name the workspace defines: imported from its module
    ws = "def f():\n    Parser."
    (p,) = propose(
        ws, LastEdit(len(ws) - 1, "", "."), lambda n: "pkg.parsing" if n == "Parser" else None
    )
    assert (p.text, p.start) == ("from pkg.parsing import Parser\n", 0)


def test_a_repeated_edit_is_proposed_on_the_nearest_line_it_fits():
    text = 'a = cfg.get("host")\nb = cfg.get("port")\nc = other(1)\n'
    new = text.replace('cfg.get("host")', 'cfg["host"]', 1)
    (p,) = propose(new, LastEdit(new.index('["host"]'), '.get("host")', '["host"]'))
    line = new[: p.start] + p.text + new[p.end :]
    assert line.split("\n")[1] == 'b = cfg["port"]'


@pytest.mark.parametrize(
    "text, edit",
    [
        ("x = 1\n# note about th", LastEdit(6, "", "# note about th")),  # a comment typed
        ("def f():\n    total = 0\n", LastEdit(13, "", "total = 0")),  # a new line
        ('s = "count"\n', LastEdit(5, "count", "count")),  # nothing changed
    ],
)
def test_ordinary_typing_proposes_nothing(text, edit):
    assert propose(text, edit) == []


def test_the_history_joins_keystrokes_into_the_users_edits():
    h = EditHistory()
    h.record("u", 10, "count", "", now=0.0)  # a selection deleted ...
    for i, ch in enumerate("total"):  # ... and a name typed in its place
        h.record("u", 10 + i, "", ch, now=0.1 * i)
    assert h.last("u") == LastEdit(10, "count", "total")
    for i in range(5):  # backspaced away, and into the text before it
        h.record("u", 14 - i, "total"[4 - i], "", now=1.0)
    h.record("u", 9, " ", "", now=1.0)
    assert h.last("u") == LastEdit(9, " count", "")
    h.record("u", 50, "", "x", now=10.0)  # elsewhere, later: a new edit
    assert h.last("u") == LastEdit(50, "", "x")
    h.forget("u")
    assert h.last("u") is None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = RawServer(
        "--model", str(make_constant_model_dir(tmp_path_factory.mktemp("ne"))), "--threads", "1"
    )
    init = srv.initialize({"bigcode": {"maxNewTokens": 2}})
    assert init["result"]["capabilities"]["experimental"]["inlineEditProvider"] is True
    yield srv
    srv.close()


def ask(srv: RawServer, uri: str, version: int) -> list[dict]:
    params = {
        "textDocument": {"uri": uri, "version": version},
        "position": {"line": 0, "character": 0},
    }
    return srv.request("textDocument/copilotInlineEdit", params)["result"]["edits"]


def at(line: int, a: int, b: int) -> dict:
    return {"start": {"line": line, "character": a}, "end": {"line": line, "character": b}}


def test_a_rename_through_the_server_and_stale_or_unrelated_requests_get_nothing(server):
    uri = "file:///ne/total.py"
    server.open(uri, SOURCE)
    line = SOURCE.split("\n").index("def total(items, count):")
    server.change(uri, 2, [{"range": at(line, 17, 22), "text": ""}])  # `count` selected, deleted
    server.change(uri, 3, [{"range": at(line, 17, 17), "text": "n"}])  # `n` typed
    edits = ask(server, uri, 3)
    assert [e["range"]["start"]["line"] for e in edits] == [line + 2, line + 3, line + 4]
    assert all(e["text"] == "n" and e["textDocument"] == {"uri": uri, "version": 3} for e in edits)
    assert edits[0]["range"] == at(line + 2, 13, 18)
    assert ask(server, uri, 2) == []  # a stale version
    server.change(uri, 4, [{"range": at(line + 5, 0, 0), "text": "# a note\n"}])
    assert ask(server, uri, 4) == []  # a comment typed: nothing to propose
    assert ask(server, "file:///ne/never-opened.py", 1) == []


def test_keyword_argument_names_and_imported_modules_are_not_renamed():
    text = "def f(path):\n    import socket\n    loader = get(path)\n    run(loader=loader, socket=socket)\n"
    new, edit = renamed(text, "loader", "ld", nth=0)
    (p,) = propose(new, edit)
    assert (
        new[p.start : p.end] == "loader" and new[p.start - 1] == "="
    )  # the value, not the keyword
    new, edit = renamed(text, "socket", "sock", nth=2)  # the value of `socket=socket`
    assert all(
        "import" not in new[new.rfind("\n", 0, q.start) : q.start] for q in propose(new, edit)
    )


# --- a next-edit model behind the remote server (Zeta's prompt format) -------------------

MODEL_SOURCE = "def area(w, h):\n    return w * h\n\n\nprint(area(2, 3))\n"


def test_the_zeta_prompt_holds_the_last_edit_and_the_marked_region():
    from fim.next_edit_prompt import CURSOR, REGION_END, REGION_START, zeta_prompt

    text = MODEL_SOURCE.replace("w * h", "w * h * 1")
    cursor = text.index("* 1") + 3
    p = zeta_prompt("geo/area.py", text, cursor, LastEdit(cursor - 4, "", " * 1"))
    assert 'User edited "geo/area.py":\n```diff\n@@' in p.prompt
    assert "-    return w * h\n+    return w * h * 1" in p.prompt
    region = p.prompt.split(REGION_START + "\n", 1)[1].split("\n" + REGION_END, 1)[0]
    assert region == text[p.region_start : cursor] + CURSOR + text[cursor : p.region_end]
    assert p.prompt.endswith("### Response:\n")


def test_a_rewritten_region_becomes_edits_and_a_region_unchanged_none():
    from fim.next_edit_prompt import REGION_END, REGION_START, region_edits, zeta_prompt

    cursor = MODEL_SOURCE.index("return")
    p = zeta_prompt("a.py", MODEL_SOURCE, cursor, LastEdit(0, "", "d"))
    region = MODEL_SOURCE[p.region_start : p.region_end]
    new = region.replace("area(2, 3)", "area(4, 5)").replace(
        "    return w * h\n", "    return w * h\n\n\ndef perimeter(w, h):\n    return 2 * (w + h)\n"
    )
    answer = f"```a.py\n{REGION_START}\n{new}\n{REGION_END}\n```"
    edits = region_edits(MODEL_SOURCE, p, answer)
    after = MODEL_SOURCE
    for e in sorted(edits, key=lambda e: -e.start):
        after = after[: e.start] + e.text + after[e.end :]
    assert after[p.region_start : p.region_end + len(new) - len(region)] == new
    assert {e.kind for e in edits} == {"model"}
    assert region_edits(MODEL_SOURCE, p, f"{REGION_START}\n{region}\n{REGION_END}") == []
    assert region_edits(MODEL_SOURCE, p, "no region at all") == []


def test_the_server_asks_a_next_edit_model_when_its_own_predictors_find_nothing(tmp_path):
    from fim.next_edit_prompt import REGION_END, REGION_START
    from tests.fake_inference_server import FakeServer

    with FakeServer() as fake:
        typed = "  # two by three"
        region = MODEL_SOURCE.replace(
            "print(area(2, 3))", f"print(area(2, 3)){typed}\nprint(area(4, 5))"
        )
        fake.script.tokens = [f"```a.py\n{REGION_START}\n", region.rstrip("\n"), f"\n{REGION_END}"]
        settings = {
            "backend": "openai",
            "remoteUrl": fake.url,
            "nextEditModel": "zeta",
            "maxNewTokens": 2,
        }
        srv = RawServer("--threads", "1")
        srv.initialize({"bigcode": settings})
        uri = "file:///ne/a.py"
        srv.open(uri, MODEL_SOURCE)
        srv.change(
            uri, 2, [{"range": at(4, 17, 17), "text": "  # two by three"}]
        )  # nothing for the rules
        edits = ask(srv, uri, 2)
        srv.close()
        prompts = [r["body"]["prompt"] for r in fake.posts() if r["path"].endswith("/completions")]
    assert prompts and "User edited" in prompts[-1] and REGION_START in prompts[-1]
    assert [(e["text"], e["range"]["start"]) for e in edits] == [
        ("print(area(4, 5))", {"line": 5, "character": 0})  # a line after the one typed on
    ]


@pytest.mark.parametrize(
    "params",
    [
        None,
        [],
        {"textDocument": 5},
        {"textDocument": {"uri": 7, "version": "x"}},
        {"position": "here"},
    ],
)
def test_malformed_next_edit_requests_are_answered_empty(server, params):
    reply = server.request("textDocument/copilotInlineEdit", params)
    assert reply.get("result") == {"edits": []} or reply["error"]["code"] == -32602
    server.open("file:///ne/ok.py", "x = 1\n")  # and the server goes on
    assert ask(server, "file:///ne/ok.py", 1) == []
