"""Repository context: retrieval, the workspace index, snippet stability, echo rules."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fim.corpus import Corpus
from fim.postprocess import PostOptions, echoes, postprocess
from fim.retrieval import keep_or_replace, query_of
from fim.windows import definitions_of
from lsp_server.repo_context import RepoContext
from lsp_server.workspace import WorkspaceIndex

FILES = {
    "shop/cart.py": (
        "from shop.prices import price_of, apply_discount\n\n\n"
        "class Cart:\n"
        "    def __init__(self):\n"
        "        self.items = []\n\n"
        "    def add(self, sku, quantity=1):\n"
        "        self.items.append((sku, quantity))\n\n"
        "    def total(self):\n"
        "        subtotal = sum(price_of(sku) * quantity for sku, quantity in self.items)\n"
        "        return apply_discount(subtotal, self.coupon)\n"
    ),
    "shop/prices.py": (
        "PRICES = {'apple': 3, 'pear': 4}\n\n\n"
        "def price_of(sku):\n"
        "    return PRICES[sku]\n\n\n"
        "def apply_discount(amount, coupon):\n"
        "    if coupon is None:\n"
        "        return amount\n"
        "    return amount * (100 - coupon.percent) // 100\n"
    ),
    "shop/log.py": (
        "import logging\n\n"
        "log = logging.getLogger('shop')\n\n\n"
        "def warn(message):\n"
        "    log.warning(message)\n"
    ),
}


def corpus_of(files: dict[str, str]) -> Corpus:
    return Corpus.of_files([(p, p, t) for p, t in files.items()])


def defined(corpus: Corpus) -> set[str]:
    """The names a corpus has a live definition of."""
    names = {n for seg in corpus.segments for n in seg.definitions.row}
    return {n for n in names if corpus.definition(n) is not None}


# --- retrieval ------------------------------------------------------------------------


@pytest.mark.parametrize("scorer", ["jaccard", "bm25"])
def test_similar_code_ranks_the_related_file_first(scorer):
    corpus = corpus_of(FILES)
    query = "subtotal = price_of(sku) * quantity\nif coupon is None:\n    return amount"
    ranked = corpus.similar(query, 3, exclude="shop/cart.py", scorer=scorer)
    assert [w.path for _, w in ranked][0] == "shop/prices.py"
    assert all(w.path != "shop/cart.py" for _, w in ranked)
    assert [s for s, _ in ranked] == sorted((s for s, _ in ranked), reverse=True)


def test_definitions_of_top_level_names_and_their_bodies():
    defs = definitions_of("shop/prices.py", FILES["shop/prices.py"])
    assert set(defs) == {"PRICES", "price_of", "apply_discount"}
    assert defs["apply_discount"].text.startswith("def apply_discount(amount, coupon):")
    assert "return amount * (100 - coupon.percent) // 100" in defs["apply_discount"].text
    assert "def price_of" not in defs["apply_discount"].text


def test_the_query_leaves_out_the_cursors_line():
    assert query_of("a = 1\nb = 2\nc = pri") == "a = 1\nb = 2"
    assert query_of("first line only") == ""


def test_hysteresis_keeps_a_set_unless_a_new_one_is_clearly_better():
    corpus = corpus_of(FILES)
    prices = [corpus.definition("apply_discount")]
    log = [corpus.definition("warn")]
    query = "total = apply_discount(amount, coupon)"
    assert keep_or_replace(prices, log, query) == prices  # the new set is worse: kept
    assert keep_or_replace(log, prices, query) == prices  # clearly better: replaced
    assert keep_or_replace((), log, query) == log


# --- the workspace index and snippets ---------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_snippets_bring_definitions_from_other_files_and_stay_put_while_typing(tmp_path):
    root = tmp_path / "proj"
    write_tree(root, FILES)
    index = WorkspaceIndex()
    index.set_folders([root]).result(10)
    context = RepoContext(index)
    uri = (root / "shop" / "cart.py").as_uri()
    text = FILES["shop/cart.py"]
    cursor = text.index("return apply_discount")
    labels = []
    for typed in ("", "r", "re", "ret", "retu", "return"):  # typing on the cursor's line
        snippets = context.snippets(uri, text[:cursor] + typed, text[cursor:])
        labels.append([s.path for s in snippets])
    assert "proj/shop/prices.py" in labels[0]
    assert all(ls == labels[0] for ls in labels)
    assert all(not p.endswith("cart.py") for p in labels[0])
    texts = [s.text for s in context.snippets(uri, text[:cursor], text[cursor:])]
    assert any(t.startswith("def apply_discount(amount, coupon):") for t in texts)


def test_folders_come_and_go_and_ignored_or_escaping_files_never_enter(tmp_path):
    a, b, outside = tmp_path / "a", tmp_path / "b", tmp_path / "outside"
    write_tree(a, {"one.py": "def alpha_function():\n    return 1\n"})
    write_tree(b, {"two.py": "def beta_function():\n    return 2\n", "skip.py": "x = 1\n"})
    (b / ".gitignore").write_text("skip.py\n")
    write_tree(outside, {"secret.py": "def gamma_secret():\n    return 3\n"})
    os.symlink(outside, b / "linked")
    (b / "blob.py").write_bytes(b"\x00" * 100)
    index = WorkspaceIndex()
    index.set_folders([a]).result(10)
    assert defined(index.snapshot()) == {"alpha_function"}
    index.change_folders([b], []).result(10)
    assert defined(index.snapshot()) == {"alpha_function", "beta_function"}
    index.change_folders([], [a]).result(10)
    assert defined(index.snapshot()) == {"beta_function"}
    index.update(outside / "secret.py").result(10)  # outside every folder: never read
    index.update(b / "linked" / "secret.py").result(10)  # through a symlink: neither
    assert "gamma_secret" not in defined(index.snapshot())
    (b / "three.py").write_text("def delta_function():\n    pass\n")
    index.update(b / "three.py").result(10)  # a saved / created file
    assert "delta_function" in defined(index.snapshot())
    (b / "three.py").unlink()
    index.update(b / "three.py").result(10)  # a deleted file
    assert "delta_function" not in defined(index.snapshot())


# --- no echoes ---------------------------------------------------------------------------

BODY = "def load(path):\n    data = read(path)\n    "
ECHOES = [
    # (prefix, suggestion, suffix, dropped?)
    (BODY, "return data", "\n    return data\n", True),  # the line below
    (BODY, "data = read(path)", "\n    return data\n", True),  # the line above
    ("def load(path):\n    ", "def load(path):", "\n", True),  # the header just above
    ("def a_one():\n    pass\n\n\ndef b():\n    x = 1\n", "def a_one():", "\n", False),
    (
        "class A:\n    def load(self, path):\n        x = 1\n        ",
        "def load(self, path):",
        "\n",
        True,
    ),
    (BODY, "return parse(data)", "\n    return data\n", False),  # different
    (BODY, "pass", "\n    pass\n", False),  # too short to call an echo
    ("    x = compute(", "a, b)", "\n    x = compute(a, b)\n", True),  # mid-line completion
    (BODY, "return data", "\n\n\n    return data\n", True),  # blank lines in between
]


@pytest.mark.parametrize("prefix, suggestion, suffix, dropped", ECHOES)
def test_echo_rules(prefix, suggestion, suffix, dropped):
    assert echoes(suggestion, prefix, suffix) == dropped
    kept = postprocess(suggestion, prefix, suffix, PostOptions(mode="single"))
    assert (kept == "") == dropped
    off = postprocess(suggestion, prefix, suffix, PostOptions(mode="single", drop_echoes=False))
    assert off == suggestion


def test_a_block_stops_where_it_starts_repeating_the_suffix():
    prefix = "def f(x):\n"
    suffix = "\n    return y\n"
    text = "    y = x + 1\n    return y\n    extra = 2"
    assert postprocess(text, prefix, suffix, PostOptions(mode="multi")) == "    y = x + 1"


def test_a_block_that_only_repeats_the_lines_below_is_dropped_not_a_crash():
    # The first generated line is the suffix's next line: nothing of the block is new.
    text = postprocess(
        "y = 2\n    z = 3", "def f():\n    ", "\n    y = 2\n", PostOptions(mode="multi")
    )
    assert text == ""


def test_a_file_name_that_is_not_utf8_still_gives_snippets_and_completions(tmp_path):
    from lsp_server.completion import CompletionRequest, CompletionService
    from lsp_server.settings import Settings
    from tests.models import make_constant_model_dir

    root = tmp_path / "proj"
    root.mkdir()
    odd = root / os.fsdecode(b"\xff\xfe_helpers.py")  # surrogate escapes in the str
    odd.write_text("def helper_value(a):\n    return a * 2\n")
    main = root / "main.py"
    text = "from helpers import helper_value\n\nresult = helper_value(3)\nvalue = "
    main.write_text(text)
    index = WorkspaceIndex()
    index.set_folders([root]).result(10)
    context = RepoContext(index)
    snippets = context.snippets(main.as_uri(), text, "\n")
    assert snippets and all(s.path.encode("utf-8") for s in snippets)  # no lone surrogates
    model = make_constant_model_dir(tmp_path / "m")
    settings = Settings(model=str(model), max_new_tokens=2, min_confidence=0)
    service = CompletionService(settings, context)
    service.load().result()
    done = service.complete_now(CompletionRequest(main.as_uri(), 1, text, "\n", "main.py"))
    service.shutdown(wait_s=5)
    assert done.status == "ok" and done.context, (done.status, done.detail)


def test_a_backtracking_gitignore_pattern_cannot_freeze_the_walk(tmp_path):
    import threading

    from fim.repo_files import iter_repo_files

    root = tmp_path / "proj"
    root.mkdir()
    (root / ".gitignore").write_text("*a" * 12 + "b\n")  # exponential for a backtracking matcher
    (root / ("a" * 120 + ".py")).write_text("x = 1\n")
    found: list = []
    walk = threading.Thread(target=lambda: found.extend(iter_repo_files(root)), daemon=True)
    walk.start()
    walk.join(20)  # Python's re took 44 s at 8 stars and 63 characters; RE2 takes microseconds
    assert not walk.is_alive(), "the ignore matcher is still backtracking"
    assert [f.relpath for f in found] == ["a" * 120 + ".py"]


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "outside"])
def test_a_gitignore_that_is_not_a_plain_file_is_not_read(tmp_path, kind):
    import threading

    from fim.repo_files import iter_repo_files

    root = tmp_path / "proj"
    root.mkdir()
    (root / "keep.py").write_text("x = 1\n")
    outside = tmp_path / "outside-ignore"
    outside.write_text("keep.py\n")  # would hide keep.py if read through the link
    if kind == "fifo":
        os.mkfifo(root / ".gitignore")
    else:
        os.symlink("/dev/zero" if kind == "dev-zero" else outside, root / ".gitignore")
    found: list = []
    walk = threading.Thread(target=lambda: found.extend(iter_repo_files(root)), daemon=True)
    walk.start()
    walk.join(20)
    assert not walk.is_alive(), f"the walk blocked on a {kind} .gitignore"
    assert [f.relpath for f in found] == ["keep.py"]


def test_a_source_file_swapped_for_a_link_is_not_followed(tmp_path):
    from fim.repo_files import read_source

    secret = tmp_path / "secret.py"
    secret.write_text("TOKEN = 'outside the workspace'\n")
    link = tmp_path / "proj" / "zz.py"
    link.parent.mkdir()
    link.symlink_to(secret)
    assert read_source(link) is None and read_source(secret) is not None


def test_dropping_every_folder_empties_the_index_at_once_even_behind_a_busy_build(tmp_path):
    import threading

    root = tmp_path / "ws_secretA"
    write_tree(root, {"private.py": "def private_helper(x):\n    return x * 42\n"})
    index = WorkspaceIndex()
    index.set_folders([root]).result(10)
    assert "private_helper" in defined(index.snapshot())
    release = threading.Event()
    index._worker.submit(lambda: release.wait(10))  # the index thread is busy
    index.set_folders([])  # a session ends: queued behind the busy thread
    try:
        assert defined(index.snapshot()) == set()  # was: the old snapshot kept serving
    finally:
        release.set()


# --- the packed corpus and its updates (issue 32, item 14) ------------------------------


def _random_source(rng, n_lines: int) -> str:
    words = ["alpha", "beta_x", "gamma", "delta", "self", "x", "value", "total", "item"]
    lines = []
    for _ in range(n_lines):
        kind = rng.random()
        if kind < 0.1:
            lines.append(f"def {rng.choice(words)}_{rng.randrange(5)}(a, b):")
        elif kind < 0.2:
            lines.append("")
        elif kind < 0.25:
            lines.append(f"{rng.choice(words).upper()} = {rng.randrange(9)}")
        else:
            lines.append("    " + " + ".join(rng.choice(words) for _ in range(rng.randrange(1, 5))))
    return "\n".join(lines)


def test_the_packed_corpus_cuts_exactly_the_reference_windows_and_definitions():
    import random

    from fim.windows import windows_of

    rng = random.Random(3)
    files = {f"p/m{i}.py": _random_source(rng, rng.randrange(0, 70)) for i in range(30)}
    files["p/blank.py"] = "\n" * 45 + "x = 1\n"
    corpus = corpus_of(files)
    assert list(corpus.windows()) == [w for p, t in files.items() for w in windows_of(p, t)]
    for path, text in files.items():
        for name in definitions_of(path, text):
            first = next(p for p, t in files.items() if name in definitions_of(p, t))
            assert corpus.definition(name) == definitions_of(first, files[first])[name]
            assert corpus.definition(name, exclude=path) is None  # the cursor's file defines it


def test_updates_give_the_corpus_a_build_from_scratch_gives_and_leave_the_big_segment_alone():
    import random

    rng = random.Random(7)
    files = {f"k{i}": _random_source(rng, 40) for i in range(200)}
    corpus = Corpus.of_files([(k, k, t) for k, t in files.items()])
    base = corpus.segments[0]
    for _ in range(60):
        changes = {}
        for _ in range(rng.randrange(1, 4)):
            key = f"k{rng.randrange(230)}"
            text = None if rng.random() < 0.2 else _random_source(rng, 30)
            changes[key] = None if text is None else (key, key, text)
            if text is None:
                files.pop(key, None)
            else:
                files[key] = text
        corpus = corpus.changed(changes)
        assert corpus.segments[0] is base  # a few files changed: the big segment kept
        assert len(corpus.segments) <= 8
    fresh = Corpus.of_files([(k, k, t) for k, t in files.items()])
    assert corpus.files == fresh.files and corpus.window_count() == fresh.window_count()
    assert sorted(corpus.windows(), key=lambda w: (w.path, w.start)) == sorted(
        fresh.windows(), key=lambda w: (w.path, w.start)
    )
    for _ in range(20):
        query = _random_source(rng, 10)
        assert corpus.similar(query, 4, exclude="k3") == fresh.similar(query, 4, exclude="k3")
        assert defined(corpus) == defined(fresh)


def test_the_corpus_costs_a_small_multiple_of_its_text():
    import random
    import tracemalloc

    rng = random.Random(5)
    files = [(f"k{i}", f"k{i}", _random_source(rng, 400)) for i in range(100)]
    text = sum(len(t) for _, _, t in files)
    tracemalloc.start()
    corpus = Corpus.of_files(files)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert corpus.files == 100
    assert held < 3 * text, f"{held / text:.1f}x the text"  # a str and a set per window: ~20x


def test_queued_updates_are_applied_together_the_newest_per_file(tmp_path, monkeypatch):
    import threading

    import fim.corpus

    root = tmp_path / "ws"
    write_tree(root, {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(20)})
    index = WorkspaceIndex()
    index.set_folders([root]).result(10)
    packs = []
    real_pack = fim.corpus.pack
    monkeypatch.setattr(
        fim.corpus, "pack", lambda files, *rest: packs.append(len(files)) or real_pack(files, *rest)
    )
    release = threading.Event()
    index._worker.submit(lambda: release.wait(10))  # the index thread is busy
    futures = [
        index.update(root / f"m{i % 20}.py", f"def g{j}():\n    pass\n")
        for j, i in enumerate(range(100))
    ]
    release.set()
    futures[-1].result(10)
    assert len(set(map(id, futures))) == 1  # one job for all of them
    assert packs[0] == 20  # each file once, with its newest text
    assert defined(index.snapshot()) == {f"g{j}" for j in range(80, 100)}


def test_limits_hold_for_all_folders_together_and_each_folder_is_walked_once(tmp_path):
    from fim.repo_files import FileLimits

    a, b = tmp_path / "a", tmp_path / "b"
    write_tree(a, {f"a{i}.py": f"A{i} = {i}\n" for i in range(3)})
    write_tree(b, {f"b{i}.py": f"B{i} = {i}\n" for i in range(3)})
    (a / "sub").mkdir()
    index = WorkspaceIndex(FileLimits(max_files=4))
    index.set_folders([a, b]).result(10)
    assert index.snapshot().files == 4  # was 6: the limit applied per folder
    (a / "new.py").write_text("NEW = 1\n")
    index.update(a / "new.py").result(10)
    assert index.snapshot().files == 4  # a created file cannot pass the limit either
    spellings = [a / "sub" / ".."] * 10 + [a / "." / "sub" / "..", tmp_path / "a", a / "sub"]
    index = WorkspaceIndex()
    index.set_folders(spellings).result(10)
    assert index.folders == [a] and index.snapshot().files == 4  # was 12 folders, 36 files
    os.symlink(a, tmp_path / "alias")
    index.set_folders([a, tmp_path / "alias"]).result(10)
    assert index.folders == [a]


def test_the_index_waits_for_the_model_but_is_never_starved(tmp_path, monkeypatch):
    import lsp_server.workspace as workspace

    root = tmp_path / "ws"
    write_tree(root, {f"m{i}.py": f"def f{i}():\n    return {i}\n" for i in range(30)})
    monkeypatch.setattr(workspace, "MAX_DEFER_S", 0.05)
    waited = []
    index = WorkspaceIndex()
    index.defer = lambda: waited.append(1) or True  # the model is always busy
    index.set_folders([root]).result(30)
    assert index.snapshot().files == 30  # built in starved slices all the same
    assert len(waited) > 1  # and it asked, and waited
