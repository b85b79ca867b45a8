"""fim/: formats, budgeted cache-friendly prompts, healing, post-processing, transform."""

from __future__ import annotations

import random

import pytest

from fim.formats import SANTACODER, STARCODER, Special, detect_format
from fim.healing import Vocabulary, heal_boundary
from fim.postprocess import PostOptions, is_multiline, postprocess
from fim.prompt import (
    PromptOptions,
    Snippet,
    build_prompt,
    prefix_start,
    prefix_window,
    suffix_window,
)
from fim.transform import fim_transform


def chars(text: str) -> int:
    """A stand-in tokenizer for budgets: one token per 4 characters, rounded up."""
    return (len(text) + 3) // 4


def char_starts(text: str) -> list[int]:
    """Stand-in for a byte-level BPE's token starts: GPT-2's pre-tokenizer pattern."""
    import re

    return [m.start() for m in re.finditer(r" ?\w+| ?[^\s\w]+|\s+(?!\S)|\s+", text)]


# --- formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt, order, expected",
    [
        (STARCODER, "psm", ["<fim_prefix>", "P", "<fim_suffix>", "S", "<fim_middle>"]),
        (STARCODER, "spm", ["<fim_prefix>", "<fim_suffix>", "S", "<fim_middle>", "P"]),
        (SANTACODER, "psm", ["<fim-prefix>", "P", "<fim-suffix>", "S", "<fim-middle>"]),
        (SANTACODER, "spm", ["<fim-prefix>", "<fim-suffix>", "S", "<fim-middle>", "P"]),
    ],
)
def test_layouts(fmt, order, expected):
    pieces = fmt.layout("P", "S", order)
    assert pieces == expected
    assert [isinstance(p, Special) for p in pieces] == [p.startswith("<fim") for p in expected]


def test_layout_with_middle_and_header():
    assert STARCODER.layout("a", "c", "spm", middle="b")[-2:] == ["a", "b"]
    assert STARCODER.header("pkg/x.py") == ["<filename>", "pkg/x.py\n"]
    assert SANTACODER.header("pkg/x.py") == []


def test_detect_format():
    star = [
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_middle>",
        "<fim_suffix>",
        "<fim_pad>",
        "<filename>",
        "a",
    ]
    assert detect_format(star) == STARCODER
    santa = ["<|endoftext|>", "<fim-prefix>", "<fim-middle>", "<fim-suffix>", "<fim-pad>"]
    assert detect_format(santa) == SANTACODER
    no_header = detect_format(star[:5])  # StarCoder's FIM tokens, no <filename>
    assert no_header.name == "starcoder" and no_header.filename is None
    assert detect_format(["a", "b", "<|endoftext|>"]) is None
    custom = detect_format(
        ["[P]", "[S]", "[M]"], {"prefix": "[P]", "suffix": "[S]", "middle": "[M]"}
    )
    assert (custom.prefix, custom.suffix, custom.middle) == ("[P]", "[S]", "[M]")
    with pytest.raises(ValueError, match="lacks"):
        detect_format(["a"], {"prefix": "[P]"})


# --- prompt windows --------------------------------------------------------------------


def numbered(n: int, start: int = 0) -> str:
    return "".join(f"line_{i:04d} = {i}\n" for i in range(start, start + n))


def test_prompt_fits_budget_and_keeps_cursor_neighbourhood():
    prefix = numbered(400) + "x = "
    suffix = "\n" + numbered(400, 400)
    p = build_prompt(prefix, suffix, STARCODER, chars, PromptOptions(budget=300, block_lines=8))
    total = sum(1 if isinstance(x, Special) else chars(x) for x in p.pieces)
    assert total <= 300
    assert p.prefix.endswith("line_0399 = 399\nx = ") and prefix.endswith(p.prefix)
    assert p.suffix.startswith("\nline_0400 = 400\n") and suffix.startswith(p.suffix)
    assert p.pieces[:3] == ["<fim_prefix>", "<fim_suffix>", p.suffix]  # SPM by default
    assert p.pieces[-1] == p.prefix
    # The prefix window starts on a grid line (a multiple of 8 lines from the top).
    first = int(p.prefix.split("\n", 1)[0].split("_")[1].split(" ")[0])
    assert first % 8 == 0


