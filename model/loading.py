"""Read and write HF GPTBigCode checkpoint directories (safetensors only, never pickle).

A model directory is untrusted input: every file is size-checked or parsed by
safetensors' bounded header reader, every key and shape is checked against the model,
and each failure becomes one `ModelLoadError` whose message a user can act on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .config import GPTBigCodeConfig, read_json
from .errors import ModelLoadError
from .layers import flash_problem

if TYPE_CHECKING:  # modeling imports this module to implement from_pretrained
    from .modeling import GPTBigCodeForCausalLM

WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
MAX_INDEX_BYTES = 16 << 20

# Buffers that some checkpoints carry and that the model derives itself.
IGNORED_SUFFIXES = (".attn.bias", ".attn.masked_bias")
IGNORED_KEYS = ("transformer.bias",)

CONVERTED_SANTACODER = "bigcode/gpt_bigcode-santacoder"

DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def set_threads(n: int) -> None:
    """CPU threads for inference. On a busy machine fewer threads than cores avoid the
    OpenMP spin-waiting that can slow small models down by orders of magnitude."""
    if n > 0:
        torch.set_num_threads(n)


def resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' was asked for, but torch sees no CUDA device")
    return device


def resolve_dtype(dtype: torch.dtype | str | None, device: torch.device) -> torch.dtype:
    """None or 'auto': float32 on CPU, bfloat16 (else float16) on CUDA."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return DTYPES[str(dtype).replace("torch.", "")]
    except KeyError:
        raise ModelLoadError(f"unknown dtype {dtype!r}; use float32, bfloat16 or float16") from None


def _weight_files(directory: Path) -> list[Path]:
    single = directory / WEIGHTS_FILE
    index = directory / INDEX_FILE
    if single.is_file():
        return [single]
    if index.is_file():
        data = read_json(index, INDEX_FILE, MAX_INDEX_BYTES)
        weight_map = data.get("weight_map") if isinstance(data, dict) else None
        if not isinstance(weight_map, dict) or not weight_map:
            raise ModelLoadError(f"{index}: no 'weight_map' object")
        files = []
        for name in dict.fromkeys(weight_map.values()):
            shard = (directory / str(name)).resolve()
            # A shard name must not point outside the model directory.
            if shard.parent != directory.resolve() or not str(name).endswith(".safetensors"):
                raise ModelLoadError(
                    f"{index}: shard name {name!r} is not a .safetensors file in the directory"
                )
            if not shard.is_file():
                raise ModelLoadError(f"{index}: shard {name} is missing")
            files.append(shard)
        return files
    pickles = sorted(p.name for p in directory.glob("*.bin")) + sorted(
        p.name for p in directory.glob("*.pt")
    )
    if pickles:
        raise ModelLoadError(
            f"{directory} has only {pickles[0]}, a pickle checkpoint, which bigcode-ls never loads "
            "(unpickling can run arbitrary code). Convert it to safetensors first, e.g. with "
            "transformers: AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)"
        )
    raise ModelLoadError(f"{directory} has no {WEIGHTS_FILE} or {INDEX_FILE}")


def _read_each(files: list[Path], read: Callable[[Any, str], Any]) -> Iterator[tuple[str, Any]]:
    """(key, read(file, key)) for every tensor of the safetensors `files`, opened
    memory-mapped; an unreadable file becomes one ModelLoadError naming it."""
    from safetensors import SafetensorError, safe_open

    for file in files:
        try:
            with safe_open(str(file), framework="pt", device="cpu") as f:
                for key in f.keys():
                    yield key, read(f, key)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelLoadError(f"{file.name} is not a readable safetensors file ({exc})") from exc


def _iter_tensors(files: list[Path]) -> Iterator[tuple[str, torch.Tensor]]:
    return _read_each(files, lambda f, key: f.get_tensor(key))


def _check_custom_code(directory: Path, raw: dict[str, Any]) -> None:
    arch = " ".join(raw.get("architectures") or [])
    if raw.get("model_type") != "gpt_bigcode" and ("auto_map" in raw or "Custom" in arch):
        raise ModelLoadError(
            f"{directory} is a custom-code checkpoint ({arch or raw.get('model_type')}), such as the "
            f"original bigcode/santacoder main branch with q_attn/kv_attn weights; use the converted "
            f"{CONVERTED_SANTACODER} repository instead"
        )


