"""A run's data: corpus files and chunks, FIM-transformed and tokenized into fixed
batches per epoch (new FIM cuts every epoch, the same for a resumed run), the held-out
batches, and the run's tokenizer."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from fim.formats import STARCODER
from fim.healing import Vocabulary, heal_boundary
from fim.transform import fim_transform
from model.tokenizer import load_tokenizer, token_starts, token_texts

from .context import documents
from .corpus import STDLIB, SourceFile, chunk_text, load_split, read_pack
from .packages import packages_of
from .recipe import Recipe, say
from .tokenizer import train_tokenizer


def healing_boundary(tokenizer) -> Callable[[str], int]:
    """The server's token-healing cut (fim/healing.py) with this tokenizer."""
    vocab = Vocabulary(token_texts(tokenizer))
    return lambda text: heal_boundary(text, lambda t: token_starts(tokenizer, t), vocab)


def encode_documents(
    tokenizer, documents: list, rng: random.Random, recipe: Recipe, fmt=STARCODER
) -> list[int]:
    """FIM-transform each document, tokenize each piece on its own, join with the format's
    end-of-text token (`fmt`: the model's FIM tokens, StarCoder's for our own models)."""
    eot = tokenizer.token_to_id(fmt.eot)
    special = {t: tokenizer.token_to_id(t) for t in fmt.special_tokens}
    boundary = healing_boundary(tokenizer) if recipe.line_fim_rate else None
    docs = []
    for d in documents:
        snippets, text = d if isinstance(d, tuple) else ((), d)
        pieces = [p for snippet in snippets for p in (snippet, fmt.eot)]
        cut = fim_transform(
            text, rng, recipe.fim_rate, recipe.spm_rate, recipe.line_fim_rate, boundary
        )
        docs.append(pieces + cut.pieces(fmt))
    texts = [p for pieces in docs for p in pieces if p not in special]
    encoded = iter(tokenizer.encode_batch(texts, add_special_tokens=False))
    stream: list[int] = []
    for pieces in docs:
        for p in pieces:
            stream.extend([special[p]] if p in special else next(encoded).ids)
        stream.append(eot)
    return stream


def windows(stream: list[int], seq_len: int) -> torch.Tensor:
    n = len(stream) // seq_len
    return torch.tensor(stream[: n * seq_len], dtype=torch.long).view(n, seq_len)


def epoch_batches(
    tokenizer, chunks: list[str], recipe: Recipe, epoch: int, fmt=STARCODER
) -> torch.Tensor:
    """All batches of one epoch, (n_batches, B, T), fixed by (seed, epoch)."""
    rng = random.Random(recipe.seed * 1_000_003 + epoch)
    order = list(chunks)
    rng.shuffle(order)
    w = windows(encode_documents(tokenizer, order, rng, recipe, fmt), recipe.seq_len)
    w = w[torch.randperm(len(w), generator=torch.Generator().manual_seed(recipe.seed + epoch))]
    n = len(w) // recipe.batch_size
    return w[: n * recipe.batch_size].view(n, recipe.batch_size, recipe.seq_len)


@functools.lru_cache(maxsize=1)
def _pack(path: Path) -> tuple[str, list[SourceFile]]:
    return read_pack(path)


def corpus_files(
    split: str, recipe: Recipe, wheels: Path | None = None, pack: Path | None = None
) -> list[SourceFile]:
    """The files of one split of the recipe's corpus: from a corpus pack when given
    (training/corpus.py), else from this interpreter's stdlib and `wheels`."""
    if pack is not None:
        name, files = _pack(pack)
        if name != recipe.corpus:
            raise SystemExit(f"{pack} holds corpus {name!r}, the recipe wants {recipe.corpus!r}")
        return [f for f in files if f.split == split]
    chosen = packages_of(recipe.corpus)
    if not chosen:
        return load_split(split)
    return load_split(split, wheels=wheels, packages=chosen)


