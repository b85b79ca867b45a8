"""Train a StarCoder-style byte-level BPE tokenizer with HF `tokenizers`.

Digits are split one by one and bytes are mapped as in GPT-2/StarCoder; the special
tokens come first, in the order of `fim.formats.STARCODER.special_tokens`, so
`<|endoftext|>` is id 0 and the FIM tokens follow. The result is a plain `tokenizer.json`
that `load_tokenizer` reads.
"""

from __future__ import annotations

from collections.abc import Iterable

from fim.formats import STARCODER

# The order fixes the token ids (0-5); the bundled model's weights depend on it.
SPECIAL_TOKENS = list(STARCODER.special_tokens)


def train_tokenizer(texts: Iterable[str], vocab_size: int = 8192, min_frequency: int = 2):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok
