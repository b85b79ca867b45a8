"""Prompt-lookup drafting: guess the next tokens from where the newest n-gram appeared
before in the same sequence (the prompt holds the document's prefix and suffix), or in
a recent output (the suggestion the previous request for this document produced).

Code repeats itself — a renamed variable, the next branch of an `if`, an edit that makes
a line look like one above — so after the last few generated tokens, the tokens that
followed their latest earlier occurrence are often what comes next. And a user who types
what was suggested instead of accepting it asks, key after key, for the rest of the same
suggestion. `generate` checks a draft in one forward pass and keeps only what greedy
decoding would have produced.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

# Earlier places of the tail's last token looked at, newest first: a sequence of a few
# tokens repeated thousands of times costs no more than this per step
MAX_PLACES = 1024


class PromptLookup:
    """An index of a token sequence's n-grams: `where[token]` lists each token's
    positions, and an n-gram of the tail is found by matching back from the earlier
    positions of its last token (the tail itself never matches itself)."""

    def __init__(
        self,
        tokens: Sequence[int],
        *,
        recent: Sequence[int] = (),
        min_ngram: int = 2,
        max_ngram: int = 4,
        max_draft: int = 8,
    ):
        self.tokens: list[int] = []
        self.sizes = range(max_ngram, min_ngram - 1, -1)
        self.max_draft = max_draft
        self.where: dict[int, list[int]] = {}
        self._matched: tuple[int, list[tuple[int, int]]] = (-1, [])  # (for length, matches)
        # A recent output, indexed apart: it is not part of the sequence, and where an
        # n-gram occurs in both, what followed it there is the better guess. Its first
        # occurrence counts: the rest of the output follows it.
        self.recent = list(recent)
        self.recent_index: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in self.sizes}
        for end in range(len(self.recent)):
            for n in self.sizes:
                if end >= n:
                    self.recent_index[n].setdefault(tuple(self.recent[end - n : end]), end)
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        for t in tokens:
            self.where.setdefault(t, []).append(len(self.tokens))
            self.tokens.append(t)

    def matches(self) -> list[tuple[int, int]]:
        """(position after, tokens matched up to `max_ngram`) of each earlier place
        where the tail's last token occurred (the newest MAX_PLACES), oldest first;
        worked out once per tail (`draft` and `follows` both ask)."""
        tokens, longest = self.tokens, self.sizes[0]
        if self._matched[0] == len(tokens):
            return self._matched[1]
        last, out = len(tokens) - 1, []
        for end in self.where[tokens[-1]][-MAX_PLACES - 1 : -1] if tokens else ():
            n = 1
            while n < longest and end - n >= 0 and tokens[end - n] == tokens[last - n]:
                n += 1
            out.append((end + 1, n))
        self._matched = (len(tokens), out)
        return out

    def draft(self, limit: int | None = None) -> list[int]:
        """Up to `limit` (default max_draft) tokens that followed the longest n-gram of
        the tail the last time it occurred (in the recent output first, at a length),
        or [] when no n-gram of the tail occurred before."""
        limit = self.max_draft if limit is None else min(limit, self.max_draft)
        if limit <= 0:
            return []
        found = self.matches()
        for n in self.sizes:
            if len(self.tokens) < n:
                continue
            start = self.recent_index[n].get(tuple(self.tokens[-n:]))
            if start is not None:
                return self.recent[start : start + limit]
            start = next((after for after, m in reversed(found) if m >= n), None)
            if start is not None:
                return self.tokens[start : start + limit]
        return []

    def follows(self) -> Counter[int]:
        """The tokens that followed the longest n-gram of the tail (`max_ngram` down to
        `min_ngram` tokens) at each of its earlier occurrences, with their counts; empty
        when no n-gram of the tail occurred before."""
        found = [(after, n) for after, n in self.matches() if n >= self.sizes[-1]]
        best = max((n for _, n in found), default=0)
        return Counter(self.tokens[after] for after, n in found if n == best)
