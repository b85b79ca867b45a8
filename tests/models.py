"""Tiny random model directories with a real tokenizer, for end-to-end tests."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lsp_server.backends.base import TextStream
from model import GPTBigCodeConfig, GPTBigCodeForCausalLM
from training.corpus import stdlib_root
from training.tokenizer import train_tokenizer

SAMPLE_FILES = ("textwrap.py", "colorsys.py", "bisect.py", "keyword.py")


def make_model_dir(
    path: Path, vocab_size: int = 600, n_positions: int = 512, seed: int = 0, **overrides
) -> Path:
    """A StarCoder-format model directory: BPE over a few stdlib files, random weights."""
    path.mkdir(parents=True, exist_ok=True)
    texts = [(stdlib_root() / name).read_text() for name in SAMPLE_FILES]
    tok = train_tokenizer(texts, vocab_size)
    tok.save(str(path / "tokenizer.json"))
    torch.manual_seed(seed)
    shape = dict(n_embd=32, n_layer=2, n_head=4, bos_token_id=0, eos_token_id=0)
    config = GPTBigCodeConfig(
        vocab_size=tok.get_vocab_size(), n_positions=n_positions, **{**shape, **overrides}
    )
    GPTBigCodeForCausalLM(config).save_pretrained(path)
    return path


def set_config(path: Path, **values) -> None:
    data = json.loads((path / "config.json").read_text())
    data.update(values)
    (path / "config.json").write_text(json.dumps(data))


def make_constant_model_dir(path: Path, token_text: str = "x", **overrides) -> Path:
    """A model that always predicts `token_text`: deterministic suggestions of known text.

    With ln_f's weight zeroed its output is its bias; setting the bias to the (tied)
    embedding of the target token makes that token's logit the largest at every step.
    """
    make_model_dir(path, **overrides)
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    target = Tokenizer.from_file(str(path / "tokenizer.json")).token_to_id(token_text)
    assert target is not None, token_text
    state = load_file(str(path / "model.safetensors"))
    wte = state["transformer.wte.weight"]
    # norm 4: the target's logit is 16, so the model is sure of it (as minConfidence needs)
    wte[target] = torch.nn.functional.normalize(torch.ones(wte.shape[1]), dim=0) * 4.0
    state["transformer.ln_f.weight"] = torch.zeros_like(state["transformer.ln_f.weight"])
    state["transformer.ln_f.bias"] = wte[target].clone()
    save_file(state, str(path / "model.safetensors"))
    return path


class ScriptedBackend:
    """A backend whose line and scores are given: the service's choice, alone."""

    kind, description, path = "local", "scripted", None
    fmt, vocab, token_starts, filename_header, context_size = None, None, None, False, 2048

    def __init__(self, line: str, scores: dict[str, float] | None, searched: list[str] = ()):
        self.line, self.scores, self.scored = line, scores, []
        self.searched, self.searches = list(searched), []  # what a search finds; its calls

    def count(self, text: str) -> int:
        return len(text) // 3 + 1

    def stream(self, plan, uri, settings, should_stop, monitor=None) -> TextStream:
        return TextStream(iter([self.line + "\n"]))

    def score(self, plan, uri, settings, texts, should_stop):
        self.scored.append(texts)
        return None if self.scores is None else [self.scores[t.strip()] for t in texts]

    def search(self, plan, uri, settings, shown, width, should_stop) -> list[str]:
        self.searches.append((shown, width))
        return [plan.finisher.healed + line + "\n" for line in self.searched[:width]]

    def forget(self, uri: str) -> None:
        pass

    def prefill_ahead(self, plan, keep, uri, settings, should_stop) -> int:
        return 0

    def status(self) -> dict:
        return {}
