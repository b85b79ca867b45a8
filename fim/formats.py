"""FIM token families and how a prompt is laid out with them.

A layout is a list of pieces; a `Special` piece is one special token, any other piece is
text the tokenizer encodes on its own (as BigCode's training encoded prefix, suffix and
middle separately). A remote server takes the pieces joined as one string and parses the
special tokens' spellings itself.

The in-process engine runs GPTBigCode (StarCoder, SantaCoder). A remote server may serve
other families, whose templates are here too: CodeLlama, DeepSeek-Coder, Qwen2.5-Coder
and Codestral; StarCoder2 shares StarCoder's FIM tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

Order = Literal["psm", "spm"]


class Special(str):
    """A piece that stands for one special token, never for its spelling as text."""

    __slots__ = ()


@dataclass(frozen=True)
class FimFormat:
    name: str
    prefix: str
    suffix: str
    middle: str
    pad: str
    eot: str = "<|endoftext|>"
    filename: str | None = None
    orders: tuple[str, ...] = ("psm", "spm")  # the layouts the family was trained on
    stops: tuple[str, ...] = ()  # more end markers than `eot` (text a server stops at)

    @property
    def special_tokens(self) -> tuple[str, ...]:
        tokens = (self.eot, self.prefix, self.middle, self.suffix, self.pad)
        return tuple(t for t in tokens + ((self.filename,) if self.filename else ()) if t)

    @property
    def stop_texts(self) -> tuple[str, ...]:
        """Text that ends a generation in this family (for servers that stop on strings)."""
        return tuple(dict.fromkeys(t.strip() for t in (self.eot, *self.stops) if t.strip()))

    def layout(self, prefix: str, suffix: str, order: Order = "psm", middle: str = "") -> list[str]:
        """Pieces of a FIM sequence; the model continues after the returned pieces with the
        middle. With `middle` given (training), it follows the layout.

        PSM: <pre> P <suf> S <mid> M
        SPM: <pre> <suf> S <mid> P M   (BigCode's SPM: the prefix runs straight into the
             middle, so typing at the cursor only appends to the prompt)
        """
        pre, suf, mid = Special(self.prefix), Special(self.suffix), Special(self.middle)
        if order not in self.orders and order in ("psm", "spm"):
            order = self.orders[0]  # e.g. PSM for a family that never saw SPM
        if order == "psm":
            pieces = [pre, prefix, suf, suffix, mid]
        elif order == "spm":
            pieces = [pre, suf, suffix, mid, prefix]
        else:
            raise ValueError(f"unknown FIM order {order!r}")
        if middle:
            pieces.append(middle)
        return [p for p in pieces if p]

    def header(self, path: str) -> list[str]:
        """StarCoder's file-name header, `<filename>path\\n`, or nothing for formats without it."""
        if not self.filename or not path:
            return []
        return [Special(self.filename), path + "\n"]


STARCODER = FimFormat(
    name="starcoder",
    prefix="<fim_prefix>",
    suffix="<fim_suffix>",
    middle="<fim_middle>",
    pad="<fim_pad>",
    filename="<filename>",
)
SANTACODER = FimFormat(
    name="santacoder",
    prefix="<fim-prefix>",
    suffix="<fim-suffix>",
    middle="<fim-middle>",
    pad="<fim-pad>",
)
# Families served by remote inference servers. Their FIM markers are text here (the
# server's tokenizer maps them to its special tokens); spaces are part of CodeLlama's.
CODELLAMA = FimFormat(
    name="codellama",
    prefix="<PRE> ",
    suffix=" <SUF>",
    middle=" <MID>",
    pad="",
    eot="<EOT>",
    orders=("psm",),
    stops=("</s>",),
)
DEEPSEEK = FimFormat(
    name="deepseek",
    prefix="<｜fim▁begin｜>",
    suffix="<｜fim▁hole｜>",
    middle="<｜fim▁end｜>",
    pad="",
    eot="<|EOT|>",
    orders=("psm",),
    stops=("<｜end▁of▁sentence｜>",),
)
QWEN = FimFormat(
    name="qwen",
    prefix="<|fim_prefix|>",
    suffix="<|fim_suffix|>",
    middle="<|fim_middle|>",
    pad="<|fim_pad|>",
    orders=("psm",),
    stops=("<|file_sep|>", "<|im_end|>"),
)
# Mistral's FIM puts the suffix first and runs the prefix into the middle: `[SUFFIX] S
# [PREFIX] P`, which is the SPM layout with no prefix marker and `[PREFIX]` in the
# middle marker's place.
CODESTRAL = FimFormat(
    name="codestral",
    prefix="",
    suffix="[SUFFIX]",
    middle="[PREFIX]",
    pad="",
    eot="</s>",
    orders=("spm",),
)
FORMATS = (STARCODER, SANTACODER)  # what a GPTBigCode vocabulary may have
TEMPLATES = {f.name: f for f in (STARCODER, SANTACODER, CODELLAMA, DEEPSEEK, QWEN, CODESTRAL)}
# Substrings of served model names, most specific first.
MODEL_NAME_HINTS = (
    ("codestral", CODESTRAL),
    ("deepseek", DEEPSEEK),
    ("qwen", QWEN),
    ("codellama", CODELLAMA),
    ("code-llama", CODELLAMA),
    ("code_llama", CODELLAMA),
    ("santacoder", SANTACODER),
    ("starcoder", STARCODER),
    ("bigcode", STARCODER),
)


def format_for_model_name(name: str) -> FimFormat | None:
    """The template a served model's name implies (`bigcode/starcoder2-3b` → starcoder,
    `deepseek-coder:1.3b-base` → deepseek), or None when the name says nothing."""
    lowered = name.lower()
    return next((fmt for hint, fmt in MODEL_NAME_HINTS if hint in lowered), None)


def detect_format(vocabulary: Iterable[str], overrides: dict | None = None) -> FimFormat | None:
    """The FIM format whose tokens the vocabulary has; None means plain left-to-right.

    `overrides` (a model directory's `fim` config) may rename any of the tokens.
    """
    vocab = set(vocabulary)
    if overrides:
        base = next((f for f in FORMATS if f.name == overrides.get("name")), STARCODER)
        fields = {
            k: v
            for k, v in overrides.items()
            if k in FimFormat.__dataclass_fields__ and k != "name"
        }
        fmt = FimFormat(**{**base.__dict__, **fields, "name": overrides.get("name", "custom")})
        missing = [t for t in (fmt.prefix, fmt.suffix, fmt.middle) if t not in vocab]
        if missing:
            raise ValueError(f"FIM override names tokens the tokenizer lacks: {', '.join(missing)}")
        return fmt
    for fmt in FORMATS:
        if all(t in vocab for t in (fmt.prefix, fmt.suffix, fmt.middle)):
            if fmt.filename and fmt.filename not in vocab:
                fmt = FimFormat(**{**fmt.__dict__, "filename": None})
            return fmt
    return None
