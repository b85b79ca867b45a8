"""Turn raw model text into a suggestion a user can trust.

Rules, in order:
1. cut at the first special-token spelling (the engine stops at special ids; a model
   may still spell one out as text);
2. single line or block: mid-line cursor -> the rest of the line only; a blank line
   after a block opener, or the end of an opener line -> a block; otherwise one line
   (the policy can force either);
3. a block ends where a line dedents out of it (to the cursor's level or below), or
   where a line merely repeats the one before it (a small model's loop);
4. text that repeats the suffix's next lines is dropped;
5. closing brackets that the rest of the line already closes are dropped;
6. trailing whitespace is dropped; nothing useful left -> "";
7. no echoes: a suggestion that makes the cursor's line a copy of the next non-blank
   line below it, of the line above it, or of the enclosing definition's header is
   dropped (a small model's most common miss: it predicts the code it can see).
Block openers, closers and definition headers are per language (`fim/languages.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .degenerate import is_no_op, loop_start, repeated_line, runaway
from .languages import LANGUAGES, Language, indent_width
from .placement import misplaced
from .python_check import bad_block_header, first_bad_header, triple_quotes
from .recursion import calls_itself

Mode = Literal["auto", "single", "multi"]

SPECIAL_SPELLING = re.compile(
    r"<\|endoftext\|>|<fim[_-](?:prefix|suffix|middle|pad)>|<filename>|<file_sep>|<\|file_separator\|>"
)
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = {v: k for k, v in OPENERS.items()}
ECHO_MIN_CHARS = 6  # `pass`, `)`, `else:` may rightly repeat a neighbour
HEADER_SCAN_LINES = 400


@dataclass(frozen=True)
class PostOptions:
    mode: Mode = "auto"
    max_lines: int = 16
    tab_size: int = 4
    drop_echoes: bool = True
    language: str = "python"  # fim.languages: block openers, closers, definition headers

    @property
    def lang(self) -> Language:
        return LANGUAGES[self.language]


def _last_line(text: str) -> str:
    return text[text.rfind("\n") + 1 :]


def _prev_nonblank(prefix: str) -> str:
    for line in reversed(prefix.split("\n")[:-1]):
        if line.strip():
            return line
    return ""


def is_multiline(prefix: str, suffix: str, mode: Mode = "auto", language: str = "python") -> bool:
    if mode != "auto":
        return mode == "multi"
    before, after = _last_line(prefix), suffix.split("\n", 1)[0]
    if after.strip():
        return False  # mid-line: complete the rest of this line only
    opener = LANGUAGES[language].opener
    if not before.strip():
        return bool(opener.search(_prev_nonblank(prefix).rstrip()))
    return bool(opener.search(before.rstrip()))


def on_blank_line(prefix: str, suffix: str) -> bool:
    """The cursor's line holds nothing but whitespace."""
    return not _last_line(prefix).strip() and not suffix.split("\n", 1)[0].strip()


def _cut_block(lines: list[str], prefix: str, suffix: str, tab: int, lang: Language) -> list[str]:
    """Keep lines while they stay inside the block being written at the cursor. In a
    brace language the line that closes the block is kept too, unless the text after
    the cursor closes it already."""
    before = _last_line(prefix)
    floor = _floor(before, tab)
    kept = [lines[0]]
    previous = before + lines[0]  # the cursor's whole line
    for line in lines[1:]:
        if line.strip() and (indent_width(line, tab) < floor or line == previous):
            if lang.closer and line.strip().startswith(lang.closer) and line != previous:
                if _needs_closer(suffix, line, lang, tab):
                    kept.append(line)
            break
        kept.append(line)
        previous = line
    return kept


def _needs_closer(suffix: str, closing: str, lang: Language, tab: int) -> bool:
    """Whether the block the suggestion closes with `closing` lacks that line below the
    cursor, as the next line below says: no more text, or other code at or outside the
    closer's indentation, needs it; code deeper in means the block goes on; a closer
    further out is an enclosing block's; a closer at the same indentation is taken for
    the block's own (editors insert it with the `{`; `bench.post_languages`: 120 of 120
    held-out bodies right, against 98 to 108 counting brackets; a C++ namespace's `}`
    at a function's indentation is then missed)."""
    below = _next_line(suffix)
    if not below.strip():
        return True
    level, at = indent_width(below, tab), indent_width(closing, tab)
    if below.strip().startswith(lang.closer):
        return level < at
    return level <= at


