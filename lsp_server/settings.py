"""User settings: the one definition behind the LSP section `bigcode`, the command-line
options, the README table and the VS Code extension's configuration.

Each field of `Settings` carries its documentation, allowed choices or numeric bounds,
and whether changing it reloads the model. Its other views (the README table, the VS
Code extension's configuration) are written from it by `settings_views.py`; tests hold
them, and the command line, to this definition.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SECTION = "bigcode"


def setting(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    bounds: tuple[float, float] | None = None,
    reload: bool = False,
) -> Any:
    meta = {"doc": doc, "choices": choices, "bounds": bounds, "reload": reload}
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    enable: bool = setting(True, "Offer completions at all.")
    model: str | None = setting(
        None, "Model directory (HF GPTBigCode layout); empty: the bundled model.", reload=True
    )
    device: str = setting(
        "auto", "Where the model runs.", choices=("auto", "cpu", "cuda"), reload=True
    )
    dtype: str = setting(
        "auto",
        "Weights' precision (auto: float32 on CPU, bfloat16 on CUDA).",
        choices=("auto", "float32", "bfloat16", "float16"),
        reload=True,
    )
    max_new_tokens: int = setting(64, "Most tokens generated per completion.", bounds=(1, 1024))
    temperature: float = setting(
        0.0, "0 is greedy (deterministic); above 0 samples with topP.", bounds=(0.0, 5.0)
    )
    top_p: float = setting(
        0.95, "Nucleus sampling threshold when temperature > 0.", bounds=(0.0, 1.0)
    )
    context_tokens: int = setting(
        1536, "Prompt budget in tokens (capped by the model's context).", bounds=(64, 1 << 20)
    )
    multiline: str = setting(
        "auto", "How many lines a suggestion may span.", choices=("auto", "single", "multi")
    )
    max_lines: int = setting(16, "Most lines in a multi-line suggestion.", bounds=(1, 200))
    fim_order: str = setting(
        "spm", "Prompt layout: spm (cache-friendly) or psm.", choices=("spm", "psm")
    )
    token_healing: bool = setting(True, "Back the prompt up to a token boundary at the cursor.")
    cache_mib: float = setting(
        512.0,
        "Memory for per-document KV caches in MiB (least recently used evicted).",
        bounds=(0, 1 << 20),
    )
    document_cache: bool = setting(
        True, "Keep a KV cache per document (off: every request starts cold)."
    )
    deadline_ms: int = setting(4000, "Stop generating after this long.", bounds=(50, 600_000))
    max_document_mib: float = setting(
        32.0,
        "Larger documents stay in sync but get no completions.",
        bounds=(0.001, 1024),
    )
    threads: int = setting(
        0,
        "CPU threads for the model (0: automatic, half the usable CPUs and at least one, "
        "which stays fast when the machine is busy; more than the CPUs is clamped).",
        bounds=(0, 256),
        reload=True,
    )
    drop_echoes: bool = setting(
        True,
        "Drop a suggestion that repeats the line below or above the cursor or the enclosing "
        "def/class header.",
    )
    line_candidates: bool = setting(
        True,
        "Weigh the lines that followed the line above the cursor (or preceded the line below "
        "it) elsewhere in the file or a repository snippet against the model's own "
        "single-line suggestion, and show the one the model finds likelier (local backend "
        "only).",
    )
    line_search: int = setting(
        4,
        "At a line's start, after `return `-like keywords or after `name = `, search this many "
        "other lines beside the model's greedy one when it is unsure, and show the one it "
        "finds likeliest as a whole (0: off; local only).",
        bounds=(0, 16),
    )
    static_analysis: bool = setting(
        True,
        "Python: while the model writes an attribute (`os.path.jo`) or a name imported "
        "from a module (`from os.path import jo`), allow only the names Jedi finds there "
        "(at most 50 ms a request; llama.cpp: at the cursor's attribute or import).",
    )
    candidates: int = setting(
        3,
        "Most single-line suggestions offered at once, best first: the lines weighed (the "
        "model's, the searched ones, the document's); editors cycle through them.",
        bounds=(1, 8),
    )
    min_confidence: float = setting(
        0.4,
        "Hide a suggestion of the model's own when the model was less sure of its text than "
        "this (0.4 hides up to a tenth, nearly all wrong; 0 shows all; a remote server that "
        "reports no probabilities is not gated; docs/benchmarks.md §8). Lines of the document show.",
        bounds=(0.0, 1.0),
    )
    repo_context: bool = setting(
        True,
        "Put snippets of other workspace files (similar code, definitions of names used at "
        "the cursor) ahead of the prompt. Reads only the workspace folders and open files.",
    )
    repo_context_share: float = setting(
        0.3, "Share of the prompt budget for repository snippets.", bounds=(0.0, 0.8)
    )
    index_max_files: int = setting(
        5000, "Most workspace files indexed for repository context.", bounds=(0, 1_000_000)
    )
    index_max_mib: float = setting(
        64.0, "Most MiB of source text indexed for repository context.", bounds=(0, 65536)
    )
    file_ngrams: float = setting(
        0.25,
        "Mix this share of the file's own n-grams (what followed the last 2-4 tokens elsewhere "
        "in the prompt) into the model's choice of each token: small models copy from the "
        "file worse than they could (0: off; local backend; docs/benchmarks.md).",
        bounds=(0.0, 1.0),
    )
    prompt_lookup: bool = setting(
        True,
        "Draft tokens from text that repeats earlier in the prompt or in the document's last "
        "suggestion and check them in one pass (greedy only; the same suggestions, faster "
        "when code repeats or a suggestion is typed out).",
    )
    precompute: bool = setting(
        True,
        "While the model is idle, compute the suggestion that follows accepting the one "
        "shown, and a prompt window's next position, ahead of need (local backend only).",
    )
    compute_on_edit: bool = setting(
        True,
        "With precompute: start the suggestion at the cursor as soon as an edit arrives, "
        "so that the client's debounced request finds it ready (or waits for it instead of "
        "starting again); costs CPU while typing (each newer edit stops the older work).",
    )
    quantize: str = setting(
        "auto",
        "int8: weight-only int8 linear layers, faster CPU decoding (see docs/benchmarks.md); "
        "auto: int8 for float32 models of 100M parameters or more on a CPU, else none.",
        choices=("auto", "none", "int8"),
        reload=True,
    )
    wide_passes: bool = setting(
        True,
        "int8 weights on a CPU that multiplies bf16 natively (AVX-512 BF16, AMX): also keep "
        "bf16 copies for prompts and other passes of many tokens, 4x faster prompts at "
        "164M parameters here, 2 more bytes per weight (only if that fits in half the free "
        "memory; docs/benchmarks.md, 'Wide passes').",
        reload=True,
    )
    packed_linears: bool = setting(
        True,
        "CPU, float32 weights: run the linear layers on oneDNN's packed weights, 1.3-2.5x "
        "faster than PyTorch's default kernels here (docs/benchmarks.md); off: the default.",
        reload=True,
    )

    stats_file: bool = setting(
        False,
        "Also keep the acceptance counts (shown, taken, kept after 30 s, per language) in "
        "~/.local/state/bigcode-ls/stats.json, for `bigcode-ls stats`. Nothing leaves "
        "the machine either way.",
    )
    back_off: bool = setting(
        True,
        "In a language where suggestions are rarely taken (under 5 % of 30 or more), ask "
        "for single lines only and wait 300 ms longer before asking; logged.",
    )
    backend: str = setting(
        "local",
        "Where suggestions come from: local (the in-process model), openai (a server's "
        "OpenAI-compatible /v1/completions: vLLM, TGI, llama.cpp, Ollama) or llamacpp "
        "(llama.cpp's native /infill). Prompts and post-processing stay local.",
        choices=("local", "openai", "llamacpp"),
        reload=True,
    )
    remote_url: str = setting(
        "http://127.0.0.1:8080",
        "Base URL of the remote server (with /v1 or not; https is verified).",
        reload=True,
    )
    remote_model: str = setting(
        "",
        "Model name sent to the remote server; it also picks the FIM template.",
        reload=True,
    )
    remote_api_key_env: str = setting(
        "",
        "Name of the environment variable that holds the remote server's API key (the key "
        "itself never goes in settings, logs or status).",
        reload=True,
    )
    remote_timeout_ms: int = setting(
        5000,
        "Give up on a remote server that does not connect or send for this long.",
        bounds=(100, 600_000),
        reload=True,
    )
    remote_tls_verify: bool = setting(
        True, "Verify the remote server's TLS certificate.", reload=True
    )
    remote_extra: str = setting(
        "",
        'Extra JSON fields for every remote request, e.g. {"cache_prompt": true}.',
        reload=True,
    )
    fim_template: str = setting(
        "auto",
        "FIM template for a remote model (auto: from the tokenizer, else the model name, "
        "else starcoder).",
        choices=("auto", "starcoder", "santacoder", "codellama", "deepseek", "qwen", "codestral"),
        reload=True,
    )
    tokenizer: str = setting(
        "",
        "tokenizer.json (or a model directory) that counts prompt tokens for a remote "
        "model and lets a llama.cpp server heal them; empty: the model setting's "
        "directory if given, else about 3 characters a token.",
        reload=True,
    )
    next_edit_model: str = setting(
        "none",
        "Next edits from a model trained for them, asked through the remote server when "
        "the built-in predictors find nothing: zeta (the prompt format of Zed's Zeta), or "
        "none (the built-in predictors only).",
        choices=("none", "zeta"),
    )

    @classmethod
    def docs(cls) -> dict[str, str]:
        return {f.name: f.metadata["doc"] for f in dataclasses.fields(cls)}

    def updated(
        self, values: dict[str, Any] | None, spell: Callable[[str], str] | None = None
    ) -> tuple[Settings, list[str]]:
        """A copy with `values` applied; returns it with the list of problems (unknown keys
        or values of the wrong type or out of bounds are ignored, each on its own).
        `spell(name)` names a setting in the problems (default: as the client sent it)."""
        if not values:
            return self, []
        section = values.get(SECTION)
        if isinstance(section, dict) or section == []:  # Lua encodes an empty table as []
            values = section or {}
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, Any] = {}
        problems: list[str] = []
        for raw_key, value in values.items():
            key = snake(str(raw_key))
            shown = spell(key) if spell else repr(raw_key)
            if key not in fields:
                problems.append(f"unknown setting {shown} ignored")
                continue
            checked = _coerce(fields[key], value, getattr(self, key))
            if checked is _INVALID:
                expected = _expected(fields[key])
                kept = "" if spell else f"; kept {getattr(self, key)!r}"
                problems.append(f"{shown}: invalid value {value!r} (expected {expected}){kept}")
                continue
            changes[key] = checked
        return dataclasses.replace(self, **changes), problems


RELOAD_KEYS = tuple(f.name for f in dataclasses.fields(Settings) if f.metadata["reload"])
_INVALID = object()


def snake(key: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in key)


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w.title() for w in rest)


def _coerce(f: dataclasses.Field, value: Any, current: Any) -> Any:
    if f.name == "model":
        return (value or None) if isinstance(value, str) or value is None else _INVALID
    if f.name == "remote_extra" and isinstance(value, dict):  # an object in LSP settings
        return json.dumps(value)
    if isinstance(current, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(current, int | float):
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            return _INVALID
        if isinstance(current, int):
            if value != int(value):
                return _INVALID
            value = int(value)
        else:
            value = float(value)
    elif isinstance(current, str):
        choices = f.metadata["choices"]
        if not isinstance(value, str) or (choices and value not in choices):
            return _INVALID
    bounds = f.metadata["bounds"]
    if bounds and not bounds[0] <= value <= bounds[1]:
        return _INVALID
    return value


def _expected(f: dataclasses.Field) -> str:
    """What a setting takes, in words, for error messages."""
    kind = {bool: "true or false", int: "an integer", float: "a number"}.get(type(f.default))
    if f.metadata["choices"]:
        return "one of " + ", ".join(f.metadata["choices"])
    bounds = f.metadata["bounds"]
    if bounds:
        return f"{kind} from {shown(bounds[0])} to {shown(bounds[1])}"
    return kind or "a string"


def shown(value: Any) -> str:
    if value is None:
        return "bundled"
    if value == "":
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
