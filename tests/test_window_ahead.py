"""The prefix window's next position, computed while the user is idle (`precompute`).

The window moves a block ahead once typing fills it, and everything after its start must
then be computed again; `CompletionService._window_ahead` computes that prompt into the
document's spare cache beforehand, and the request that moves the window takes it.
"""

from __future__ import annotations

from types import SimpleNamespace

from fim.formats import Special
from lsp_server.backends.engine import Engine
from lsp_server.backends.local import LocalBackend
from lsp_server.backends.sessions import Session, SessionPool
from lsp_server.completion import CompletionRequest, CompletionService
from lsp_server.completion.requests import Completion
from lsp_server.settings import Settings
from tests.models import make_constant_model_dir, make_model_dir


def typing_line_by_line(tmp_path, precompute: bool) -> list[Completion]:
    """One request per typed line, each after the previous one's idle work is done; the
    prefix window moves every 16 lines or so. The model suggests 16 digits (16 tokens, more
    than a typed line), never accepted but looked ahead for, which moves the window there
    one line before typing does."""
    path = make_constant_model_dir(tmp_path / str(precompute), "1", n_positions=512)
    settings = Settings(
        model=str(path),
        max_new_tokens=16,
        context_tokens=256,
        multiline="single",
        min_confidence=0,
        line_candidates=False,
        precompute=precompute,
    )
    svc = CompletionService(settings)
    svc.load().result()
    text, results = "".join(f"v{i} = {i}\n" for i in range(40)), []
    for i in range(40, 100):
        text += f"v{i} = {i}\n"
        request = CompletionRequest("file:///w.py", i, text, "\n", "w.py")
        results.append(svc.complete_now(request))
        svc._worker.submit(lambda: None).result()  # idle: the work queued ahead is done
    svc.shutdown()
    return results


def test_the_prefix_windows_next_position_is_computed_while_idle(tmp_path):
    for precompute in (True, False):
        results = typing_line_by_line(tmp_path, precompute)
        assert all(r.status == "ok" and r.text for r in results)
        moves = [b for a, b in zip(results, results[1:], strict=False) if b.room > a.room + 16]
        assert len(moves) >= 3
        share = [m.prefilled_tokens / m.prompt_tokens for m in moves]
        if precompute:  # the move finds its prompt computed: a line's tokens are new
            assert max(share) < 0.2, share
            # and no other keystroke lost its cache to the work ahead
            assert max(r.prefilled_tokens for r in results[1:]) <= 12
        else:  # the whole window after its start is computed at the move
            assert min(share) > 0.5, share


def test_one_spare_cache_at_a_time_and_only_within_the_memory_budget():
    class Cache:
        capacity = 10

    pool, size = SessionPool(), (lambda cache: 100)
    a, b = (pool.get(uri, 10, lambda n: Session(Cache(), 100), 1000) for uri in "ab")
    spare = pool.spare(a, Cache, size, 1000)
    assert spare is not None and a.nbytes == 200 and pool.summary()[1] == 300
    assert pool.spare(a, Cache, size, 1000) is spare  # kept while it is of use
    assert pool.spare(b, Cache, size, 1000) is b.spare is not None
    assert a.spare is None and a.nbytes == 100 and pool.summary()[1] == 300  # a's freed
    # with no room left for one more cache, none is made and nothing is evicted
    assert pool.spare(a, Cache, size, 250) is None
    assert b.spare is None and pool.summary() == (["a", "b"], 200)


def plan_of(*pieces) -> SimpleNamespace:
    """As much of a `fim.plan.Plan` as the backend reads."""
    prompt = SimpleNamespace(pieces=list(pieces))
    return SimpleNamespace(prompt=prompt, max_new_tokens=2, allowed_first_ids=lambda vocab: None)


def test_computing_ahead_keeps_the_documents_own_prompt_in_one_of_the_two_caches(tmp_path):
    backend = LocalBackend(Engine.load(str(make_model_dir(tmp_path, n_positions=512))))
    settings = Settings(max_new_tokens=2, context_tokens=400)
    lines = [f"value_{i} = compute({i})\n" for i in range(40)]
    now = plan_of(Special("<fim_prefix>"), "".join(lines[:30]))  # the document as it is
    ahead = plan_of(Special("<fim_prefix>"), "".join(lines[8:30]))  # the window moved on
    # a look-ahead: the suggestion accepted moves the window too, and its prompt ends in
    # other tokens than the document's (here: another last line)
    looked = plan_of(Special("<fim_prefix>"), "".join(lines[8:29]) + "value_29 = other()\n")
    uri = "file:///a.py"

    def prefilled(plan) -> int:
        stream = backend.stream(plan, uri, settings, lambda: False)
        list(stream)
        return stream.stats.prompt_tokens - stream.stats.reused_tokens

    assert prefilled(now) > 100
    assert backend.prefill_ahead(ahead, now, uri, settings, lambda: False) > 100
    assert prefilled(looked) < 20  # took the spare, computed ahead
    backend.prefill_ahead(ahead, now, uri, settings, lambda: False)
    assert prefilled(now) <= 1  # the document's prompt survived the work ahead
    assert prefilled(ahead) <= 1  # and so did the prompt computed ahead
    assert backend.prefill_ahead(ahead, now, uri, settings, lambda: True) == 0  # nothing left to do


def test_work_ahead_stopped_halfway_goes_on_where_it_stopped(tmp_path):
    backend = LocalBackend(Engine.load(str(make_model_dir(tmp_path, n_positions=1024))))
    settings = Settings(max_new_tokens=2, context_tokens=900)
    here = plan_of(Special("<fim_prefix>"), "".join(f"a_{i} = f({i})\n" for i in range(60)))
    there = plan_of(Special("<fim_prefix>"), "".join(f"b_{i} = g({i})\n" for i in range(60)))
    uri = "file:///a.py"
    list(backend.stream(here, uri, settings, lambda: False))  # the place the cursor left
    passes = iter(range(10**6))
    stop_soon = lambda: next(passes) > 4  # noqa: E731  (a few blocks)
    first = backend.prefill_ahead(there, there, uri, settings, stop_soon)
    assert 0 < first < len(backend.encode(there.prompt.pieces)) - 1  # stopped halfway
    rest = backend.prefill_ahead(there, there, uri, settings, lambda: False)
    assert rest == len(backend.encode(there.prompt.pieces)) - 1 - first  # went on from there
