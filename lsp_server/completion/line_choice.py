"""Which single line to show: the model's greedy line, the lines a search found
(`lineSearch`), and the lines the document suggests (`lineCandidates`), weighed together.

The model, writing token by token, rarely reproduces a line the file already holds, and
greedy decoding throws away lines the model itself finds likelier as a whole; as a judge
of a complete line it does well. `fim.candidates` finds the document's lines, the
backend's search the model's other lines; the backend scores each as the whole line it
would have written, its end included, and `rank` orders them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fim.candidates import line_candidates

if TYPE_CHECKING:
    from fim.plan import Plan
    from fim.prompt import Snippet

    from ..backends.base import Backend
    from ..settings import Settings
    from .requests import Completion, CompletionRequest


@dataclass(frozen=True)
class Contest:
    """Where lines are weighed: the request, its plan, the backend that scores, and the
    document's lines within `window` characters of the cursor (and the snippets')."""

    backend: Backend
    plan: Plan
    request: CompletionRequest
    settings: Settings
    snippets: Sequence[Snippet]
    window: int
    should_stop: Callable[[], bool]


@dataclass(frozen=True)
class Weighed:
    """A line to show; how likely the model finds it (the log-probability of the healed
    text and the line, and of the line ending there) and over how many tokens; and where
    it came from: "model" (the greedy line), "search" or "document"."""

    line: str
    logprob: float
    tokens: int
    source: str


def rank(weighed: Sequence[Weighed]) -> list[Weighed]:
    """Best first: the likeliest line as a whole, its end included, so that a short line
    wins only if the model would end it there. The greedy line keeps first place on a tie."""
    return sorted(weighed, key=lambda w: (-w.logprob, w.source != "model"))


def document_lines(c: Contest) -> list[str]:
    """The lines the document (`window` characters either side of the cursor) or a
    snippet suggests (with `lineCandidates`), as the finisher would show them."""
    if not c.settings.line_candidates:
        return []
    request, window, finisher = c.request, c.window, c.plan.finisher
    found = line_candidates(
        request.prefix[-window:], request.suffix[:window], [s.text for s in c.snippets]
    )
    return [line for line in found if finisher.finish(finisher.healed + line + "\n") == line]


def ranked_lines(
    c: Contest, suggestion: str | None, searched: Sequence[str], documents: Sequence[str]
) -> list[Weighed]:
    """The single-line suggestions to offer, best first (`rank`): the model's own
    `suggestion`, the other lines its search found (`searched`) and the `documents`
    lines. [] when there is no rival to the suggestion (or the backend cannot score).
    `suggestion` "": the model ended the line at once, and that competes too (ending the
    line may be likelier than any line); None: the model's line was junk or an echo, so
    only the others compete."""
    request, finisher = c.request, c.plan.finisher
    rivals = [(line, "search") for line in searched if line]
    rivals += [(line, "document") for line in documents]
    own = [] if suggestion is None else [(suggestion, "model")]
    entries, seen = [], set()
    for line, source in own + rivals:  # one entry per line: the first source that offered it
        if line not in seen:
            seen.add(line)
            entries.append((line, source))
    if not entries or entries == own:
        return []
    texts = [finisher.healed + line for line, _ in entries]
    scores = c.backend.score(c.plan, request.uri, c.settings, texts, c.should_stop)
    if not scores or len(scores) < len(texts) or c.should_stop():
        return []
    return rank(
        [
            Weighed(line, score, c.backend.count(text), source)
            for (line, source), text, score in zip(entries, texts, scores, strict=True)
        ]
    )


def searched_lines(c: Contest, shown: str) -> list[str]:
    """The other single lines the model's search found (`lineSearch` branches from the
    greedy text `shown`), finished as the greedy one is: junk, echoes and what does not
    continue the typed text are gone."""
    search = getattr(c.backend, "search", None)
    width = c.settings.line_search
    if not width or search is None:
        return []
    texts = search(c.plan, c.request.uri, c.settings, shown, width, c.should_stop)
    lines = (c.plan.finisher.finish(text) for text in texts)
    return [line for line in lines if line and "\n" not in line]


def choose_line(c: Contest, done: Completion, why: str, search: bool) -> None:
    """Make `done` (the greedy single-line suggestion, empty for `why`) show the best of
    the lines weighed, with the next best as its alternatives. The search runs only when
    `search` says so (the greedy line ended by itself: a line cut by the token cap or the
    deadline has no score for its end, and any line that ends would look likelier than
    it; and the model was not sure of it) and the document offers no line: where it does,
    searched lines lost more than they won (docs/benchmarks.md, "Worth taking, step two")."""
    # a looping line or an echo is no rival; ending the line at once is
    own = done.text if done.text or why == "nothing" else None
    documents = document_lines(c)
    search = search and not documents  # where the document has lines, they are the rivals
    searched = searched_lines(c, c.plan.finisher.healed + done.text) if search else []
    ranked = ranked_lines(c, own, searched, documents)
    if not ranked:
        return
    best = ranked[0]
    if best.line != done.text:
        done.text, done.source = best.line, best.source
        done.confidence = None  # a document line is not gated
        if best.source == "search":  # how sure the model is of it, on the gate's scale
            done.confidence = math.exp(best.logprob / (best.tokens + 1))
    done.alternatives = tuple(w.line for w in ranked[1 : c.settings.candidates])
