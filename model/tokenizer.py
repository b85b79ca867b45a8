"""The model directory's tokenizer (`tokenizer.json`, HF `tokenizers`), read as untrusted
input, and the two views of it that token healing needs."""

from __future__ import annotations

from pathlib import Path

from .config import read_json
from .errors import ModelLoadError

TOKENIZER_FILE = "tokenizer.json"
MAX_TOKENIZER_BYTES = 64 << 20


def load_tokenizer(path: str | Path):
    """The model directory's `tokenizer.json`, read with HF `tokenizers`."""
    from tokenizers import Tokenizer

    directory = Path(path).expanduser()
    file = directory / TOKENIZER_FILE if directory.is_dir() else directory
    if not file.is_file():
        raise ModelLoadError(f"no {TOKENIZER_FILE} in {directory}")
    size = file.stat().st_size
    if size > MAX_TOKENIZER_BYTES:
        raise ModelLoadError(
            f"{file}: {size} bytes is larger than any real tokenizer ({MAX_TOKENIZER_BYTES} max)"
        )
    read_json(file, TOKENIZER_FILE, MAX_TOKENIZER_BYTES)  # one clear error for broken JSON
    try:
        return Tokenizer.from_file(str(file))
    except Exception as exc:  # tokenizers raises plain Exception subclasses
        raise ModelLoadError(f"{file}: not a valid tokenizers file ({exc})") from exc


def token_texts(tokenizer) -> list[str]:
    """Each token id's text, special tokens spelled out: the vocabulary that token
    healing searches by prefix."""
    ids = [[i] for i in range(tokenizer.get_vocab_size())]
    return tokenizer.decode_batch(ids, skip_special_tokens=False)


def token_starts(tokenizer, text: str) -> list[int]:
    """Character offsets in `text` at which the tokenizer starts a token."""
    return [start for start, _ in tokenizer.encode(text, add_special_tokens=False).offsets]
