"""Static analysis in the decoding loop: a constraint on later tokens (`generate`'s
`constrain`), attribute triggers and the tokens that may follow them (`fim.monitor`),
Jedi's names (`lsp_server.analysis`) and the service's use of them."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
import torch

from fim.healing import Vocabulary
from fim.monitor import NameConstraint, attribute_trigger, import_trigger
from lsp_server.analysis import MAX_READS_AHEAD, Analysis
from lsp_server.completion import CompletionRequest, CompletionService, monitoring
from lsp_server.completion.monitoring import AttributeMonitor
from lsp_server.settings import Settings
from model.generate import generate
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours
from tests.models import make_model_dir


@pytest.mark.parametrize("lookup", [False, True])
def test_a_constraint_steers_later_tokens_and_lookup_stays_exact(lookup):
    _, lm = hf_and_ours(seed=11, **tiny_kwargs(n_positions=256))
    prompt = [5, 6, 7, 8, 9, 10, 11, 12] * 6  # repeats: prompt lookup drafts here
    with torch.inference_mode():
        free = list(generate(lm, prompt, 20, lookup=lookup))
    forced = {3: {free[3] + 1}, 7: {40, 41}, 12: {free[12]}}  # step -> allowed

    def constrain(out):
        return forced.get(len(out))

    with torch.inference_mode():
        plain = list(generate(lm, prompt, 20, constrain=constrain))
        got = list(generate(lm, prompt, 20, constrain=constrain, lookup=lookup))
    assert got == plain and plain[:3] == free[:3]
    assert plain[3] == free[3] + 1 and plain[7] in (40, 41)
    with torch.inference_mode():
        ended = list(
            generate(lm, prompt, 20, constrain=lambda out: set() if len(out) == 2 else None)
        )
    assert ended == free[:2]  # no token allowed: the generation ends


@pytest.mark.parametrize(
    "text,expected",
    [
        ("x = os.path.", ("os.path", "")),
        ("    if os.path.jo", ("os.path", "jo")),
        ("    return self.", ("self", "")),
        ("    self.", None),  # may be an attribute being defined: `self.total = 0`
        ("    self.items.app", ("self.items", "app")),
        ("x = 1.", None),
        ("x = 'os.", None),  # in a string
        ("x = 1  # see os.", None),  # in a comment
        ("x = 'a' + os.", ("os", "")),
        ("x = os.path.join(", None),  # the attribute is written
    ],
)
def test_attribute_triggers(text, expected):
    found = attribute_trigger(text)
    if expected is None:
        assert found is None
    else:
        assert (found.receiver, found.partial) == expected
        assert text[: found.dot].endswith(found.receiver + ".")


@pytest.mark.parametrize(
    "text,expected",
    [
        # (receiver, partial, lead)
        ("from os.path import", ("from os.path import", "", " ")),
        ("from os.path import ", ("from os.path import", "", "")),
        ("from os.path import jo", ("from os.path import", "jo", "")),
        ("from os.path import join,", ("from os.path import", "", " ")),
        ("from os.path import join, ex", ("from os.path import", "ex", "")),
        ("x = 1\n    from ..a.b import (x, y", ("from ..a.b import", "y", "")),
        ("from . import ", ("from . import", "", "")),
        ("from x import (", None),  # one per line, or all on it: the writer's choice
        ("from os import path as ", None),  # a new name, not the module's
        ("from os import path ", None),
        ("import os", None),
        ("from os importx", None),
        ("x" * 5000 + "from os import ", None),  # a line too long to read
        ("x" * 5000 + "\nfrom os import ", ("from os import", "", "")),
    ],
)
def test_import_triggers(text, expected):
    found = import_trigger(text)
    if expected is None:
        assert found is None
    else:
        assert (found.receiver, found.partial, found.lead) == expected
        assert text[found.dot :] == found.partial


def test_the_tokens_allowed_after_import_come_after_a_space():
    texts = [" jo", " join", "join", " (", " *", " x", " ", "(", ","]
    constraint = NameConstraint(Vocabulary(texts))
    trigger = import_trigger("from os.path import")
    allowed = {texts[i] for i in constraint.allowed(trigger.spellings(["join"]), "")}
    assert allowed == {" jo", " join", " "}  # not "join", " x" nor " ("
    trigger = import_trigger("from os.path import ")
    allowed = {texts[i] for i in constraint.allowed(trigger.spellings(["join"]), "")}
    assert allowed == {"join"}


def test_the_tokens_allowed_after_a_partial_attribute():
    texts = ["jo", "join", "join(", "joint", "j", "(", " ", "x", "exists", "exists)", "o", "in"]
    constraint = NameConstraint(Vocabulary(texts))
    ids = {t: i for i, t in enumerate(texts)}
    allowed = {texts[i] for i in constraint.allowed(["join", "exists", "getsize"], "")}
    assert allowed == {"jo", "join", "join(", "j", "exists", "exists)"}  # not "joint", "x"
    allowed = {texts[i] for i in constraint.allowed(["join", "exists"], "jo")}
    assert allowed == {"in"}  # "join" needs "in"; nothing else spells it
    assert constraint.allowed(["join"], "join") == {ids["("], ids[" "]}  # the name is whole
    assert constraint.allowed(["join"], "xy") == frozenset()


def test_the_model_writes_only_attributes_that_exist(tmp_path, monkeypatch):
    """A random model after `os.path.` writes noise; with static analysis each of its
    suggestions starts with (a beginning of) a name that os.path has."""
    import os.path

    monkeypatch.setattr(monitoring, "BUDGET_S", 60)  # Jedi's first, cold answer included
    model = make_model_dir(tmp_path / "m", vocab_size=900)
    src = tmp_path / "w" / "a.py"
    src.parent.mkdir()
    prefix = "import os\n\n\ndef f(p):\n    return os.path."
    src.write_text(prefix + "\n")
    names = set(dir(os.path))
    seen = {}
    for on in (True, False):
        svc = CompletionService(
            Settings(model=str(model), max_new_tokens=6, static_analysis=on, precompute=False,
                     min_confidence=0, line_search=0, multiline="single")
        )  # fmt: skip
        svc.load().result()
        words = []
        for i, (pre, suf) in enumerate([(prefix, "\n"), (prefix + "\n    ", "")] * 3):
            request = CompletionRequest(src.as_uri(), i, pre, suf, "a.py")
            text = svc.complete_now(request).text
            if pre == prefix:
                words.append(re.match(r"\w*", text).group())
        svc.shutdown(wait_s=5)
        seen[on] = words
        if on:
            assert svc.static.analysis is not None and svc.static.analysis.calls >= 1
    assert all(any(n.startswith(w) for n in names) for w in seen[True]), seen
    assert seen[True] != seen[False]  # the constraint changed what was written


def test_after_import_only_the_modules_names_may_follow(tmp_path):
    """`from os.path import ` asks Jedi for os.path's names, at the place after `import `
    (and after a comma), and allows only tokens that spell their beginnings."""
    import os.path

    texts = ["jo", "join", " join", "exists", "(", "*", "nope", "x", ",", " ", "\n"]
    vocab = Vocabulary(texts)
    path = str(tmp_path / "a.py")
    monitor = monitoring.AttributeMonitor(
        Analysis(), NameConstraint(vocab), "x = 1\nfrom os.path import", "\n", path, None, 60
    )
    allowed = {texts[i] for i in monitor("")}  # after `import`: a space first
    assert allowed == {" join", " "}
    allowed = {texts[i] for i in monitor(" ")}
    assert allowed == {"jo", "join", "exists"}
    assert {texts[i] for i in monitor(" join, ")} == {"jo", "join", "exists"}
    assert monitor(" jo") is None  # no token here spells `in`: no constraint, not none allowed
    assert {"join", "exists"} <= set(dir(os.path))
    # a server's grammar: the rest of each name that fits
    assert " join" in monitor.at_cursor("") and " (" not in monitor.at_cursor("")
    typed = monitoring.AttributeMonitor(
        Analysis(), None, "from os.path import jo", "\n", path, None, 60
    )
    assert typed.at_cursor("") == ["in"]


def test_an_answer_too_late_for_one_request_serves_the_next(tmp_path):
    analysis = Analysis()
    code = "import os\nx = os.path.\n"
    gate = threading.Event()
    analysis._worker.submit(gate.wait)  # the analyser is busy with something slow
    ask = (code, 2, len("x = os.path."), "os.path", str(tmp_path / "a.py"), None)
    assert analysis.attributes(*ask, wait_s=0.01) is None and analysis.timeouts == 1
    gate.set()
    names = analysis.attributes(*ask, wait_s=60)  # the same place: the same answer, waited for
    assert "join" in names and analysis.calls == 1
    analysis.forget(str(tmp_path / "a.py"))  # saved: asked again
    assert "join" in analysis.attributes(*ask, wait_s=60) and analysis.calls == 2
    assert analysis.attributes("x = nothing_known.", 1, 18, "n", "", None, wait_s=60) is None
    analysis.stop()


def test_a_receiver_that_takes_any_name_is_not_constrained(tmp_path):
    """argparse's Namespace holds the arguments added to its parser: `args.outfile` exists
    at run time though no class declares it, and the stubs say so with `__getattr__`. A
    receiver with nothing but object's dunders is no list to insist on either."""
    analysis = Analysis()
    code = (
        "import argparse\np = argparse.ArgumentParser()\np.add_argument('--outfile')\n"
        "args = p.parse_args()\nargs.\n"
    )
    where = (str(tmp_path / "a.py"), None)
    assert analysis.attributes(code, 5, 5, "args", *where, wait_s=60) is None
    assert analysis.calls == 1  # asked, and answered: no list to insist on
    plain = "class B:\n    size = 1\n\nB().\n"
    assert "size" in analysis.attributes(plain, 4, 4, "B()", *where, wait_s=60)
    # a parameter Jedi takes for None (its default): only dunders, nothing to insist on
    none = "def f(args=None):\n    g(args)\n\ndef g(args):\n    return args.\n"
    assert analysis.attributes(none, 5, 16, "args", *where, wait_s=60) is None
    analysis.stop()


