"""The junk guard: loops a small model writes are hidden or cut, idioms that repeat are not."""

from __future__ import annotations

import pytest

from fim.degenerate import loop_start, repeated_line
from fim.postprocess import PostOptions, finish_text, stop_early

LOOPS = [
    "(numbers.Complex(numbers.Complex(numbers.Complex(numbers.Complex(",
    'os.path.join(path, "test_dir", "test_dir", "test_dir", "test_dir"',
    "[o for o in o if o not in o if o not in o if o not in o",
    'text.replace("a", "b").replace("a", "b").replace("a", "b")',
    "# A 28-day february starting on monday (7+7+7+7+7+7+7+7+7+7+7+7+7+7+7+7+",
    "def test_custom_headers_and_headers_and_headers_and_headers_and_headers_and",
    "'eo_eo_eo_eo_eo_eo_eo_eo_eo",
    "zip(map(f, n.values))) + dict(zip(map(f, n.values))) + dict(zip(map(f, n.values",
    "celsius_to_fahrenheit(c, c, c, c, c, c, c, c, c",
    "return 1000000000000000000000000000000000000000000000",
    "'__weakref__', '__weakref__', '__weakref__')",
    'lambda: handler, "http://127.0.0.1:127.0.1:127.0.1:127.0.1:127.0.1',
    "'08/19/04 08/19/04 08/19/04 08/19/04 08/19/04 08",
    "return opening_bracket_index, opening_bracket_index, opening_bracket_index, open",
    "self.assertEqual(self.check_keys_reuse(s, self.check_keys_reuse(s, self.check_keys_reuse(s",
    "'\\u0410'   #  0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x0x",
]
IDIOMS = [
    "os.path.dirname(os.path.dirname(os.path.dirname(__file__)))",
    "[0, 0, 0, 0, 0, 0]",
    "return None, None, None, None",
    "matrix = [[0, 0, 0], [0, 0, 0], [0, 0, 0]]",
    'print("-" * 10, "-" * 10)',
    "return a if a is not None else b if b is not None else c",
    "x = y = z = 0",
    "dict[str, dict[str, dict[str, int]]]",
    "sum(numbers) / len(numbers)",
    "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]",
    "value = f(xxxxxxxx)",
    'x = "1011111111111111111122222222222222"',
    'data = b"\\x00\\x00\\x00\\x00\\x00"',
    'print("=" * 40)',
    "range(1), range(5, 6), range(5, 6, 2),",
    "('ABORT', 3), ('ABORT', 3),",
    "max(a, a, a)",
    "func.argtypes = (c_double, c_double, c_double)",
    'ip = "127.0.0.1"',
    "'08/19/04 08/20/04 08/21/04 08/22/04'",
    'assert f(x) == "0000000000"',
    "self.assertEqual(parse(s), s, s)",
    "Node(1, Node(2, Node(3, None)))",
    'assert parse("0x0x0x") == 0',
    "key = 'a1a1a1a1a1a1a1'",
    "os.path.join(root, os.path.join(root, name))",
    "max(a, max(b, max(c, d)))",
    "self.assertEqual(d.cm(), (d, (D, (D, (D, 'A'), 'B'), 'C'), 'D'))",
]


@pytest.mark.parametrize("line", LOOPS)
def test_loops_are_found_where_they_start_repeating(line):
    start = loop_start(line)
    assert start is not None and 0 < start < len(line)
    # the text just before the cut (one copy of the unit, 2+ characters) follows it again
    assert any(line[start:].startswith(line[k:start]) for k in range(start - 1))


@pytest.mark.parametrize("line", IDIOMS)
def test_code_that_really_repeats_itself_is_not_a_loop(line):
    assert loop_start(line) is None


@pytest.mark.parametrize("line", LOOPS)
def test_a_looping_single_line_is_hidden_as_junk(line):
    assert finish_text(line, "x = ", "\n", PostOptions(mode="single")) == ("", "junk")


def test_a_block_is_cut_before_its_loop_or_its_repeated_lines():
    prefix = "def f(xs):\n"
    looping = "    total = 0\n    return grow(grow(grow(grow(grow(xs)))))\n"
    assert finish_text(looping, prefix, "", PostOptions(mode="multi")) == ("    total = 0", "")
    again = "    a = 1\n    b.append(a)\n    b.append(a)\n    b.append(a)\n"
    text, why = finish_text(again, prefix, "", PostOptions(mode="multi"))
    assert text == "    a = 1\n    b.append(a)" and why == ""
    assert finish_text("    hh(hh(hh(hh(hh(1)))))\n", prefix, "", PostOptions(mode="multi")) == (
        "",
        "junk",
    )


def test_decoding_stops_once_the_text_loops():
    single = PostOptions(mode="single")
    assert not stop_early('os.path.join(path, "ab", "ab"', "p = ", "\n", single)
    assert stop_early('os.path.join(path, "ab", "ab", "ab", "ab"', "p = ", "\n", single)
    multi = PostOptions(mode="multi")
    lines = "    x.append(1)\n" * 3
    assert stop_early(lines, "def f():\n", "", multi)
    assert repeated_line(["a = 1", "b = 2"]) is None