def test_prefix_window_moves_in_blocks_while_typing():
    base = numbered(300)
    starts = []
    typed = ""
    for ch in "value = compute(alpha, beta)\n" * 6:
        typed += ch
        starts.append(prefix_window(base + typed, 500, chars, 16).split("\n", 1)[0])
    changes = sum(1 for a, b in zip(starts, starts[1:], strict=False) if a != b)
    assert changes <= 2  # ~170 keystrokes, the window jumped at most twice


def test_the_window_ahead_starts_one_grid_line_later_and_room_counts_down():
    base = numbered(300)
    start, room = prefix_start(base, 500, chars, 16)
    ahead, _ = prefix_start(base, 500, chars, 16, ahead=1)
    lines_between = base[start:ahead].count("\n")
    assert base[start - 1] == "\n" and lines_between == 16 and 0 <= room
    assert chars(base[start:]) + room == 500
    # typing what the room holds moves the window to where `ahead` put it
    assert prefix_start(base + "x" * 4 * room, 500, chars, 16)[0] == start
    typed = "x" * 4 * (room + 1)  # room + 1 more tokens
    assert prefix_start(base + typed, 500, chars, 16)[0] == ahead
    # at the last grid line there is nothing further ahead
    short = numbered(10)
    assert prefix_start(short, 500, chars, 16, ahead=1)[0] == 0


def test_suffix_window_is_whole_lines_and_stable():
    suffix = " + 1)\n" + numbered(50)
    w = suffix_window(suffix, 40, chars)
    assert w.startswith(" + 1)\n") and w.endswith("\n") and suffix.startswith(w)
    assert sum(chars(line + "\n") for line in w.split("\n")[:-1]) <= 40
    assert suffix_window(suffix, 40, chars) == w


@pytest.mark.parametrize(
    "prefix",
    [
        "a = 1\r\nb = 2\r\n" * 50 + "c = ",
        "s = '😀😀'\n" * 50 + "t = '😀",
        "x = '中文字符'\n" * 60 + "\ty = ",
        "\tif x:\n\t\tpass\n" * 40 + "\t\t",
    ],
)
def test_cuts_at_line_boundaries_with_crlf_emoji_cjk_tabs(prefix):
    p = build_prompt(
        prefix, "\r\nz = 3\r\n", STARCODER, chars, PromptOptions(budget=80, block_lines=4)
    )
    assert prefix.endswith(p.prefix)
    cut = len(prefix) - len(p.prefix)
    assert cut == 0 or prefix[cut - 1] == "\n"  # never inside a CRLF or a line
    assert not p.suffix or "\r\nz = 3\r\n".startswith(p.suffix)


def test_a_single_huge_line_is_cut_inside_near_the_cursor():
    prefix = "x = [" + ", ".join(str(i) for i in range(3000))
    w = prefix_window(prefix, 100, chars)
    assert prefix.endswith(w) and 0 < chars(w) <= 100


def test_snippets_and_filename_header_come_first():
    opts = PromptOptions(budget=400, snippet_share=0.3)
    p = build_prompt(
        "def f():\n    ",
        "\n",
        STARCODER,
        chars,
        opts,
        path="pkg/mod.py",
        snippets=[Snippet("util.py", "def g():\n    return 1\n")],
    )
    assert p.pieces[0] == "# util.py\ndef g():\n    return 1\n"
    assert p.pieces[1] == "<|endoftext|>"
    assert p.pieces[2:4] == ["<filename>", "pkg/mod.py\n"]
    assert p.pieces[4] == "<fim_prefix>"


def test_psm_order_and_plain_fallback():
    p = build_prompt("a = ", "\nb = 2\n", STARCODER, chars, PromptOptions(order="psm"))
    assert p.pieces == ["<fim_prefix>", "a = ", "<fim_suffix>", "\nb = 2\n", "<fim_middle>"]
    plain = build_prompt("a = ", "\nb = 2\n", None, chars)
    assert plain.pieces == ["a = "] and not plain.fim and plain.suffix == ""