def _floor(before: str, tab: int) -> int:
    """The least indentation of the block being written at the cursor."""
    if before.strip():
        return indent_width(before, tab) + 1  # an opener line: its body is deeper
    return indent_width(before, tab)  # a blank line: its indentation is the block's


def _next_line(suffix: str) -> str:
    """The first non-blank line after the cursor's."""
    return next((ln for ln in suffix.split("\n")[1:] if ln.strip()), "")


def _drop_suffix_overlap(
    lines: list[str], prefix: str, suffix: str, lang: Language, tab: int
) -> list[str]:
    """Cut before the first generated line that repeats the suffix's next non-blank line.
    A closing line repeats it only at the same indentation (a nested block's `}` is not
    the function's), and not where the open blocks need both."""
    below = _next_line(suffix)
    target = below.strip()
    if not target:
        return lines
    closer = bool(lang.closer) and target.startswith(lang.closer)
    for i, line in enumerate(lines):
        if i == 0 and not lines[0].strip():
            continue
        same = line.rstrip() == below.rstrip() if closer else line.strip() == target
        if same and (i > 0 or len(lines) > 1):
            if closer and _needs_closer(suffix, line, lang, tab):
                return lines
            return lines[:i]
    return lines


def _neighbours(prefix: str, suffix: str, tab: int, lang: Language) -> set[str]:
    """The stripped lines a suggestion must not copy: the next non-blank line below the
    cursor's, the nearest non-blank above it, and the enclosing definition's header."""
    out = set()
    below = _next_line(suffix)
    above = _prev_nonblank(prefix)
    out.update(ln.strip() for ln in (below, above) if ln.strip())
    level = indent_width(_last_line(prefix), tab)
    for line in reversed(prefix.split("\n")[:-1][-HEADER_SCAN_LINES:]):
        if line.strip() and indent_width(line, tab) < level:
            if lang.header.match(line):
                out.add(line.strip())
                break
            level = indent_width(line, tab)
    return out


def echoes(
    first_line: str, prefix: str, suffix: str, tab: int = 4, language: str = "python"
) -> bool:
    """The cursor's line, completed with `first_line`, repeats a neighbouring line."""
    if not first_line.strip():
        return False  # the suggestion adds nothing to this line (a block starts below)
    whole = (_last_line(prefix) + first_line + suffix.split("\n", 1)[0]).strip()
    neighbours = _neighbours(prefix, suffix, tab, LANGUAGES[language])
    return len(whole) >= ECHO_MIN_CHARS and whole in neighbours


def _balance(text: str) -> dict[str, int]:
    """Net opened minus closed per bracket kind (strings are not parsed: a heuristic)."""
    counts = dict.fromkeys(OPENERS, 0)
    for ch in text:
        if ch in OPENERS:
            counts[ch] += 1
        elif ch in CLOSERS:
            counts[CLOSERS[ch]] -= 1
    return counts


def _drop_closed_brackets(text: str, before: str, after: str) -> str:
    """Drop trailing closers of a one-line suggestion that `after` (the rest of the line)
    already supplies, e.g. `foo(a, b)` typed before an auto-inserted `)`."""
    if not after.strip():
        return text
    text = text.rstrip()
    while text and text[-1] in CLOSERS:
        net = _balance(before + text + after)
        if net[CLOSERS[text[-1]]] >= 0:
            break
        text = text[:-1]
    return text


def postprocess(text: str, prefix: str, suffix: str, options: PostOptions = PostOptions()) -> str:
    """`text` is what the model wrote at the cursor; `prefix`/`suffix` the document around it."""
    return finish_text(text, prefix, suffix, options)[0]


