"""GPTBigCode configuration: the fields and defaults of HF's `GPTBigCodeConfig`.

A plain dataclass. `config.json` files written by HF carry many generic keys
(`architectures`, `torch_dtype`, `transformers_version`, ...): unknown keys are kept in
`extra` so that `to_dict` round-trips them, and never change behaviour here.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

ACTIVATIONS = ("relu", "silu", "gelu", "tanh", "gelu_new", "gelu_pytorch_tanh")
ATTN_IMPLEMENTATIONS = ("eager", "sdpa", "flash_attention_2")

# HF attribute_map: alias -> field name
ALIASES = {
    "hidden_size": "n_embd",
    "max_position_embeddings": "n_positions",
    "num_attention_heads": "n_head",
    "num_hidden_layers": "n_layer",
}

# config.json files larger than this are refused before parsing (a model directory is
# untrusted input; real configs are a few KB).
MAX_CONFIG_BYTES = 1 << 20


@dataclass(init=False)
class GPTBigCodeConfig:
    vocab_size: int = 50257
    n_positions: int = 1024
    n_embd: int = 768
    n_layer: int = 12
    n_head: int = 12
    n_inner: int | None = None
    activation_function: str = "gelu_pytorch_tanh"
    resid_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5
    initializer_range: float = 0.02
    scale_attn_weights: bool = True
    use_cache: bool = True
    bos_token_id: int | None = 50256
    eos_token_id: int | list[int] | None = 50256
    pad_token_id: int | None = None
    attention_softmax_in_fp32: bool = True
    scale_attention_softmax_in_fp32: bool = True
    multi_query: bool = True
    tie_word_embeddings: bool = True
    attn_implementation: str = "sdpa"
    model_type: str = "gpt_bigcode"
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def __init__(self, **kwargs: Any) -> None:
        for alias, name in ALIASES.items():
            if alias in kwargs:
                value = kwargs.pop(alias)
                kwargs.setdefault(name, value)
        # HF spells the backend with a leading underscore in saved configs.
        if "_attn_implementation" in kwargs:
            impl = kwargs.pop("_attn_implementation")
            if impl is not None:
                kwargs.setdefault("attn_implementation", impl)
        names = {f.name for f in dataclasses.fields(self)}
        extra = dict(kwargs.pop("extra", None) or {})
        for f in dataclasses.fields(self):
            if f.name == "extra":
                continue
            if f.name in kwargs:
                value = kwargs.pop(f.name)
            elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                value = f.default_factory()  # type: ignore[misc]
            else:
                value = f.default
            setattr(self, f.name, value)
        extra.update({k: v for k, v in kwargs.items() if k not in names})
        self.extra = extra
        self.validate()

    # --- HF aliases -------------------------------------------------------------------
    hidden_size = property(lambda self: self.n_embd)
    max_position_embeddings = property(lambda self: self.n_positions)
    num_attention_heads = property(lambda self: self.n_head)
    num_hidden_layers = property(lambda self: self.n_layer)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_heads(self) -> int:
        return 1 if self.multi_query else self.n_head

    @property
    def inner_dim(self) -> int:
        return self.n_inner if self.n_inner is not None else 4 * self.n_embd

    # --- validation ------------------------------------------------------------------
    def validate(self) -> None:
        for name in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"GPTBigCodeConfig.{name} must be a positive integer, got {value!r}"
                )
        if self.n_inner is not None and (not isinstance(self.n_inner, int) or self.n_inner <= 0):
            raise ValueError(
                f"GPTBigCodeConfig.n_inner must be a positive integer or None, got {self.n_inner!r}"
            )
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTBigCodeConfig: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})"
            )
        if self.activation_function not in ACTIVATIONS:
            raise ValueError(
                f"GPTBigCodeConfig: unknown activation_function {self.activation_function!r}; "
                f"expected one of {', '.join(ACTIVATIONS)}"
            )
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(
                f"GPTBigCodeConfig: unknown attn_implementation {self.attn_implementation!r}; "
                f"expected one of {', '.join(ATTN_IMPLEMENTATIONS)}"
            )
        for name in ("resid_pdrop", "embd_pdrop", "attn_pdrop"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"GPTBigCodeConfig.{name} must be in [0, 1], got {value!r}")
        if self.layer_norm_epsilon <= 0:
            raise ValueError("GPTBigCodeConfig.layer_norm_epsilon must be positive")

    # --- (de)serialisation -----------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GPTBigCodeConfig:
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.extra)
        for f in dataclasses.fields(self):
            if f.name != "extra":
                out[f.name] = getattr(self, f.name)
        out["architectures"] = out.get("architectures") or ["GPTBigCodeForCausalLM"]
        return out

    @classmethod
    def from_pretrained(cls, path: str | Path) -> GPTBigCodeConfig:
        """Read `config.json` from a model directory (or a path to the file itself)."""
        path = Path(path)
        file = path / "config.json" if path.is_dir() else path
        if not file.is_file():
            raise ModelLoadError(f"no config.json in {path}")
        data = read_json(file, "config.json")
        if not isinstance(data, dict):
            raise ModelLoadError(f"{file}: expected a JSON object")
        model_type = data.get("model_type", "gpt_bigcode")
        if model_type != "gpt_bigcode":
            hint = ""
            if model_type == "gpt2" and any("santacoder" in str(v).lower() for v in data.values()):
                hint = " (see the note on santacoder in the README)"
            raise ModelLoadError(
                f"{file}: model_type is {model_type!r}, expected 'gpt_bigcode'{hint}"
            )
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ModelLoadError(f"{file}: {exc}") from exc

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def read_json(file: Path, what: str, max_bytes: int = MAX_CONFIG_BYTES) -> Any:
    """Parse a JSON file from an untrusted model directory, with a size cap and one clear error."""
    try:
        size = file.stat().st_size
    except OSError as exc:
        raise ModelLoadError(f"cannot read {file}: {exc.strerror or exc}") from exc
    if size > max_bytes:
        raise ModelLoadError(f"{file}: {what} is {size} bytes, more than the {max_bytes} allowed")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ModelLoadError(f"{file}: {what} is not UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise ModelLoadError(
            f"{file}: {what} is not valid JSON ({exc.msg} at line {exc.lineno})"
        ) from exc
