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


def ranked_lines(
    backend: Backend,
    plan: Plan,
    request: CompletionRequest,
    settings: Settings,
    snippets: Sequence[Snippet],
    window: int,
    suggestion: str | None,
    should_stop: Callable[[], bool],
) -> list[str]:
    """The single-line suggestions to offer, best first: the model's own `suggestion` and
    the lines the document (`window` characters either side of the cursor) or a snippet
    suggests, ranked by how likely the model finds each as a whole line, its end
    included (so a short line wins only if the model would end it there); the model's
    line stays first unless a candidate is likelier. [] when there is no candidate (or
    the backend cannot score). `suggestion` None: the model's own line was junk (it
    looped), so only candidates compete."""
    found = line_candidates(
        request.prefix[-window:], request.suffix[:window], [s.text for s in snippets]
    )
    finisher = plan.finisher
    lines = [c for c in found if finisher.finish(finisher.healed + c + "\n") == c]
    if not lines:
        return []
    own = [] if suggestion is None else [suggestion]
    texts = [finisher.healed + line + "\n" for line in (*own, *lines)]
    scores = backend.score(plan, request.uri, settings, texts, should_stop)
    if not scores or len(scores) < len(texts) or should_stop():
        return []
    order = sorted(range(len(own), len(scores)), key=lambda i: -scores[i])
    ranked = [lines[i - len(own)] for i in order]
    if own and not (ranked and scores[order[0]] > scores[0]):
        ranked.insert(0, suggestion)  # the model's line keeps its place
    elif own:
        ranked.insert(1, suggestion)
    return list(dict.fromkeys(r for r in ranked if r))
