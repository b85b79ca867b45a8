"""Repository context in training data, laid out as the server lays it out.

A model that never saw snippets of other files ahead of a document has no reason to use
them: with repository context on, the bundled model v2 matched exactly as often as with
it off. So a share of the training chunks gets what the server would put before it:
snippets of other files of the same project (a package, or a stdlib folder), each
`# label` + text and an end-of-text token, chosen by the server's own retrieval
(`fim/retrieval.py`: definitions of names the chunk uses, then the most similar windows)
and trimmed, like the server's prompt, to a budget.
"""

from __future__ import annotations

import random
from collections import defaultdict

from fim.corpus import Corpus
from fim.retrieval import choose_snippets

from .corpus import STDLIB, SourceFile, chunk_text

Doc = tuple[tuple[str, ...], str]  # (snippets, chunk)
SNIPPET_CHARS = 1200  # about the server's default share (30 % of ~960 prompt tokens)


def project_of(f: SourceFile) -> str:
    if f.origin != STDLIB:
        return f.origin
    head, _, rest = f.relpath.partition("/")
    return f"stdlib/{head}" if rest else "stdlib"


def label_of(f: SourceFile) -> str:
    return f"{project_of(f).split('/')[-1]}/{f.relpath}"


def _tail(text: str, chars: int) -> str:
    """The last whole lines of `text` within `chars` (the server keeps a snippet's tail)."""
    if len(text) <= chars:
        return text
    cut = text.find("\n", len(text) - chars)
    return text[cut + 1 :] if cut != -1 else ""


def snippets_for(chunk: str, label: str, corpus: Corpus, budget: int = SNIPPET_CHARS):
    out: list[str] = []
    for w in choose_snippets(corpus, chunk, "", label):  # the chunk's end as the cursor
        text = _tail(f"# {w.path}\n{w.text}", budget)
        if not text:
            break
        out.append(text)
        budget -= len(text)
    return tuple(reversed(out))  # most relevant last, nearest the document, as served


def documents(
    files: list[SourceFile], chunk_chars: int, rate: float, seed: int, weights: dict[str, int]
) -> list[str | Doc]:
    """Chunks of `files`, a `rate` share of them with their project's snippets ahead."""
    rng = random.Random(seed)
    by_project: dict[str, list[SourceFile]] = defaultdict(list)
    for f in files:
        by_project[project_of(f)].append(f)
    out: list[str | Doc] = []
    for members in by_project.values():
        corpus = None
        for f in members:
            for chunk in chunk_text(f.text, chunk_chars):
                for _ in range(weights.get(f.origin, 1)):
                    if len(members) > 1 and rate and rng.random() < rate:
                        corpus = corpus or _corpus(members)
                        out.append((snippets_for(chunk, label_of(f), corpus), chunk))
                    else:
                        out.append(chunk)
    return out


def _corpus(files: list[SourceFile]) -> Corpus:
    return Corpus.of_files([(label_of(f), label_of(f), f.text) for f in files])
