"""Text sync is exact: random incremental edits against an independent reference."""

from __future__ import annotations

import random
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lsp_server.lines
from bench.rawlsp import RawServer
from lsp_server.documents import Document, PositionError
from tests.models import make_constant_model_dir

ALPHABET = [
    "a",
    "b",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "é",
    "中",
    "😀",
    "🐍",
    "\x0c",
    "\u2028",
    "(",
    ")",
]


def ref_lines(text: str) -> list[str]:
    """Lines as LSP defines them (\\n, \\r\\n, \\r), each without its break."""
    out, current, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\r" and text[i + 1 : i + 2] == "\n":
            out.append("".join(current))
            current, i = [], i + 2
            continue
        if ch in "\r\n":
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    out.append("".join(current))
    return out


def ref_offset(text: str, line: int, units: int, encoding: str) -> int:
    """Offset of (line, units) computed by encoding each line's prefix (independent of the server)."""
    codec = {"utf-16": "utf-16-le", "utf-8": "utf-8", "utf-32": "utf-32-le"}[encoding]
    width = {"utf-16": 2, "utf-8": 1, "utf-32": 4}[encoding]
    lines = ref_lines(text)
    start = 0
    for i in range(line):
        start += len(lines[i])
        start += 2 if text[start : start + 2] == "\r\n" else 1
    for n in range(len(lines[line]) + 1):
        if len(lines[line][:n].encode(codec)) // width == units:
            return start + n
    raise AssertionError("not a character boundary")


def random_position(rng: random.Random, text: str, encoding: str) -> tuple[int, int]:
    lines = ref_lines(text)
    line = rng.randrange(len(lines))
    n = rng.randint(0, len(lines[line]))
    codec = {"utf-16": "utf-16-le", "utf-8": "utf-8", "utf-32": "utf-32-le"}[encoding]
    width = {"utf-16": 2, "utf-8": 1, "utf-32": 4}[encoding]
    return line, len(lines[line][:n].encode(codec)) // width


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


@pytest.mark.parametrize("chunk", [4096, 5])  # one chunk; lines cut into many chunks
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8", "utf-32"])
@given(seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_random_edits_match_reference(encoding, chunk, seed):
    with patch.object(lsp_server.lines, "CHUNK_CHARS", chunk):
        _random_edits_match_reference(encoding, seed)


def _random_edits_match_reference(encoding, seed):
    rng = random.Random(seed)
    text = random_text(rng, rng.randint(0, 40))
    doc = Document("file:///x", text)
    for _ in range(25):
        a = random_position(rng, text, encoding)
        b = random_position(rng, text, encoding)
        a, b = sorted([a, b], key=lambda p: ref_offset(text, p[0], p[1], encoding))
        new = random_text(rng, rng.randint(0, 6))
        doc.apply_changes([((a[0], a[1], b[0], b[1]), new)], encoding)
        lo, hi = ref_offset(text, *a, encoding), ref_offset(text, *b, encoding)
        text = text[:lo] + new + text[hi:]
        assert doc.text == text
        # Positions map back and forth.
        line, units = random_position(rng, text, encoding)
        offset = doc.offset_at(line, units, encoding)
        assert offset == ref_offset(text, line, units, encoding)
        assert doc.position_at(offset, encoding) == (line, units)


def test_impossible_edits_keep_the_document():
    doc = Document("file:///x", "ab\ncd\n")
    for bad in [(5, 0, 5, 1), (1, 1, 0, 0), (-1, 0, 0, 0)]:
        with pytest.raises(PositionError):
            doc.apply_changes([((0, 0, 0, 1), "Z"), (bad, "junk")], "utf-16")
        assert doc.text == "ab\ncd\n"  # all or nothing: the first change is undone too
    doc.apply_changes([((0, 99, 0, 99), "!")], "utf-16")  # past the line's end: its end
    assert doc.text == "ab!\ncd\n"
    doc.apply_changes([((2, 0, 2, 0), "end")], "utf-16")  # the line after the last
    assert doc.text == "ab!\ncd\nend"


def test_a_surrogate_pair_is_never_split():
    doc = Document("file:///x", "a😀b")
    assert doc.offset_at(0, 2, "utf-16") == 1  # inside the pair: before the emoji
    assert doc.offset_at(0, 3, "utf-16") == 2
    assert doc.offset_at(0, 3, "utf-8") == 1  # inside the 4-byte sequence


@pytest.mark.slow
@pytest.mark.parametrize("encoding", ["utf-16", "utf-8"])
def test_random_edits_over_the_wire(tmp_path, encoding):
    """The same kind of edits through a real server process, checked via bigcode/status."""
    model = make_constant_model_dir(tmp_path / "m")
    srv = RawServer("--model", str(model))
    try:
        reply = srv.initialize(None, capabilities={"general": {"positionEncodings": [encoding]}})
        assert reply["result"]["capabilities"]["positionEncoding"] == encoding
        rng = random.Random(7)
        text = random_text(rng, 30)
        uri = "file:///wire.py"
        srv.open(uri, text)
        for version in range(2, 202):
            a = random_position(rng, text, encoding)
            b = random_position(rng, text, encoding)
            a, b = sorted([a, b], key=lambda p: ref_offset(text, p[0], p[1], encoding))
            new = random_text(rng, rng.randint(0, 5))
            rng_ = {
                "start": {"line": a[0], "character": a[1]},
                "end": {"line": b[0], "character": b[1]},
            }
            srv.change(uri, version, [{"range": rng_, "text": new}])
            lo, hi = ref_offset(text, *a, encoding), ref_offset(text, *b, encoding)
            text = text[:lo] + new + text[hi:]
            if version % 50 == 0:
                state = srv.status(uri)["document"]
                assert state == {"text": text, "version": version}
    finally:
        srv.close()


def test_short_lines_cost_about_their_size():
    import tracemalloc

    text = "x\n" * 2_000_000  # 4 MB of 2-byte lines: a string per line cost ~30x
    tracemalloc.start()
    doc = Document("file:///x", text)
    doc.apply_changes([((1_000_000, 1, 1_000_000, 1), "yz\n")], "utf-16")
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held < 1.5 * len(text), f"{held / len(text):.1f}x the text"
    assert doc.text.count("\n") == 2_000_001 and doc.offset_at(1_000_001, 0) == 2_000_004
