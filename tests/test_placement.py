"""A Python statement that cannot stand at the cursor is hidden (fim/placement.py)."""

from __future__ import annotations

import pytest

from fim import placement
from fim.placement import misplaced
from fim.postprocess import PostOptions, finish_text

SINGLE = PostOptions(mode="single")

MISPLACED = [
    # (text above, the suggested line)
    ("def f(x):\n    x = 1\n", "    else:"),
    ("def f(x):\n    x = 1\n", "    except ValueError:"),
    ("def f(x):\n    x = 1\n", "    finally:"),
    ("def f(x):\n    for i in x:\n        pass\n", "    elif x:"),  # elif continues an if only
    ("if a:\n    pass\nelse:\n    pass\n", "else:"),  # a second else
    ("class A:\n    x = 1\n", "    return x"),
    ("class A:\n    def f(self):\n        pass\n", "    return val"),
    ("x = (\n1,\n)\n", "return x"),  # module level, after a continuation at column 0
    ("def f():\n    x = 1\n    if x:\n", "        break"),
    ("for i in x:\n    def g():\n        if y:\n", "            break"),  # a def in between
    ("for i in x:\n    pass\nelse:\n", "    continue"),  # a loop's else is outside it
    ("class A:\n", "    yield 1"),
    ("def f(x):\n    x = 1\n", "    else:  # a comment after the colon"),
]

PLACED = [
    ("def f(x):\n    if x:\n        x = 1\n", "    else:"),
    ("if a: b\n", "else:"),  # after a one-line if
    ("def f(x):\n    if x:\n        pass\n    # a comment\n", "    else:"),
    ("for i in x:\n    pass\n", "else:"),
    ("while x:\n    pass\n", "else: x = 0"),  # the clause's body on its line
    ("def f():\n    try:\n        x = 1\n", "    except ValueError:"),
    ("try:\n    x = 1\nexcept E:\n    pass\n", "else:"),
    ("try:\n    x = 1\nexcept E:\n    pass\nelse:\n    pass\n", "finally:"),
    ("if a:\n    pass\nelif b:\n    pass\n", "elif c:"),
    ("class A:\n    def f(self):\n        x = 1\n", "        return val"),
    ("def f(\n    a,\n):\n", "    yield a"),  # a header over several lines
    ("async def f():\n    async for x in y:\n", "        break"),
    ("def f():\n    for i in x:\n        if i:\n", "            continue"),
    ("for i in x:\n    pass\nelse:\n    while 1:\n", "        break"),  # the inner loop's
    ("def f():\n    x = 1\n", "    returned = 2"),  # a longer name, not the keyword
    ("def f():\n    x = 1\n", "    else_branch = 2"),
    ("def f():\n    x = 1\n", "    else"),  # the clause not written yet
    ("x = f(\n    1,\n", "    return_value=2)"),
    # the quick reading is fooled by a string's continuation line at column 0; the parse is not
    (
        "def f(e):\n    try:\n        pass\n    except E:\n        if e:\n"
        '            why(f"cannot, \\\nlikely {e}")\n            return False\n',
        "        else:",
    ),
    ("import x\n", "if __name__ == '__main__':"),  # no keyword of its own
]


@pytest.mark.parametrize(("above", "line"), MISPLACED)
def test_a_statement_that_cannot_stand_there_is_found(above, line):
    prefix = above + line[: len(line) - len(line.lstrip())]
    assert misplaced(line, prefix)


@pytest.mark.parametrize(("above", "line"), PLACED)
def test_a_statement_that_can_stand_there_passes(above, line):
    prefix = above + line[: len(line) - len(line.lstrip())]
    assert not misplaced(line, prefix)


def test_text_that_does_not_parse_above_gives_no_verdict():
    # an unclosed bracket above: the quick reading says misplaced, the parse cannot tell
    assert not misplaced("    else:", "def f(x):\n    x = g(\n    y = 1\n    ")
    # an open docstring: prose
    assert not misplaced("    return x", 'class A:\n    """Say:\n    ', in_string=True)


def test_a_long_file_is_read_from_the_last_top_level_block(monkeypatch):
    monkeypatch.setattr(placement, "MAX_LINES", 50)
    lines = "".join(f"    x{i} = {i}\n" for i in range(30))
    earlier = "def g():\n" + lines * 4  # past the lines walked
    assert misplaced("    return x", earlier + "class A:\n" + lines + "    ")
    assert not misplaced("    return x", earlier + "def f():\n" + lines + "    ")
    # the block the cursor is in starts above the lines walked: no verdict, the line passes
    assert not misplaced("    return x", "class A:\n" + lines * 4 + "    ")


def test_a_keyword_the_programmer_typed_is_theirs():
    above = "class A:\n    x = 1\n"
    assert misplaced("    return x", above + "    ret")  # the model chose `return`
    assert not misplaced("    return x", above + "    return ")
    assert not misplaced("    return x", above + "    return")


def test_the_finisher_hides_it_and_says_why():
    prefix = "def f(x):\n    x = 1\n    "
    assert finish_text("else:\n", prefix, "\n", SINGLE) == ("", "misplaced")
    assert finish_text("else:\n", prefix, "\n", PostOptions(mode="multi")) == ("", "misplaced")
    assert finish_text("return x\n", prefix, "\n", SINGLE) == ("return x", "")
    js = PostOptions(mode="single", language="javascript")
    assert finish_text("else:\n", prefix, "\n", js)[1] != "misplaced"
