"""Build a token-budgeted FIM prompt around the cursor, laid out to keep the KV cache warm.

The cache rule: with absolute position embeddings only a common token *prefix* of the
previous prompt can be reused, so the layout puts what changes least first:

    [other files' snippets <|endoftext|>] [<filename>path\\n] <pre> <suf> S <mid> P

In SPM order the prefix P is last, so typing at the cursor only appends to the prompt.
The windows over a long file must not slide one line per keystroke either:

* the prefix window starts on a grid line (a multiple of `block_lines` from the top of
  the file): the first grid line whose text up to the cursor fits the budget. It jumps a
  whole block only when typing overflows the budget, then stays put for a while;
* the suffix window is whole lines after the cursor up to a fixed share of the budget,
  so it does not change while the user types at the cursor.

Cuts fall only on line boundaries (after a "\\n", so a CRLF is never split); a single
line longer than the whole budget is cut inside, keeping the part nearest the cursor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .formats import FimFormat, Order, Special
from .healing import Vocabulary, heal_boundary

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Snippet:
    """Text from another open file, placed ahead of the prompt as its own document."""

    path: str
    text: str


@dataclass(frozen=True)
class PromptOptions:
    budget: int = 1536  # tokens for the whole prompt
    order: Order = "spm"
    suffix_share: float = 0.25  # of the budget left after snippets and header
    block_lines: int = 16
    filename_header: bool = True
    snippet_share: float = 0.0  # of the budget for other files (0: none)
    heal: bool = True


@dataclass(frozen=True)
class Prompt:
    pieces: list[str]  # text and `Special` pieces, each tokenized on its own
    prefix: str  # the prefix window actually used (ending at the cursor, minus `healed`)
    suffix: str  # the suffix window actually used
    healed: str  # text cut from the cursor end that the first token must start with
    fim: bool  # False: plain left-to-right completion (model without FIM tokens)
    snippets: tuple[str, ...] = ()  # the other files' windows placed ahead, as text


def _line_starts(text: str) -> list[int]:
    """Offsets where lines begin (0 and after every '\\n')."""
    starts = [0]
    i = text.find("\n")
    while i != -1:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    return starts


def _tail_within(text: str, budget: int, count: TokenCounter, chars_per_token: float = 2.0) -> str:
    """The longest tail of one long line that fits, found by halving (rare path)."""
    if budget <= 0:
        return ""
    keep = min(len(text), int(budget * chars_per_token * 2))
    while keep > 0 and count(text[-keep:]) > budget:
        keep = keep * 3 // 4
    return text[-keep:] if keep else ""


def _earliest_fitting(text: str, cuts: list[int], budget: int, count: TokenCounter) -> int | None:
    """The earliest of `cuts` (ascending offsets) from which the rest of `text` fits in
    `budget` tokens, counting span by span from the end; None if not even the last."""
    total, chosen = 0, None
    for i in range(len(cuts) - 1, -1, -1):
        end = cuts[i + 1] if i + 1 < len(cuts) else len(text)
        total += count(text[cuts[i] : end])  # spans repeat across keystrokes: callers cache
        if total > budget:
            break
        chosen = cuts[i]
    return chosen


def prefix_window(prefix: str, budget: int, count: TokenCounter, block_lines: int = 16) -> str:
    """The text from the first grid line whose tail fits `budget` tokens up to the cursor."""
    if budget <= 0 or not prefix:
        return ""
    starts = _line_starts(prefix)
    grid = starts[::block_lines]  # block boundaries, counted from the top of the file
    chosen = _earliest_fitting(prefix, grid, budget, count)
    if chosen is not None:
        return prefix[chosen:]
    # Even the last block is too big: fall back to whole lines, then to part of one line.
    lines = [s for s in starts if s >= grid[-1]]
    chosen = _earliest_fitting(prefix, lines, budget, count)
    if chosen is not None:
        return prefix[chosen:]
    return _tail_within(prefix[lines[-1] :], budget, count)


def suffix_window(suffix: str, budget: int, count: TokenCounter) -> str:
    """Whole lines after the cursor (the rest of the cursor's line first) within `budget`."""
    if budget <= 0 or not suffix:
        return ""
    total, end = 0, 0
    for start in _line_starts(suffix):
        if start < end:
            continue
        nl = suffix.find("\n", start)
        stop = len(suffix) if nl == -1 else nl + 1
        total += count(suffix[start:stop])
        if total > budget:
            break
        end = stop
    if end == 0:  # the rest of the cursor's line alone is too long: keep its beginning
        line = suffix.split("\n", 1)[0]
        return _tail_within(line[::-1], budget, lambda s: count(s[::-1]))[::-1]
    return suffix[:end]


def build_prompt(
    prefix: str,
    suffix: str,
    fmt: FimFormat | None,
    count: TokenCounter,
    options: PromptOptions = PromptOptions(),
    *,
    path: str = "",
    snippets: Sequence[Snippet] = (),
    token_starts: Callable[[str], list[int]] | None = None,
    vocab: Vocabulary | None = None,
) -> Prompt:
    """Prompt pieces for a cursor between `prefix` and `suffix` (the whole document's text
    before and after it). `count` counts tokens; `token_starts` (the character offsets
    where the tokenizer starts tokens) and `vocab` enable token healing."""
    budget = options.budget
    pieces: list[str] = []
    placed: list[str] = []
    if snippets and options.snippet_share > 0 and fmt is not None:
        snippet_budget = int(budget * options.snippet_share)
        for s in snippets:
            text = f"# {s.path}\n{s.text}" if s.path else s.text
            window = prefix_window(text, snippet_budget, count, options.block_lines)
            used = count(window) + 1
            if window and used <= snippet_budget:
                pieces += [window, Special(fmt.eot)]
                placed.append(window)
                snippet_budget -= used
                budget -= used
    if fmt is not None and options.filename_header and path:
        header = fmt.header(path)
        pieces += header
        budget -= 1 + sum(count(p) for p in header if not isinstance(p, Special))

    if fmt is None:
        window = prefix_window(prefix, budget, count, options.block_lines)
        window, healed = _heal(window, options, token_starts, vocab)
        return Prompt(pieces + ([window] if window else []), window, "", healed, fim=False)

    budget -= 3  # the three FIM tokens
    suffix_budget = int(budget * options.suffix_share)
    suf = suffix_window(suffix, suffix_budget, count)
    pre = prefix_window(prefix, budget - suffix_budget, count, options.block_lines)
    pre, healed = _heal(pre, options, token_starts, vocab)
    pieces += fmt.layout(pre, suf, options.order)
    return Prompt(pieces, pre, suf, healed, fim=True, snippets=tuple(placed))


def _heal(window: str, options: PromptOptions, token_starts, vocab) -> tuple[str, str]:
    if not options.heal or token_starts is None or not window:
        return window, ""
    cut = heal_boundary(window, token_starts, vocab)
    return window[:cut], window[cut:]