class Checkpoint:
    """A model directory, checked as far as it can be before a model is built: its
    config, its weight files and their shapes, and where and how to load it."""

    def __init__(
        self,
        path: str | Path,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        attn_implementation: str | None = None,
        quantize: str | None = None,
    ) -> None:
        if quantize not in (None, "none", "int8"):
            raise ModelLoadError(f"unknown quantization {quantize!r}; use int8 or none")
        self.directory = Path(path).expanduser()
        self.config = read_config(self.directory, attn_implementation)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.int8 = quantize == "int8"
        if self.int8 and self.device.type != "cpu":
            raise ModelLoadError("quantize=int8 is for CPU inference; on CUDA use bfloat16")
        if self.config.attn_implementation == "flash_attention_2":
            problem = flash_problem(self.device, self.dtype)
            if problem:
                raise ModelLoadError(problem)
        self.files = _weight_files(self.directory)
        check_shapes(self.directory, self.config, _header_shapes(self.files))

    def load_into(self, model: GPTBigCodeForCausalLM) -> None:
        """Fill `model`, built on the meta device from `self.config`, with the weights."""
        state = read_state(self.directory, model, self.files)
        state = {
            k: t.to(device=self.device, dtype=self.dtype) if t.is_floating_point() else t
            for k, t in state.items()
        }
        model.load_state_dict(state, strict=False, assign=True)
        model.tie_weights()


def read_config(directory: Path, attn_implementation: str | None = None) -> GPTBigCodeConfig:
    """The directory's config.json, checked: a directory, a GPTBigCode, not custom code."""
    if not directory.exists():
        raise ModelLoadError(f"model directory not found: {directory}")
    if not directory.is_dir():
        raise ModelLoadError(f"model path is not a directory: {directory}")
    config_file = directory / "config.json"
    if not config_file.is_file():
        raise ModelLoadError(f"{directory} has no config.json; is it a HF model directory?")
    raw = read_json(config_file, "config.json")
    if isinstance(raw, dict):
        _check_custom_code(directory, raw)
    config = GPTBigCodeConfig.from_pretrained(directory)
    if attn_implementation is not None:
        config.attn_implementation = attn_implementation
        try:
            config.validate()
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from None
    return config


def _header_shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Every tensor's shape, read from the safetensors headers alone."""
    return dict(_read_each(files, lambda f, key: tuple(f.get_slice(key).get_shape())))


def check_shapes(directory: Path, config: GPTBigCodeConfig, shapes: dict) -> None:
    """config.json against the checkpoint's own shapes, before the model is built: a
    config that promises 100,000 layers beside real weights fails here, at once."""
    layers = {int(k.split(".")[2]) for k in shapes if k.startswith("transformer.h.")}
    found = max(layers) + 1 if layers else 0
    wte = shapes.get("transformer.wte.weight")
    wpe = shapes.get("transformer.wpe.weight")
    problems = []
    if found != config.n_layer:
        problems.append(f"n_layer is {config.n_layer} but the weights have {found} layers")
    if wte is not None and wte != (config.vocab_size, config.n_embd):
        problems.append(
            f"vocab_size x n_embd is {config.vocab_size} x {config.n_embd}, the weights {wte}"
        )
    if wpe is not None and wpe != (config.n_positions, config.n_embd):
        problems.append(f"n_positions is {config.n_positions}, the weights have {wpe[0]}")
    if problems:
        raise ModelLoadError(
            f"{directory}: config.json does not fit the weights: " + "; ".join(problems)
        )


def read_state(
    directory: Path, model: GPTBigCodeForCausalLM, files: list[Path] | None = None
) -> dict[str, torch.Tensor]:
    """The checkpoint's tensors (memory-mapped), every key and shape checked against
    `model` (built on the meta device). One error lists everything that does not fit."""
    expected = {k: v.shape for k, v in model.state_dict().items()}
    state: dict[str, torch.Tensor] = {}
    unexpected: list[str] = []
    for key, tensor in _iter_tensors(files or _weight_files(directory)):
        if key in IGNORED_KEYS or key.endswith(IGNORED_SUFFIXES):
            continue
        if ".q_attn." in key or ".kv_attn." in key:
            raise ModelLoadError(
                f"{directory} stores separate q_attn/kv_attn weights (the original custom-code "
                f"santacoder); use the converted {CONVERTED_SANTACODER} repository instead"
            )
        if key not in expected:
            unexpected.append(key)
            continue
        state[key] = tensor
    if model.config.tie_word_embeddings:  # lm_head is wte, whatever the file holds (as in HF)
        expected.pop("lm_head.weight", None)
        state.pop("lm_head.weight", None)
    problems = _misfits(expected, state, unexpected)
    if problems:
        raise ModelLoadError(f"{directory}: weights do not fit config.json: " + "; ".join(problems))
    return state


def _misfits(expected: dict, state: dict, unexpected: list[str]) -> list[str]:
    def some(names: list[str]) -> str:
        return ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")

    missing = sorted(set(expected) - set(state))
    wrong = [
        f"{k}: checkpoint {tuple(t.shape)} vs model {tuple(expected[k])}"
        for k, t in state.items()
        if tuple(t.shape) != tuple(expected[k])
    ]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)} tensors ({some(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensors ({some(unexpected)})")
    if wrong:
        problems.append(f"{len(wrong)} shape mismatches ({'; '.join(wrong[:3])})")
    return problems


def save_checkpoint(model: GPTBigCodeForCausalLM, directory: str | Path) -> None:
    """Write config.json and model.safetensors as HF does (tied lm_head left out)."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(directory / WEIGHTS_FILE)  # atomic: a reader never sees half a file