def test_typing_only_appends_to_spm_prompt():
    doc_before, doc_after = numbered(200), "\n" + numbered(100, 200)
    opts = PromptOptions(budget=600, block_lines=32, heal=False)
    prev = None
    appended = 0
    text = "result = something(a, b)"
    for i in range(1, len(text) + 1):
        pieces = build_prompt(doc_before + text[:i], doc_after, STARCODER, chars, opts).pieces
        flat = "".join(pieces)
        if prev is not None and flat.startswith(prev):
            appended += 1
        prev = flat
    assert appended == len(text) - 1


# --- healing ---------------------------------------------------------------------------


def test_healing_backs_up_indentation_and_identifiers():
    vocab = Vocabulary(["\n", " ", " return", "ret", "return", "assertEqual", "x", "a"])
    text = "def f():\n    "
    cut = heal_boundary(text, char_starts, vocab)
    assert text[cut:] == " "  # "\n   " stays, the model writes " return"
    text = "    self.assertEq"
    assert text[heal_boundary(text, char_starts, vocab) :] == "assertEq"
    # No vocabulary token starts with the tail: no healing.
    assert heal_boundary("zzq", char_starts, vocab) == 3
    assert vocab.ids_starting_with("ret") == {3, 4}


def test_prompt_reports_healed_text():
    vocab = Vocabulary(["foo", "foobar", "x"])
    p = build_prompt("a = foo", "\n", STARCODER, chars, token_starts=char_starts, vocab=vocab)
    assert p.healed == "foo" and p.prefix == "a = " and p.pieces[-1] == "a = "


# --- post-processing -------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, prefix, suffix, expected",
    [
        # special tokens spelled out
        ("x + 1<|endoftext|>junk", "y = ", "\n", "x + 1"),
        ("x + 1<fim_middle>junk", "y = ", "\n", "x + 1"),
        # mid-line: rest of the line only
        ("a, b)\nprint(c)", "foo(", ")\n", "a, b"),
        # the rest of the line already closes the bracket (auto-pair)
        ("x)", "print(", ")\n", "x"),
        ("len(x))", "print(", ")\n", "len(x)"),
        ("len(x)", "print(", ")\n", "len(x)"),
        # single line at the end of an ordinary line
        ("value\nother = 1", "name = ", "\n", "value"),
        # block after an opener line: stops when indentation returns
        ("\n    return a + b\n\ndef g():\n    pass", "def f(a, b):", "\n", "\n    return a + b"),
        # blank indented line after an opener: the block at that indentation
        (
            "total = 0\n    for x in xs:\n        total += x\n    return total\nprint(1)",
            "def f(xs):\n    ",
            "\n",
            "total = 0\n    for x in xs:\n        total += x\n    return total",
        ),
        # a line that repeats the one before it ends the block
        ("x = 1\n    x = 1\n    x = 1", "def f():\n    ", "\n", "x = 1"),
        # repeats the suffix's next line: cut there
        (
            "if x:\n        y = 1\n    return y",
            "def f(x):\n    ",
            "\n    return y\n",
            "if x:\n        y = 1",
        ),
        # trailing whitespace and empty results
        ("value   \n", "name = ", "\n", "value"),
        ("   \n  ", "name = ", "\n", ""),
        ("\nother = 2", "name = 1", "\n", ""),
    ],
)
def test_postprocess_rules(raw, prefix, suffix, expected):
    assert postprocess(raw, prefix, suffix) == expected


def test_multiline_policy():
    assert is_multiline("def f():\n    ", "\n")
    assert is_multiline("def f():", "\n")
    assert not is_multiline("x = 1\n", "\n")
    assert not is_multiline("def f():\n    ", "pass\n")  # mid-line
    assert is_multiline("x = ", "\n", "multi") and not is_multiline(
        "def f():\n    ", "\n", "single"
    )
    assert (
        postprocess("[\n    1,\n    2", "x = ", "\n", PostOptions(mode="multi"))
        == "[\n    1,\n    2"
    )


