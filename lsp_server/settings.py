"""User settings (LSP `initializationOptions` and the `bigcode` configuration section)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SECTION = "bigcode"


def _doc(text: str, **kw: Any) -> Any:
    return field(metadata={"doc": text}, **kw)


@dataclass(frozen=True)
class Settings:
    enable: bool = _doc("Offer completions at all.", default=True)
    model: str | None = _doc(
        "Model directory (HF GPTBigCode layout); empty: the bundled model.", default=None
    )
    device: str = _doc("auto, cpu or cuda.", default="auto")
    dtype: str = _doc(
        "auto, float32, bfloat16 or float16 (auto: float32 on CPU, bfloat16 on CUDA).",
        default="auto",
    )
    max_new_tokens: int = _doc("Most tokens generated per completion.", default=64)
    temperature: float = _doc(
        "0 for greedy decoding (deterministic); above 0 samples.", default=0.0
    )
    top_p: float = _doc("Nucleus sampling threshold when temperature > 0.", default=0.95)
    context_tokens: int = _doc(
        "Prompt budget in tokens (capped by the model's context).", default=1536
    )
    multiline: str = _doc(
        "auto, single or multi: how many lines a suggestion may span.", default="auto"
    )
    max_lines: int = _doc("Most lines in a multi-line suggestion.", default=16)
    fim_order: str = _doc("spm (cache-friendly, default) or psm prompt layout.", default="spm")
    token_healing: bool = _doc(
        "Back the prompt up to a token boundary at the cursor.", default=True
    )
    cache_mib: float = _doc(
        "Memory budget for per-document KV caches, in MiB (LRU eviction).", default=512.0
    )
    document_cache: bool = _doc(
        "Keep a KV cache per document (off: every request starts cold).", default=True
    )
    deadline_ms: int = _doc(
        "Give up on a completion after this long and answer with what exists.", default=4000
    )
    threads: int = _doc("CPU threads for the model (0: PyTorch's default).", default=0)
    quantize: str = _doc(
        "none, or int8: weight-only int8 linear layers for faster CPU decoding.", default="none"
    )

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in dataclasses.fields(cls)}

    def updated(self, values: dict[str, Any] | None) -> tuple[Settings, list[str]]:
        """A copy with `values` applied; returns it with the list of problems (unknown keys
        or values of the wrong type are ignored, never fatal)."""
        if not values:
            return self, []
        if isinstance(values.get(SECTION), dict):
            values = values[SECTION]
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for raw_key, value in values.items():
            key = _snake(raw_key)
            if key not in fields:
                problems.append(f"unknown setting {raw_key!r} ignored")
                continue
            checked = _coerce(key, value, getattr(self, key))
            if checked is _INVALID:
                problems.append(
                    f"setting {raw_key!r} has an invalid value {value!r}; kept {getattr(self, key)!r}"
                )
                continue
            changes[key] = checked
        return dataclasses.replace(self, **changes), problems


_INVALID = object()
_CHOICES = {
    "device": ("auto", "cpu", "cuda"),
    "dtype": ("auto", "float32", "bfloat16", "float16"),
    "multiline": ("auto", "single", "multi"),
    "fim_order": ("spm", "psm"),
    "quantize": ("none", "int8"),
}
_RANGES = {
    "max_new_tokens": (1, 1024),
    "context_tokens": (64, 32768),
    "max_lines": (1, 200),
    "cache_mib": (0, 1 << 20),
    "deadline_ms": (50, 600_000),
    "threads": (0, 1024),
    "temperature": (0.0, 5.0),
    "top_p": (0.0, 1.0),
}


def _snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def _coerce(key: str, value: Any, current: Any) -> Any:
    if key == "model":
        return (value or None) if isinstance(value, str) or value is None else _INVALID
    if isinstance(current, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            return _INVALID
        value = int(value)
    elif isinstance(current, float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return _INVALID
        value = float(value)
    elif isinstance(current, str):
        if not isinstance(value, str) or (key in _CHOICES and value not in _CHOICES[key]):
            return _INVALID
    if key in _RANGES and not _RANGES[key][0] <= value <= _RANGES[key][1]:
        return _INVALID
    return value
