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

When the prefix window does jump, everything after its start is computed again (with
absolute positions nothing behind a moved start can be reused). `window_ahead` builds
the prompt that the jump will lead to, one grid line later, so that the jump can be
computed while the user is idle rather than when it comes.

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
    window_ahead: bool = False  # the prefix window one grid line later than fits


@dataclass(frozen=True)
class Prompt:
    pieces: list[str]  # text and `Special` pieces, each tokenized on its own
    prefix: str  # the prefix window actually used (ending at the cursor, minus `healed`)
    suffix: str  # the suffix window actually used
    healed: str  # text cut from the cursor end that the first token must start with
    fim: bool  # False: plain left-to-right completion (model without FIM tokens)
    snippets: tuple[str, ...] = ()  # the other files' windows placed ahead, as text
    room: int = 0  # tokens that can be typed before the prefix window moves (`prefix_start`)


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


def _earliest_fitting(
    text: str, cuts: list[int], budget: int, count: TokenCounter
) -> tuple[int | None, int]:
    """The earliest of `cuts` (ascending offsets) from which the rest of `text` fits in
    `budget` tokens, counting span by span from the end (None if not even the last), and
    the tokens from there."""
    total, chosen, used = 0, None, 0
    for i in range(len(cuts) - 1, -1, -1):
        end = cuts[i + 1] if i + 1 < len(cuts) else len(text)
        total += count(text[cuts[i] : end])  # spans repeat across keystrokes: callers cache
        if total > budget:
            break
        chosen, used = cuts[i], total
    return chosen, used


def prefix_start(
    prefix: str, budget: int, count: TokenCounter, block_lines: int = 16, ahead: int = 0
) -> tuple[int, int]:
    """Where the prefix window starts: the first grid line whose tail fits `budget` tokens
    up to the cursor (or `ahead` grid lines after it, while there are such lines); and the
    room, the tokens that can still be typed before the window that fits must move (0
    where it is not on the grid: a block too big for the budget)."""
    if budget <= 0 or not prefix:
        return len(prefix), 0
    starts = _line_starts(prefix)
    grid = starts[::block_lines]  # block boundaries, counted from the top of the file
    chosen, used = _earliest_fitting(prefix, grid, budget, count)
    if chosen is not None:
        return grid[min(grid.index(chosen) + ahead, len(grid) - 1)], budget - used
    # Even the last block is too big: fall back to whole lines, then to part of one line.
    lines = [s for s in starts if s >= grid[-1]]
    chosen, _ = _earliest_fitting(prefix, lines, budget, count)
    if chosen is not None:
        return chosen, 0
    return len(prefix) - len(_tail_within(prefix[lines[-1] :], budget, count)), 0


def prefix_window(prefix: str, budget: int, count: TokenCounter, block_lines: int = 16) -> str:
    """The text from the first grid line whose tail fits `budget` tokens up to the cursor."""
    return prefix[prefix_start(prefix, budget, count, block_lines)[0] :]


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

    ahead = int(options.window_ahead)
    if fmt is None:
        start, room = prefix_start(prefix, budget, count, options.block_lines, ahead)
        window, healed = _heal(prefix[start:], options, token_starts, vocab)
        pieces += [window] if window else []
        return Prompt(pieces, window, "", healed, fim=False, room=room)

    budget -= 3  # the three FIM tokens
    suffix_budget = int(budget * options.suffix_share)
    suf = suffix_window(suffix, suffix_budget, count)
    start, room = prefix_start(prefix, budget - suffix_budget, count, options.block_lines, ahead)
    pre, healed = _heal(prefix[start:], options, token_starts, vocab)
    pieces += fmt.layout(pre, suf, options.order)
    return Prompt(pieces, pre, suf, healed, fim=True, snippets=tuple(placed), room=room)


def _heal(window: str, options: PromptOptions, token_starts, vocab) -> tuple[str, str]:
    if not options.heal or token_starts is None or not window:
        return window, ""
    cut = heal_boundary(window, token_starts, vocab)
    return window[:cut], window[cut:]