def finish_text(
    text: str, prefix: str, suffix: str, options: PostOptions = PostOptions()
) -> tuple[str, str]:
    """`postprocess`, with the reason when nothing is left ("" when text is left):
    "present" (the block is below the cursor already), "echo", "junk" (fim/degenerate.py),
    "invalid" (fim/python_check.py), "misplaced" (fim/placement.py), "recursion"
    (fim/recursion.py) or "nothing"; `cli.complete.REASONS` says each in words."""
    text = SPECIAL_SPELLING.split(text, maxsplit=1)[0]  # nothing after a special token
    # A generation cut off inside a multi-byte character decodes to U+FFFD at the end.
    text = text.replace("\r\n", "\n").rstrip("\ufffd")
    if not text.strip():
        return "", "nothing"
    before, after = _last_line(prefix), suffix.split("\n", 1)[0]
    lines = text.split("\n")
    if is_multiline(prefix, suffix, options.mode, options.language):
        lines = _cut_block(lines, prefix, suffix, options.tab_size, options.lang)
        lines = lines[: options.max_lines]
        lines = _drop_suffix_overlap(lines, prefix, suffix, options.lang, options.tab_size)
        kept = _cut_loops(lines)
        if lines and not kept:
            return "", "junk"
        lines = kept
        if options.language == "python":  # cut before a header no parser accepts
            quotes = triple_quotes(prefix)
            bad = first_bad_header(lines, before, quotes, text.count("\n"))
            if bad == 0:
                return "", "invalid"
            lines = lines if bad is None else lines[:bad]
            in_string = quotes % 2 == 1
            if lines and misplaced(before + lines[0], prefix, in_string):
                return "", "misplaced"
            if lines and calls_itself(before + lines[0], prefix, in_string):
                return "", "recursion"
    else:
        cut = len(lines) == 1  # the line did not end: the cap or the deadline stopped it
        lines = lines[:1]
        if loop_start(lines[0]) is not None or is_no_op(before + lines[0]):
            return "", "junk"
        if cut and runaway(lines[0]):
            return "", "junk"
        if options.language == "python":
            in_string = triple_quotes(prefix) % 2 == 1
            if not cut and bad_block_header(before + lines[0] + after, in_string):
                return "", "invalid"
            if not cut and misplaced(before + lines[0] + after, prefix, in_string):
                return "", "misplaced"
            if calls_itself(before + lines[0], prefix, in_string):
                return "", "recursion"  # (a cut line too: what is shown calls itself already)
        lines[0] = _drop_closed_brackets(lines[0], before, after)
    if not lines:  # the whole block was already there below the cursor
        return "", "present"
    if options.drop_echoes and echoes(lines[0], prefix, suffix, options.tab_size, options.language):
        return "", "echo"
    lines = [ln.rstrip() for ln in lines]
    while lines and not lines[-1].strip():
        lines.pop()
    result = "\n".join(lines)
    if not result.strip():
        return "", "nothing"
    return result, ""


def _cut_loops(lines: list[str]) -> list[str]:
    """A block up to its first looping line, and without a line block that repeats."""
    for i, line in enumerate(lines):
        if loop_start(line) is not None:
            lines = lines[:i]
            break
    again = repeated_line(lines)
    return lines if again is None else lines[:again]


def stop_early(text: str, prefix: str, suffix: str, options: PostOptions = PostOptions()) -> bool:
    """True once more generated text cannot change what `postprocess` keeps, so the
    engine can stop decoding: a newline in single-line mode, a dedent out of the block."""
    if SPECIAL_SPELLING.search(text):
        return True
    if loop_start(text[text.rfind("\n") + 1 :]) is not None:
        return True  # looping: the finisher cuts or hides it, more of it changes nothing
    if "\n" not in text:
        return False
    if not is_multiline(prefix, suffix, options.mode, options.language):
        return True
    complete = text.replace("\r\n", "\n").split("\n")[:-1]  # the last line may still grow
    if len(complete) >= options.max_lines or repeated_line(complete) is not None:
        return True
    before, tab = _last_line(prefix), options.tab_size
    kept = _cut_block(complete, prefix, suffix, tab, options.lang)
    last = kept[-1] if len(kept) > 1 else ""
    closed = bool(last.strip()) and indent_width(last, tab) < _floor(before, tab)
    return len(kept) < len(complete) or closed  # past the block, or its closing line