def test_a_monitor_spends_its_budget_once(monkeypatch):
    asked = []

    class Slow:
        def header(self, path):
            return ""

        def attributes(self, *args):
            asked.append(args[-1])
            time.sleep(0.03)
            return ["join", "exists"]

    vocab = Vocabulary(["jo", "in", "exists", "x"])
    monitor = AttributeMonitor(
        Slow(), NameConstraint(vocab), "y = os.path.", "\n", "a.py", None, 0.05
    )
    assert monitor("") == {0, 2}  # "jo", "exists"
    assert monitor("jo") == {1}
    assert monitor("join(x") is None  # the name is written: no trigger, nothing asked
    assert monitor("join(os.") is None  # the budget is spent: no constraint, no question
    assert len(asked) == 2 and asked[1] < 0.05


def test_jedi_loads_no_pickle_it_did_not_write_and_runs_in_a_process_of_its_own(tmp_path):
    import os
    import tempfile

    from lsp_server.analysis import jedi_process, private_cache_dir

    cache = Path(private_cache_dir())
    assert cache.name.startswith("bigcode-jedi-") and cache.parent == Path(tempfile.gettempdir())
    assert private_cache_dir() == str(cache)  # once per process
    assert oct(cache.stat().st_mode)[-3:] == "700"
    analysis = Analysis()
    ask = ("import os\nx = os.", 2, 7, "os", str(tmp_path / "p.py"), None)
    assert "path" in analysis.attributes(*ask, wait_s=60)
    process = jedi_process()._proc
    assert process.poll() is None and process.pid != os.getpid()
    process.kill()  # a dead analyser is started again on the next question
    process.wait(10)
    assert "path" in analysis.attributes("import os\ny = os.", 2, 7, "os2", "", None, wait_s=60)


