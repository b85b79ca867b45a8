"""Bad input over the wire never kills or wedges the server; the next good request works."""

from __future__ import annotations

import pytest

from bench.rawlsp import RawServer
from tests.models import make_constant_model_dir

URI = "file:///robust.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    model = make_constant_model_dir(tmp_path_factory.mktemp("robust"))
    srv = RawServer("--model", str(model), "--threads", "1")
    srv.initialize({"bigcode": {"maxNewTokens": 3, "tokenHealing": False}})
    srv.open(URI, "x = \n")
    assert works(srv)
    yield srv
    assert srv.close() == 0


def inline_params(line: int = 0, character: int = 4, uri: str = URI) -> dict:
    return {
        "textDocument": {"uri": uri},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


def works(srv: RawServer) -> bool:
    """The server still answers a good request with the constant model's suggestion."""
    return srv.suggestion(URI, 0, 4) == "xxx"


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        b'{"jsonrpc": "2.0", "id": 99, "method": "textDocument/inlineCompletion"',
        b"\xff\xfe\x00garbage",
        b'{"jsonrpc": "2.0"}',
        b"[1, 2, 3]",
    ],
    ids=["broken-json", "truncated", "binary", "no-method", "array"],
)
def test_malformed_json(server, payload):
    server.send_bytes(payload)
    assert works(server)


@pytest.mark.parametrize(
    "params",
    [
        {"textDocument": 5},
        {},
        {"textDocument": {"uri": URI}, "position": {"line": "zero", "character": 0}},
        {"textDocument": {"uri": URI}, "position": {"line": -1, "character": 0}},
        None,
    ],
    ids=["wrong-type", "missing", "string-line", "negative", "null"],
)
def test_bad_params_get_an_error(server, params):
    reply = server.request("textDocument/inlineCompletion", params)
    assert "error" in reply
    assert works(server)


def test_unknown_method_and_notification(server):
    reply = server.request("bigcode/noSuchThing", {})
    assert reply["error"]["code"] == -32601
    server.notify("textDocument/noSuchNotification", {"x": 1})
    assert works(server)


def test_positions_out_of_range_and_unknown_documents(server):
    reply = server.request("textDocument/inlineCompletion", inline_params(line=99))
    assert reply["error"]["code"] == -32602 and "past the end" in reply["error"]["message"]
    reply = server.request("textDocument/completion", inline_params(uri="file:///never-opened.py"))
    assert reply["result"]["items"] == []
    assert works(server)


def test_bad_notifications(server):
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": 2},
            "contentChanges": [
                {
                    "range": {
                        "start": {"line": 7, "character": 0},
                        "end": {"line": 8, "character": 0},
                    },
                    "text": "zz",
                }
            ],
        },
    )
    server.notify("textDocument/didChange", {"bad": True})
    server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": "file:///unknown.py", "version": 2},
            "contentChanges": [{"text": "a"}],
        },
    )
    server.notify("textDocument/didOpen", {"textDocument": {"uri": 3}})
    server.notify("workspace/didChangeConfiguration", {"settings": "not an object"})
    server.notify(
        "workspace/didChangeConfiguration", {"settings": {"bigcode": {"maxNewTokens": "many"}}}
    )
    status = server.request("bigcode/status", {"uri": URI})["result"]
    assert status["document"]["text"] == "x = \n"
    assert works(server)
