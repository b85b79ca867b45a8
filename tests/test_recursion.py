"""A suggested line that calls its own function with the same arguments is hidden
(fim/recursion.py), and every sign that something changed on the way lets it pass."""

import pytest

from fim.postprocess import PostOptions, finish_text
from fim.recursion import calls_itself, enclosing_function

SINGLE = PostOptions(mode="single")


@pytest.mark.parametrize(
    "prefix, line",
    [
        ("def square(x):\n    ", "    return square(x)"),
        ('def area(w, h):\n    """The area for w and h."""\n    ', "    return area(w, h)"),
        ("def factorial(n):\n    if n == 0:\n        return 1\n    ", "    return factorial(n)"),
        ("class A:\n    def area(self, w, h):\n        ", "        return self.area(w, h)"),
        ("def f(*args, **kw):\n    ", "    return f(*args, **kw)"),
        ("def f(a, *, b):\n    ", "    return f(a, b=b)"),
        ("async def fetch(url):\n    ", "    return await fetch(url)"),
        ("def f(a, b):\n    ", "    total = 1 + f(a,  b)"),
        ("class A:\n\tdef area(self, w):\n\t\tif w:\n\t\t\tpass\n\t\t", "\t\treturn self.area(w)"),
        ("def f(\n    a: int,\n    b: str = '',\n):\n    ", "    return f(a, b)"),
    ],
)
def test_a_call_of_its_own_function_with_the_same_arguments_is_found(prefix, line):
    assert calls_itself(line, prefix)


@pytest.mark.parametrize(
    "prefix, line",
    [
        ("def factorial(n):\n    n -= 1\n    ", "    return factorial(n)"),  # changed above
        ("def f(items):\n    for items in x:\n        ", "        return f(items)"),
        ("def parse(s):\n    s.advance()\n    ", "    return parse(s)"),  # may move on
        ("def pformat(o):\n    from pprint import pformat\n    ", "    return pformat(o)"),
        ("def pager(t):\n    global pager\n    ", "    pager(t)"),
        ("class A:\n    def area(self, w, h):\n        ", "        return area(w, h)"),  # another
        ("def square(x):\n    ", "    return square(x) if x else 0"),  # guarded on the line
        ("def run(a):\n    ", "    later(lambda: run(a))"),  # deferred
        ("def eq(i, j):\n    ", "    return all(eq(i, j) for i, j in zip(i, j))"),
        ("def square(x):\n    ", "    return square(x + 1)"),  # other arguments
        ("def main():\n    ", "    main()"),  # no parameters: state outside it
        ("def f(a):\n    pass\n", "f(a)"),  # module level
        ("def f(a):\n    def g(a):\n        pass\n    ", "    return g(a)"),
        ("def f(a):\n    def g(b):\n        ", "        return f(a)"),  # g is the nearest
        ('def f(a):\n    """Call\n    ', "    f(a) to do it"),  # in the docstring
        ("def f(a):\n    ", "    # f(a) again"),
        ("def f(a):\n    ", '    log("f(a)")'),
        ("def f(a):\n    ", "    Calculate f(a) = the sum"),  # prose, not a statement
    ],
)
def test_a_line_with_a_sign_of_change_passes(prefix, line):
    assert not calls_itself(line, prefix)


def test_the_enclosing_function_is_the_nearest_def_that_holds_the_line():
    lines = ["def outer(a):", "    if a:", "        x = 1", "        "]
    found = enclosing_function(lines)
    assert found is not None and found[0] == 0 and found[1].name == "outer"
    header = ["def f(", "    a,", "    b=1,", "):", "    "]
    found = enclosing_function(header)
    assert found is not None and found[0] == 3 and found[1].name == "f"
    assert enclosing_function(["class A:", "    "]) is None
    assert enclosing_function(["x = 1", ""]) is None


def test_the_finisher_hides_it_and_says_why():
    prefix = "def square(x):\n    return "
    assert finish_text("square(x)\n", prefix, "\n", SINGLE) == ("", "recursion")
    assert finish_text("square(x)", prefix, "\n", SINGLE) == ("", "recursion")  # no end yet
    assert finish_text("x * x\n", prefix, "\n", SINGLE) == ("x * x", "")
    block = "if x:\n        return square(x)\n"
    assert finish_text("square(x)\n", prefix, "\n", PostOptions(mode="multi"))[1] == "recursion"
    in_doc = 'def square(x):\n    """Say:\n    return '  # prose in a docstring
    assert finish_text("square(x)\n", in_doc, "\n", SINGLE) == ("square(x)", "")
    js = PostOptions(mode="single", language="javascript")
    assert finish_text("square(x)\n", prefix, "\n", js) == ("square(x)", "")
    assert finish_text(block, "def square(x):\n    ", "", PostOptions(mode="multi"))[0]


def test_a_huge_header_or_line_is_not_parsed():
    header = "def f(" + "a: int, " * 20_000 + "):\n    "
    assert not calls_itself("    return f(a)", header)
    line = "    return f(a, b" + ", c" * 100_000 + ")"
    assert not calls_itself(line, "def f(a, b):\n    ")


def test_only_a_class_makes_a_method():
    """Found by bench.false_flags in real code: a static method `abs` calling the builtin,
    and a backport whose plain function takes the string as `self`."""
    static = "class Ref:\n    @staticmethod\n    def abs(x):\n        "
    assert not calls_itself("        return abs(x)", static)
    backport = "if old:\n\n    def removesuffix(self, suffix):\n        "
    assert not calls_itself("        return self.removesuffix(suffix)", backport)
    assert calls_itself("        return removesuffix(self, suffix)", backport)
    method = "class S:\n    def removesuffix(self, suffix):\n        "
    assert calls_itself("        return self.removesuffix(suffix)", method)
    nested = "class A:\n    def f(self):\n        def walk(node):\n            "
    assert calls_itself("            return walk(node)", nested)  # a function in a method