@pytest.mark.parametrize(
    "before,line,junk",
    [
        ("    ", "documenter.documenter = documenter.documenter", True),
        ("    self.x = ", "self.x", True),  # typed half of it: the whole line counts
        ("    ", "IO = IO", False),  # a class body's idiom
        ("    ", "x = x + 1", False),
        ("    ", "self.x = x", False),
        ("    ", "assert a == a", False),
        ("", "import os, socket, socket, socket,", True),
        ("from os import ", "path, sep, path", True),
        ("", "import os, socket, time", False),
        ("", "from os import path as p, path", False),
        ("", "import os  # os, os", False),
        ("    code = ", "'import os, socket, socket, socket,", True),  # code in a string
        ("    code = ", '"from os import path, sep, path"', True),
        ("    msg = ", "'import the file and the data'", False),  # prose
        ("    code = ", "'import os, sys'", False),
    ],
)
def test_an_assignment_of_a_name_to_itself_or_an_import_twice_is_junk(before, line, junk):
    got = finish_text(line, "def f(x):\n" + before, "\n", PostOptions(mode="single"))
    assert (got == ("", "junk")) == junk, got


RUNAWAYS = [
    "self.assertRaises(TypeError, range, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,",
    "f(a, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1",
    'x = {"a": [None, None, None, None, None, None, None, None, None, None',
]


@pytest.mark.parametrize("line", RUNAWAYS)
def test_a_line_cut_off_while_repeating_an_item_in_an_open_bracket_is_junk(line):
    assert finish_text(line, "    ", "\n", PostOptions(mode="single")) == ("", "junk")


@pytest.mark.parametrize(
    "line",
    [
        "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]",  # closed: data
        "0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,",  # a table's row opens no bracket
        "f(0, 0, 0, 0, 0, 0, 0,",  # seven: not yet a runaway
    ],
)
def test_repeated_items_that_close_or_open_nothing_are_kept(line):
    assert finish_text(line, "    ", "\n", PostOptions(mode="single"))[0] == line
    # a line that ended (a newline came) is not asked: a call may go on below
    ended = "self.assertRaises(TypeError, range, 0, 0, 0, 0, 0, 0, 0, 0, 0,\n"
    assert finish_text(ended, "    ", "\n", PostOptions(mode="single"))[1] != "junk"


@pytest.mark.parametrize(
    "line",
    [
        "if dirpath, dirnames, filenames in os.walk(dirpath):",  # the demo's copied header
        "for i in range(10) if i:",
        "def f(x) y:",
        "elif x = 1:",
    ],
)
def test_a_python_block_header_no_parser_accepts_is_hidden(line):
    prefix = "for dirpath, dirnames, filenames in os.walk(root):\n    "
    assert finish_text(line + "\n", prefix, "\n", PostOptions(mode="single")) == ("", "invalid")


@pytest.mark.parametrize(
    "line",
    [
        "if os.path.isdir(dirpath):",
        "elif x == 1:",
        "else:",
        "except (OSError, ValueError) as exc:",
        "try:",
        "finally:",
        "async with lock:",
        "class A(B, metaclass=M):",
        "for x in xs):",  # closes a generator opened above: not parsed alone
        "if (a and  # a comment that ends in a colon:",  # goes on below
    ],
)
def test_valid_or_unparsable_alone_headers_are_kept(line):
    # a clause follows what it continues (fim/placement.py hides it elsewhere)
    opened = "try" if line.startswith(("except", "finally")) else "if xs"
    prefix = f"def f(xs):\n    {opened}:\n        pass\n    "
    assert finish_text(line + "\n", prefix, "\n", PostOptions(mode="single")) == (line, "")


def test_the_header_check_leaves_docstrings_other_languages_and_cut_lines_alone():
    bad = "if a, b in c:"
    doc = 'def f():\n    """Say:\n    '  # prose in a docstring
    assert finish_text(bad + "\n", doc, "\n", PostOptions(mode="single")) == (bad, "")
    js = PostOptions(mode="single", language="javascript")
    assert finish_text(bad + "\n", "    ", "\n", js)[1] != "invalid"
    assert finish_text(bad, "    ", "\n", PostOptions(mode="single")) == (bad, "")  # no end yet


def test_a_block_is_cut_before_a_header_no_parser_accepts():
    prefix = "def f(root):\n    for dirpath, dirnames, filenames in os.walk(root):\n        "
    first = "if dirpath, dirnames, filenames in os.walk(dirpath):\n            x = 1\n"
    assert finish_text(first, prefix, "", PostOptions(mode="multi")) == ("", "invalid")
    later = "n = 0\n        for d in dirnames if d:\n            n += 1\n"
    assert finish_text(later, prefix, "", PostOptions(mode="multi")) == ("n = 0", "")
    fine = "if dirpath:\n            x = 1\n"
    assert finish_text(fine, prefix, "", PostOptions(mode="multi"))[1] == ""