def test_a_folder_opened_at_once_is_not_read_ahead_file_by_file(tmp_path):
    """Only the newest few reads wait: a client that opens fifty files does not keep the
    analyser busy ahead of the question of the file being edited."""
    analysis = Analysis()
    gate = threading.Event()
    analysis._worker.submit(gate.wait)
    reads = [analysis.warm(f"x{i} = {i}\n", str(tmp_path / f"f{i}.py"), None) for i in range(50)]
    gate.set()
    for r in reads:
        r.result(timeout=60)
    assert analysis.reads == MAX_READS_AHEAD and analysis.reads_skipped == 50 - MAX_READS_AHEAD
    analysis.stop()


def test_a_long_file_s_imports_reach_a_window_far_below_them(tmp_path):
    """The request's text is a window: in a long file `import os` lies above it, and the
    imports read on open are put ahead of it for the analyser."""
    src = tmp_path / "long.py"
    body = "".join(f"def f{i}(x):\n    return x + {i}\n\n\n" for i in range(40))
    src.write_text("import os\nfrom collections import (\n    OrderedDict,\n)\n\n" + body)
    analysis = Analysis()
    analysis.warm(src.read_text(), str(src), None).result(timeout=60)
    assert (
        analysis.header(str(src)) == "import os\nfrom collections import (\n    OrderedDict,\n)\n"
    )
    vocab = Vocabulary(["jo", "in", "exists", "x"])
    window = body[-200:] + "y = os.path."  # no import in sight
    monitor = AttributeMonitor(analysis, NameConstraint(vocab), window, "\n", str(src), None, 60)
    assert monitor("") == {0, 2}  # "jo" (join), "exists"
    analysis.stop()


