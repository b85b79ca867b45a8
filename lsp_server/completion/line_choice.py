"""Lines the document suggests, weighed against the model's own (`lineCandidates`).

The model, writing token by token, rarely reproduces a line the file already holds; as a
judge of a complete line it does well. `fim.candidates` finds the lines; the backend
scores each, and the model's suggestion, as the whole line it would have written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from fim.candidates import line_candidates

if TYPE_CHECKING:
    from fim.plan import Plan
    from fim.prompt import Snippet

    from ..backends.base import Backend
    from ..settings import Settings
    from .requests import CompletionRequest


def likelier_line(
    backend: Backend,
    plan: Plan,
    request: CompletionRequest,
    settings: Settings,
    snippets: Sequence[Snippet],
    window: int,
    suggestion: str | None,
    should_stop: Callable[[], bool],
) -> str | None:
    """A line the document (`window` characters either side of the cursor) or a snippet
    suggests that the model finds likelier than its own single-line `suggestion`, or
    None. Each is scored with its end included, so a short line wins only if the model
    would end it there. `suggestion` None: the model's own line was junk (it looped), so
    the likeliest candidate wins, if there is one."""
    found = line_candidates(
        request.prefix[-window:], request.suffix[:window], [s.text for s in snippets]
    )
    finisher = plan.finisher
    lines = [c for c in found if finisher.finish(finisher.healed + c + "\n") == c]
    if not lines:
        return None
    own = [] if suggestion is None else [suggestion]
    texts = [finisher.healed + line + "\n" for line in (*own, *lines)]
    scores = backend.score(plan, request.uri, settings, texts, should_stop)
    if not scores or len(scores) < len(texts) or should_stop():
        return None
    best = max(range(len(own), len(scores)), key=scores.__getitem__)
    return lines[best - len(own)] if not own or scores[best] > scores[0] else None
