"""Token healing: end the prompt where the tokenizer would start a token.

A cursor usually splits text that the tokenizer would merge: after a line's indentation
"\\n    " a byte-level BPE writes "\\n   " + " return", so a prompt ending in the token
"\\n    " is one the model rarely saw followed by code; a half-typed `self.assertEqu`
ends in a token that is not how `assertEqual` is ever spelled. We back the prompt up
to a boundary where a token would start, and require the first generated token to
start with the text removed. Candidates, longest removal first:

* the start of the identifier under the cursor (`assertEqu`), when some token starts
  with it;
* where the tokenizer would start a token if the text went on (a probe letter stands
  for the unseen rest): `"\\n   " | " "` for an indentation.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

PROBE = "x"
MAX_HEAL_CHARS = 32
TAIL_CHARS = 96
IDENTIFIER_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Vocabulary:
    """Token texts, searchable by prefix (`vocab[i]` is the text of token id i)."""

    def __init__(self, texts: Sequence[str]):
        self._sorted = sorted((t, i) for i, t in enumerate(texts) if t)
        # Tokens that do not open a new line; special tokens ("<|endoftext|>") are among them.
        self.stays_on_line = frozenset(
            i for i, t in enumerate(texts) if not t.startswith(("\n", "\r"))
        )

    def ids_starting_with(self, prefix: str) -> set[int]:
        return {i for _, i in self.starting_with(prefix)}

    def spelling(self, text: str) -> set[int]:
        """The ids of the tokens whose text is exactly `text`."""
        return {i for token, i in self.starting_with(text) if token == text}

    def starting_with(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(text, id) of the tokens that start with `prefix`, in sorted order."""
        for text, i in self._sorted[bisect.bisect_left(self._sorted, (prefix, -1)) :]:
            if not text.startswith(prefix):
                return
            yield text, i

    def has_prefix(self, prefix: str) -> bool:
        lo = bisect.bisect_left(self._sorted, (prefix, -1))
        return lo < len(self._sorted) and self._sorted[lo][0].startswith(prefix)


def probe_boundary(text: str, token_starts: Callable[[str], list[int]]) -> int:
    """Where the tokenizer would start the token under the cursor if the text went on."""
    tail_from = max(0, len(text) - TAIL_CHARS)
    nl = text.find("\n", tail_from)
    if tail_from and nl != -1:
        tail_from = nl  # tokenize from a line boundary, as the whole text would be
    tail = text[tail_from:]
    starts = [s for s in token_starts(tail + PROBE) if s <= len(tail)]
    last = max(starts, default=len(tail))
    return tail_from + (last if last > 0 else len(tail))


def heal_boundary(
    text: str, token_starts: Callable[[str], list[int]], vocab: Vocabulary | None = None
) -> int:
    """Offset in `text` at which the prompt should end (len(text): no healing)."""
    candidates = []
    word = IDENTIFIER_TAIL.search(text[-MAX_HEAL_CHARS:])
    if word:
        candidates.append(len(text) - len(word.group()))
    candidates.append(probe_boundary(text, token_starts))
    for cut in sorted(set(candidates)):
        removed = text[cut:]
        if not removed or len(removed) > MAX_HEAL_CHARS:
            continue
        if vocab is None or vocab.has_prefix(removed):
            return cut
    return len(text)
