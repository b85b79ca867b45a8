"""A model's tokenizer as both backends use it: text to ids and back, token counts for
prompt budgets (cached: the planner asks about the same pieces on every keystroke), where
tokens start and which exist (for token healing), and the special tokens that end a
generation."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from fim.healing import Vocabulary

MAX_COUNT_CACHE = 8192


class Tokens:
    def __init__(self, tokenizer: Any, path: Path) -> None:
        from model.tokenizer import token_starts, token_texts  # model/ imports torch

        self.tokenizer = tokenizer
        self.path = path
        self.texts: list[str] = token_texts(tokenizer)  # each id's text, specials spelled out
        self.vocab = Vocabulary(self.texts)
        decoder = tokenizer.get_added_tokens_decoder()
        self.special: dict[str, int] = {t.content: i for i, t in decoder.items() if t.special}
        self.special_ids = frozenset(self.special.values())
        self._starts: Callable[[Any, str], list[int]] = token_starts
        self.count: Callable[[str], int] = lru_cache(maxsize=MAX_COUNT_CACHE)(self._count)

    @classmethod
    def load(cls, path: str | Path) -> Tokens:
        """The `tokenizer.json` of a model directory (or that file itself)."""
        from model.tokenizer import load_tokenizer

        from ..checkpoints import resolve_model

        path = resolve_model(path)  # a directory, a tokenizer.json, or a downloaded name
        return cls(load_tokenizer(path), path)

    def _count(self, text: str) -> int:
        return len(self.encode(text))

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def token_starts(self, text: str) -> list[int]:
        """Character offsets in `text` at which the tokenizer starts a token."""
        return self._starts(self.tokenizer, text)

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.token_to_id(token)

    @property
    def spellings(self) -> Collection[str]:
        """Every token's spelling in the vocabulary (FIM tokens are found here)."""
        return self.tokenizer.get_vocab().keys()

    @property
    def size(self) -> int:
        return self.tokenizer.get_vocab_size()
