"""Token healing against a llama.cpp server.

The local engine heals a prompt by ending it where the tokenizer would start a token and
allowing only first tokens that re-type the text left off (`fim/healing.py`). A server
cannot be given a set of allowed first tokens, but llama.cpp takes a grammar (GBNF), and
one that makes the generation begin with the text left off is nearly the same
constraint: it also admits a first token that is only a beginning of that text (`as`
then `sertEqual` for `assertEqu`), a spelling the model rarely prefers. Where the text
left off is one character, as in the commonest case (the space before the first token
of an indented line), the two are the same. A blank line's constraint (the first token
stays on the line) becomes "begin with anything but a line break, or end at once".

The local engine also reports the first token's probability among the allowed tokens
only; `conditioned` does the same with what the server reports (its likeliest tokens),
so that `minConfidence` reads healed suggestions nearly alike on both.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fim.plan import Plan

    from .events import TokenProbability

ON_THE_LINE = r"root ::= ([^\r\n] .*)?"


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal: quotes and backslashes escaped, control
    characters written as hexadecimal escapes."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def first_token_grammar(plan: Plan) -> str | None:
    """The grammar that stands for `plan`'s first-token constraint (None: none)."""
    if plan.first_starts_with:
        return f"root ::= {gbnf_literal(plan.first_starts_with)} .*"
    if plan.first_on_line:
        return ON_THE_LINE
    return None


def names_grammar(rests: list[str]) -> str:
    """The grammar of static analysis at the cursor (`AttributeMonitor.at_cursor`): the
    generation starts with one of `rests` (what is left to write of each name that fits,
    the healed text included) and goes on, if at all, with a character that is no part
    of a name."""
    after = "([^A-Za-z0-9_] .*)?"
    alternatives = " | ".join(gbnf_literal(r) for r in rests if r)
    if not alternatives:  # the name is written: only what follows it is left
        return f"root ::= {after}"
    group = f"({alternatives})" + ("?" if "" in rests else "")
    return f"root ::= {group} {after}"


def constrained_first(plan: Plan) -> bool:
    """Whether the plan constrains its first token (healing, or staying on the line)."""
    return bool(plan.first_starts_with or plan.first_on_line)


def _allowed(plan: Plan, token: str) -> bool:
    if plan.first_starts_with:
        return token.startswith(plan.first_starts_with)
    return not token.startswith(("\n", "\r"))


def conditioned(
    tokens: list[TokenProbability], plan: Plan, first: bool, keep: int
) -> list[TokenProbability]:
    """The server's figures as the local engine reports them: each token's `keep`
    likeliest alternatives, and the first generated token's probabilities conditional on
    the plan's constraint, divided by the mass of the reported tokens that meet it (the
    server is asked for more alternatives then, `HEALED_TOP`, so that the mass it misses
    is small) with those that do not meet it dropped."""
    out = [dataclasses.replace(t, top=t.top[:keep]) for t in tokens]
    if not first or not out or not constrained_first(plan):
        return out
    head = tokens[0]
    allowed = [(t, lp) for t, lp in head.top if _allowed(plan, t)]
    mass = sum(math.exp(lp) for _, lp in allowed)
    if mass > 0:  # else nothing to go by: the server's figures as they are
        shift = math.log(mass)
        top = [(t, min(0.0, lp - shift)) for t, lp in allowed[:keep]]
        out[0] = dataclasses.replace(head, logprob=min(0.0, head.logprob - shift), top=top)
    return out
