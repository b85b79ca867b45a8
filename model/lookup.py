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


class PromptLookup:
    """An index of the n-grams of a token sequence, longest first at lookup time.

    `index[n][gram]` is the position right after the latest occurrence of `gram` that
    ends before the sequence's last token: the sequence's own tail never matches itself.
    `where[token]` lists the positions of each token, for `follows`.
    """

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
        self.index: dict[int, dict[tuple[int, ...], int]] = {n: {} for n in self.sizes}
        self.where: dict[int, list[int]] = {}
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
            self.tokens.append(t)
            end = len(self.tokens) - 1  # register the grams ending just before the new token
            self.where.setdefault(t, []).append(end)
            for n in self.sizes:
                if end >= n:
                    self.index[n][tuple(self.tokens[end - n : end])] = end

    def draft(self, limit: int | None = None) -> list[int]:
        """Up to `limit` (default max_draft) tokens that followed the newest n-gram last
        time it occurred, or [] when no n-gram of the tail occurred before."""
        limit = self.max_draft if limit is None else min(limit, self.max_draft)
        if limit <= 0:
            return []
        for n in self.sizes:
            if len(self.tokens) < n:
                continue
            tail = tuple(self.tokens[-n:])
            start = self.recent_index[n].get(tail)
            if start is not None:
                return self.recent[start : start + limit]
            start = self.index[n].get(tail)
            if start is not None:
                return self.tokens[start : start + limit]
        return []

    def follows(self) -> Counter[int]:
        """The tokens that followed the longest n-gram of the tail (`max_ngram` down to
        `min_ngram` tokens) at each of its earlier occurrences, with their counts; empty
        when no n-gram of the tail occurred before."""
        tokens, shortest, longest = self.tokens, self.sizes[-1], self.sizes[0]
        if len(tokens) < shortest:
            return Counter()
        last, best, after = len(tokens) - 1, 0, []
        for end in self.where[tokens[-1]][:-1]:  # earlier places of the last token
            n = 1  # how far back the match reaches, up to the longest n-gram
            while n < longest and end - n >= 0 and tokens[end - n] == tokens[last - n]:
                n += 1
            if n >= shortest and n >= best:
                after = after if n == best else []
                best = n
                after.append(tokens[end + 1])
        return Counter(after)
