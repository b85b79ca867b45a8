"""A next-edit model's prompt and answer, in the format of Zed's Zeta: the user's last
edit as a diff, then an excerpt of the file whose editable region carries the cursor's
mark; the model answers with that region rewritten, and the differences become edits.

Only the markers and the layout follow Zeta (a model trained on them needs them); the
instruction's wording is ours.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .next_edits import LastEdit, Proposal

REGION_START = "<|editable_region_start|>"
REGION_END = "<|editable_region_end|>"
CURSOR = "<|user_cursor_is_here|>"
FILE_START = "<|start_of_file|>"
REGION_LINES = 8  # lines of the editable region above and below the cursor's
INSTRUCTION = (
    "You predict a programmer's next edit. Read the edits they just made and the excerpt "
    "of the file, where the cursor is marked; write the editable region again with the "
    "edit they will make next applied, and nothing else changed."
)


@dataclass(frozen=True)
class EditPrompt:
    prompt: str
    region_start: int  # offsets of the editable region in the text
    region_end: int


def _line_start(text: str, at: int) -> int:
    return text.rfind("\n", 0, at) + 1


def _diff(path: str, text: str, edit: LastEdit) -> str:
    """The last edit as a unified diff of the lines it touched (one line of context)."""
    before = text[: edit.start] + edit.old + text[edit.start + len(edit.new) :]
    first = text.count("\n", 0, edit.start)
    old_lines = before.split("\n")[max(0, first - 1) : first + edit.old.count("\n") + 2]
    new_lines = text.split("\n")[max(0, first - 1) : first + edit.new.count("\n") + 2]
    body = "\n".join(difflib.unified_diff(old_lines, new_lines, lineterm="", n=1))
    body = body.split("\n", 2)[2] if body.count("\n") >= 2 else body  # no ---/+++ lines
    return f'User edited "{path}":\n```diff\n{body}\n```'


def zeta_prompt(path: str, text: str, cursor: int, edit: LastEdit) -> EditPrompt:
    lines = text.split("\n")
    row = text.count("\n", 0, cursor)
    first, last = max(0, row - REGION_LINES), min(len(lines), row + REGION_LINES + 1)
    start = sum(len(ln) + 1 for ln in lines[:first])
    end = min(len(text), start + sum(len(ln) + 1 for ln in lines[first:last]) - 1)
    region = text[start:cursor] + CURSOR + text[cursor:end]
    head = FILE_START + "\n" if first == 0 else ""
    excerpt = f"```{path}\n{head}{REGION_START}\n{region}\n{REGION_END}\n```"
    prompt = (
        f"### Instruction:\n{INSTRUCTION}\n\n### User Edits:\n\n{_diff(path, text, edit)}\n\n"
        f"### User Excerpt:\n\n{excerpt}\n\n### Response:\n"
    )
    return EditPrompt(prompt, start, end)


def rewritten_region(answer: str) -> str | None:
    """The region the model wrote, without its markers, or None if it wrote none."""
    at = answer.find(REGION_START)
    if at < 0:
        return None
    region = answer[at + len(REGION_START) :]
    end = region.find(REGION_END)
    region = region[:end] if end >= 0 else region
    region = region.removeprefix("\n").removesuffix("\n").replace(CURSOR, "")
    return region


def region_edits(text: str, prompt: EditPrompt, answer: str) -> list[Proposal]:
    """The edits that turn the region into the model's rewrite, nearest the region's
    middle first; none when the answer holds no region or changes nothing."""
    new = rewritten_region(answer)
    old = text[prompt.region_start : prompt.region_end]
    if new is None or new == old:
        return []
    old_lines, new_lines = old.split("\n"), new.split("\n")
    starts = [0]
    for ln in old_lines:
        starts.append(starts[-1] + len(ln) + 1)
    out = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        a, b = starts[i1], max(starts[i1], starts[i2] - 1)
        now = "\n".join(new_lines[j1:j2])
        if tag == "insert":  # new lines before line i1 (or after the last)
            a = b = min(starts[i1], len(old))
            now = "\n" + now if i1 == len(old_lines) else now + "\n"
        elif tag == "delete":  # whole lines go, with one line break
            a, b = (a, starts[i2]) if i2 < len(old_lines) else (max(0, a - 1), len(old))
        was = old[a:b]
        # narrow to the characters that differ
        k = 0
        while k < min(len(was), len(now)) and was[k] == now[k]:
            k += 1
        m = 0
        while m < min(len(was), len(now)) - k and was[len(was) - 1 - m] == now[len(now) - 1 - m]:
            m += 1
        start = prompt.region_start + a + k
        out.append(
            Proposal(start, prompt.region_start + a + len(was) - m, now[k : len(now) - m], "model")
        )
    middle = (prompt.region_start + prompt.region_end) // 2
    return sorted(out, key=lambda p: abs(p.start - middle))
