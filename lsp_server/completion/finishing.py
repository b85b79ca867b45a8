"""From the generated text to the suggestion shown: fim's finisher cuts it, a single line
is weighed against its rivals (`line_choice.py`), and a line of the model's own (greedy
or searched) that the model doubts is hidden (`minConfidence`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .line_choice import Contest, choose_line

# The search over lines runs where a whole line (or a statement's whole expression) is
# suggested: at a line's start (only indentation before the cursor), after one of
# `SEARCH_AFTER` or after an assignment's `=`, for a line the model is less sure of than
# this. Elsewhere mid-line, where most keys are typed, it did not pay for its cost
# (docs/benchmarks.md, "Worth taking, step two"); a line the model is sure of a search
# rarely beats.
SURE = 0.8
# Typed words after which the search runs too: statement keywords an expression follows,
# where a programmer stops to see what comes (`return `; bench/keyword_holes.py), and the
# start of an assignment's value.
SEARCH_AFTER = frozenset({"return", "yield", "raise", "assert", "if", "elif", "while"})
ASSIGNED = re.compile(r"[A-Za-z_][\w.]*\s*=")  # `name = `, `self.x = `: the value is to come

if TYPE_CHECKING:
    from ..backends.base import StreamStats
    from .requests import Completion


def settle(c: Contest, done: Completion, text: str, stats: StreamStats) -> None:
    """Fill `done` (its `detail` says "deadline" when the generation was cut short) with
    the suggestion for the generated `text`, its source, alternatives and confidence,
    and why it is empty when it is."""
    plan = c.plan
    done.text, why = plan.finisher.finish_why(text)
    if done.text:
        shown = plan.finisher.healed + done.text
        if text.startswith(shown + "\n"):
            shown += "\n"  # the line's end is part of what is suggested
        done.confidence = stats.confidence(shown)
    if not plan.multiline and "\n" not in done.text:
        ended = plan.finisher.done(text) or stats.generated_tokens < plan.max_new_tokens
        sure = done.confidence is not None and done.confidence >= SURE
        typed = c.request.prefix[c.request.prefix.rfind("\n") + 1 :].strip()
        whole = not typed or typed in SEARCH_AFTER or ASSIGNED.fullmatch(typed) is not None
        choose_line(c, done, why, ended and not done.detail and not sure and whole)
    if done.text and done.source != "document":  # a line of the model's own
        if done.confidence is not None and done.confidence < c.settings.min_confidence:
            done.text, done.detail = "", "unsure"  # the model doubts it: show nothing
            done.alternatives = ()
    done.status = "ok" if done.text else "empty"
    if not done.text and not done.detail:
        done.detail = why or "nothing"  # why the suggestion is empty
