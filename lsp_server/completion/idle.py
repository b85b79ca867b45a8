"""Prompts computed ahead of need, while the model has nothing else to do: the one the
prefix window's next move leads to, and the one where the cursor came to rest."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from fim.plan import Plan
from fim.prompt import Snippet

from ..backends.base import Backend
from ..settings import Settings
from .requests import CompletionRequest

log = logging.getLogger("bigcode_ls")
# Background work waits this long first, so that the event loop gets the GIL to send the
# answer just given (else the answer waited up to a GIL switch interval, 5 ms).
HANDOFF_S = 0.002

Plans = Callable[[Backend, list[Snippet]], "tuple[Plan, Plan] | None"]


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
    time.sleep(HANDOFF_S)
    if backend is None or stop():
        return
    try:
        chosen = plans(backend, snippets(request))
        if chosen is not None and not stop():
            backend.prefill_ahead(chosen[0], chosen[1], request.uri, settings, stop)
    except Exception:
        log.exception("computing ahead failed for %s", request.uri)
        backend.forget(request.uri)