def load_chunks(
    split: str, recipe: Recipe, wheels: Path | None = None, pack: Path | None = None
) -> list:
    """Chunks of one split (some with repository snippets ahead, see context.py); with a
    packages corpus, `wheels` holds their wheels."""
    files = corpus_files(split, recipe, wheels, pack)
    weight = {STDLIB: recipe.stdlib_weight}
    if recipe.context_rate:
        return documents(files, recipe.chunk_chars, recipe.context_rate, recipe.seed, weight)
    return [
        c
        for f in files
        for c in chunk_text(f.text, recipe.chunk_chars)
        for _ in range(weight.get(f.origin, 1))
    ]


def heldout_sets(
    recipe: Recipe, wheels: Path | None, pack: Path | None = None
) -> dict[str, list[str]]:
    """Held-out chunks by name: `eval_loss` is always the stdlib's (curves stay comparable
    across corpus versions); a packages corpus adds its held-out packages."""
    files = corpus_files("heldout", recipe, wheels, pack)

    def chunks(keep) -> list[str]:
        return [c for f in files if keep(f) for c in chunk_text(f.text, recipe.chunk_chars)]

    sets = {"eval_loss": chunks(lambda f: f.origin == STDLIB)}
    if packages_of(recipe.corpus):
        sets["eval_loss_packages"] = chunks(lambda f: f.origin != STDLIB)
    return sets


def eval_batches(
    tokenizer, recipe: Recipe, wheels: Path | None, device: str, pack: Path | None = None
) -> dict:
    """Fixed held-out batches per held-out set, one FIM mixture whatever the phase."""
    eval_recipe = replace(recipe, fim_rate=0.5, spm_rate=0.5, line_fim_rate=0.0)
    out = {}
    for name, chunks in heldout_sets(recipe, wheels, pack).items():
        stream = encode_documents(tokenizer, chunks, random.Random(recipe.seed), eval_recipe)
        w = windows(stream, recipe.seq_len)[: recipe.eval_windows]
        out[name] = w.to(device).split(recipe.batch_size)
    return out


def run_tokenizer(run: Path, recipe: Recipe):
    tok_file = run / "tokenizer.json"
    if not tok_file.exists():
        say(f"training a {recipe.vocab_size}-token BPE on the train split")
        texts = (f.text for f in load_split("train"))
        train_tokenizer(texts, recipe.vocab_size).save(str(tok_file))
    return load_tokenizer(tok_file)


class EpochFeed:
    """The batches of each epoch. With `workers`, the next epochs are tokenized in worker
    processes while this one trains (a GPU outruns one CPU core's FIM transform and
    tokenizer); the batches are the same either way, fixed by (seed, epoch). The workers
    are spawned, not forked: a child forked after the parent ran OpenMP can hang."""

    def __init__(self, tokenizer, chunks: list, recipe: Recipe, workers: int = 0):
        self.args, self.workers = (tokenizer, chunks, recipe), workers
        self.pool, self.pending = None, {}
        if workers:
            import concurrent.futures
            import multiprocessing

            self.pool = concurrent.futures.ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_feed,
                initargs=(tokenizer.to_str(), chunks, recipe),
            )

    def get(self, epoch: int) -> torch.Tensor:
        if self.pool is None:
            return epoch_batches(*self.args, epoch)
        for e in range(epoch, epoch + self.workers + 1):
            if e not in self.pending:
                self.pending[e] = self.pool.submit(_feed_epoch, e)
        return torch.from_numpy(self.pending.pop(epoch).result()).long()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)


_FEED_ARGS = None


def _init_feed(tokenizer_json: str, chunks: list, recipe: Recipe) -> None:
    from tokenizers import Tokenizer

    global _FEED_ARGS
    torch.set_num_threads(1)  # the workers share the CPU with each other
    _FEED_ARGS = (Tokenizer.from_str(tokenizer_json), chunks, recipe)


def _feed_epoch(epoch: int):
    return epoch_batches(*_FEED_ARGS, epoch).to(torch.int32).numpy()  # a quarter of the bytes
