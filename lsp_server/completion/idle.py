"""Prompts computed ahead of need, while the model has nothing else to do: the one the
prefix window's next move leads to, and the one where the cursor came to rest."""

from __future__ import annotations

import logging
from collections.abc import Callable

from fim.plan import Plan
from fim.prompt import Snippet

from ..backends.base import Backend
from ..settings import Settings
from .planning import plan_request
from .requests import CompletionRequest

log = logging.getLogger("bigcode_ls")
# Background work waits this long first, so that the event loop gets the GIL to send the
# answer just given (else the answer waited up to a GIL switch interval, 5 ms).
HANDOFF_S = 0.002

# (request, backend, its snippets) -> (the prompt to compute, the prompt to keep) or None
Plans = Callable[[CompletionRequest, Backend, list[Snippet]], "tuple[Plan, Plan] | None"]


def prefill_idle(
    backend: Backend | None,
    request: CompletionRequest,
    settings: Settings,
    snippets: Callable[[CompletionRequest], list[Snippet]],
    stop: Callable[[], bool],
    plans: Plans,
) -> None:
    """On the worker: `plans(...)` gives (the prompt to compute, the prompt to keep);
    compute the first into the document's spare cache unless `stop()`."""
    if backend is None or stop():
        return
    try:
        chosen = plans(request, backend, snippets(request))
        if chosen is not None and not stop():
            backend.prefill_ahead(chosen[0], chosen[1], request.uri, settings, stop)
    except Exception:
        log.exception("computing ahead failed for %s", request.uri)
        backend.forget(request.uri)


def own_prompt(settings: Settings) -> Plans:
    """Plans that compute the request's own prompt: the spare cache takes it, and the
    document's cache keeps the place the cursor left."""

    def plans(
        request: CompletionRequest, backend: Backend, snippets: list[Snippet]
    ) -> tuple[Plan, Plan]:
        plan = plan_request(request, backend, settings, snippets)
        return plan, plan

    return plans


def window_moved(settings: Settings) -> Plans:
    """Plans that compute the prompt the prefix window's next move leads to (None when it
    is the same), while the document's cache keeps the request's own."""

    def plans(
        request: CompletionRequest, backend: Backend, snippets: list[Snippet]
    ) -> tuple[Plan, Plan] | None:
        now = plan_request(request, backend, settings, snippets)
        ahead = plan_request(request, backend, settings, snippets, window_ahead=True)
        return (ahead, now) if ahead.prompt.pieces != now.prompt.pieces else None

    return plans