def test_block_stop_respects_tabs():
    raw = "pass\n\tx = 1\nfoo()"
    assert postprocess(raw, "if a:\n\t", "\n") == "pass\n\tx = 1"


# --- training transform ------------------------------------------------------------------


def test_transform_round_trips_and_hits_rates():
    doc = "def f(x):\n    return x * 2  # 😀 中文\n" * 3
    counts = {"psm": 0, "spm": 0, None: 0}
    for seed in range(2000):
        ex = fim_transform(doc, random.Random(seed), fim_rate=0.6, spm_rate=0.25)
        assert ex.prefix + ex.middle + ex.suffix == doc
        counts[ex.order] += 1
        text = "".join(p for p in ex.pieces(STARCODER) if not isinstance(p, Special))
        assert sorted(text) == sorted(doc)
    assert abs(counts[None] / 2000 - 0.4) < 0.04
    fim = counts["psm"] + counts["spm"]
    assert abs(counts["spm"] / fim - 0.25) < 0.04


def test_transform_is_seeded_and_cuts_uniformly():
    doc = "abcdefghij"
    a = [fim_transform(doc, random.Random(s), 1.0, 0.5) for s in range(300)]
    b = [fim_transform(doc, random.Random(s), 1.0, 0.5) for s in range(300)]
    assert a == b
    lengths = [len(x.prefix) for x in a]
    assert min(lengths) == 0 and max(lengths) >= 8
    assert fim_transform("", random.Random(0), 1.0).pieces(STARCODER) == []


def test_spm_training_layout_matches_inference_layout():
    ex = fim_transform("0123456789", random.Random(3), 1.0, 1.0)
    train = ex.pieces(STARCODER)
    infer = STARCODER.layout(ex.prefix, ex.suffix, "spm")
    assert train[: len(infer)] == infer  # the middle simply follows the prompt


def test_editor_cuts_put_the_cursor_on_a_code_line_and_end_the_middle_at_a_line_end():
    doc = "class A:\n    def f(self, x):\n\n        return x + 1\n\n# end\nZ = A()"
    starts_at_indent = 0
    for seed in range(500):
        ex = fim_transform(doc, random.Random(seed), 1.0, 0.5, line_rate=1.0)
        assert ex.prefix + ex.middle + ex.suffix == doc
        line = doc[doc.rfind("\n", 0, len(ex.prefix)) + 1 :].split("\n", 1)[0]
        assert line.strip()  # never a blank line
        assert ex.suffix == "" or ex.suffix.startswith("\n")  # the middle ends a line
        assert not ex.middle.endswith("\n")
        starts_at_indent += ex.prefix.endswith(("\n", "    ")) or not ex.prefix
    assert 0.4 < starts_at_indent / 500 < 0.8  # indentation half the time, else mid-line
    assert fim_transform("", random.Random(0), 1.0, line_rate=1.0).order is None
    # Character-cut recipes draw the same examples as before line cuts existed.
    old = [fim_transform(doc, random.Random(s), 0.7, 0.5) for s in range(50)]
    assert old == [fim_transform(doc, random.Random(s), 0.7, 0.5, line_rate=0.0) for s in range(50)]


def test_editor_cuts_can_end_the_prefix_at_the_healing_boundary():
    doc = "def f(x):\n    return x\n"
    # A stand-in for the server's healing: the prompt ends before the last space.
    heal = lambda text: max(0, len(text) - 1)  # noqa: E731
    for seed in range(20):
        ex = fim_transform(doc, random.Random(seed), 1.0, 1.0, line_rate=1.0, boundary=heal)
        plain = fim_transform(doc, random.Random(seed), 1.0, 1.0, line_rate=1.0)
        if plain.prefix:
            assert ex.prefix == plain.prefix[:-1]
            assert ex.middle == plain.prefix[-1] + plain.middle