def test_a_jedi_call_that_takes_too_long_ends_the_process_and_the_next_starts_one(
    monkeypatch, tmp_path
):
    from lsp_server import analysis as module

    jedi = module.JediProcess()
    code = "import os\nx = os."
    assert "path" in jedi.call("complete", code, 2, 7, str(tmp_path / "a.py"), None)
    monkeypatch.setattr(module, "CALL_LIMIT_S", 0.05)
    big = "".join(f"def f{i}(x):\n    return x + {i}\n" for i in range(20_000)) + code
    with pytest.raises(RuntimeError, match="ended"):  # parsing 40,000 lines takes longer
        jedi.call("complete", big, 40_002, 7, str(tmp_path / "b.py"), None)
    monkeypatch.setattr(module, "CALL_LIMIT_S", 30.0)
    assert "path" in jedi.call("complete", code, 2, 7, str(tmp_path / "a.py"), None)
    jedi._proc.kill()


def test_a_huge_file_is_not_read_ahead():
    """Jedi spent minutes and a core on a 50 MB file opened in the editor."""
    from lsp_server.completion.monitoring import MAX_READ_AHEAD_CHARS, StaticAnalysis

    static = StaticAnalysis(None)
    huge = "x = 1\n" * (MAX_READ_AHEAD_CHARS // 6 + 1)
    assert static.read_ahead("file:///huge.py", huge) is None
    assert static.analysis is None  # the analyser was not even started
    small = static.read_ahead("file:///small.py", "import os\n")
    assert small is not None
    small.result(timeout=60)
    static.stop()


def test_a_closed_document_leaves_nothing_read_of_it_behind(tmp_path):
    """Its imports and answers went with it (they were kept for every file ever opened)."""
    from lsp_server.completion import CompletionService
    from lsp_server.settings import Settings

    service = CompletionService(Settings(precompute=False))
    src = tmp_path / "closing.py"
    uri = src.as_uri()
    service.read_ahead(uri, "import os\nimport json\n\nx = os.").result(timeout=60)
    analysis = service.static.analysis
    assert "import os" in analysis.header(str(src))
    service.close(uri)
    assert analysis.header(str(src)) == "" and str(src) not in analysis.imports
    service.static.stop()
