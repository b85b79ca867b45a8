"""Checkpoints by name: short names for the GPTBigCode checkpoints users run, any
`org/name` repository id, and the Hugging Face cache they are downloaded into.

`resolve_model` turns a `--model` value into a directory without touching the network
(and without torch: the command line answers a wrong name at once);
only `download` (the user's `bigcode-ls download`) reaches the Hub, through
`huggingface_hub`: its cache, its progress bars, `HF_TOKEN` for gated repositories,
`HF_ENDPOINT` for a mirror. Only the files a GPTBigCode directory needs are fetched,
never a pickle.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

SHORT_NAMES = {
    "tiny_starcoder_py": "bigcode/tiny_starcoder_py",
    "santacoder": "bigcode/gpt_bigcode-santacoder",
    "starcoderbase-1b": "bigcode/starcoderbase-1b",
    "starcoderbase-3b": "bigcode/starcoderbase-3b",
    "starcoderbase-7b": "bigcode/starcoderbase-7b",
    "starcoderbase": "bigcode/starcoderbase",
    "starcoder": "bigcode/starcoder",
}
# What a model directory needs: config, weights (one file or shards and their index),
# the tokenizer. Never *.bin or *.pt: unpickling a file can run code.
FILES = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
MAX_CONFIG_BYTES = 1 << 20


class DownloadError(Exception):
    """A download that cannot be done or did not finish; the message says what to do."""


def repo_id_of(name: str) -> str | None:
    """The Hub repository a model name means: a short name, or `org/name` that is not an
    existing path. None: a path."""
    if name in SHORT_NAMES:
        return SHORT_NAMES[name]
    if REPO_ID.fullmatch(name) and not Path(name).expanduser().exists():
        return name
    return None


def download_command(name: str) -> str:
    return f"bigcode-ls download {name}"


# What the editors show while the bundled model serves (bigcode/status "advice").
DEMO_ADVICE = (
    "the bundled model is a small demonstration (right on about one line in ten of new "
    f"code); for real suggestions run `{download_command('tiny_starcoder_py')}` and set "
    "the model setting to tiny_starcoder_py"
)


def resolve_model(name: str | Path) -> Path:
    """The directory a `--model` value names: a path (a file inside a model directory
    means that directory), else a short name or repo id already in the Hugging Face
    cache. Never downloads; a name not yet downloaded raises with the command to run."""
    path = Path(name).expanduser()
    if path.is_file() and (path.parent / "config.json").is_file():
        return path.parent  # model.safetensors or config.json: its directory is meant
    repo = repo_id_of(str(name))
    if path.exists() or repo is None:
        return path
    snapshot = cached_snapshot(repo)
    if snapshot is None:
        raise FileNotFoundError(
            f"{name} is not a model directory and has not been downloaded; "
            f"run: {download_command(str(name))}"
        )
    return snapshot


def cached_snapshot(repo: str, revision: str | None = None) -> Path | None:
    """The cached snapshot of `repo` that holds a config, or None (no network)."""
    try:
        from huggingface_hub import snapshot_download

        found = snapshot_download(
            repo, revision=revision, allow_patterns=FILES, local_files_only=True
        )
    except Exception:  # not in the cache (huggingface_hub says so in several ways)
        return None
    snapshot = Path(found)
    return snapshot if (snapshot / "config.json").is_file() else None


def download(
    name: str,
    revision: str | None = None,
    directory: Path | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> Path:
    """Fetch a GPTBigCode checkpoint's files into the cache (or `directory`) and return
    the local directory. The repository's file list and config are checked first, so a
    repository that cannot work is refused before any weights are fetched."""
    repo = repo_id_of(name)
    if repo is None:
        raise DownloadError(
            f"{name!r} is neither a short name ({', '.join(SHORT_NAMES)}) nor an org/name "
            "repository id"
        )
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download

    try:
        info = HfApi().model_info(repo, revision=revision)
        _check_files(repo, {s.rfilename for s in info.siblings or ()})
        _check_config(repo, Path(hf_hub_download(repo, "config.json", revision=info.sha)))
        say(f"downloading {repo} at {info.sha[:12] if info.sha else revision or 'main'}")
        # by the name asked for, so that the cache maps it (refs/main) for `resolve_model`
        found = snapshot_download(
            repo, revision=revision, allow_patterns=FILES, local_dir=directory
        )
    except DownloadError:
        raise
    except Exception as exc:
        raise _explained(exc, repo, name) from None
    return Path(found)


def _check_files(repo: str, files: set[str]) -> None:
    if "config.json" not in files:
        raise DownloadError(f"{repo} has no config.json: it is not a transformers model")
    if not any(f.endswith(".safetensors") for f in files):
        pickles = sorted(f for f in files if f.endswith((".bin", ".pt")))
        what = f"only {pickles[0]}, a pickle checkpoint" if pickles else "no weights"
        raise DownloadError(
            f"{repo} has {what}; bigcode-ls loads safetensors only (unpickling can run "
            "arbitrary code). Look for a revision with model.safetensors (--revision), or "
            "convert it yourself with transformers' save_pretrained(safe_serialization=True)"
        )
    if "tokenizer.json" not in files:
        raise DownloadError(f"{repo} has no tokenizer.json, which bigcode-ls needs")


def _check_config(repo: str, config: Path) -> None:
    """A GPTBigCode (the architecture this server runs in process), else a refusal that
    names the remote backend, which serves any architecture."""
    try:
        if config.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError("larger than any real config")
        raw = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DownloadError(f"{repo}: config.json is not readable JSON ({exc})") from None
    kind = raw.get("model_type") if isinstance(raw, dict) else None
    if kind != "gpt_bigcode":
        raise DownloadError(
            f"{repo} is a {kind or 'model of unknown type'}, not a GPTBigCode "
            "(SantaCoder/StarCoder) checkpoint, so bigcode-ls cannot run it in process. Serve "
            "it with llama.cpp, vLLM or Ollama and use the remote backend "
            "(--backend openai --remote-url URL; README, 'Remote backend')"
        )


def _explained(exc: Exception, repo: str, name: str) -> Exception:
    """huggingface_hub's and the network's errors as one line a user can act on (anything
    else unchanged: a bug must show as one)."""
    from huggingface_hub import constants, errors

    if isinstance(exc, errors.GatedRepoError):
        return DownloadError(
            f"{repo} is gated: accept its licence at {constants.ENDPOINT}/{repo} with your "
            "account, then set HF_TOKEN to an access token (huggingface.co/settings/tokens) "
            "and run the command again"
        )
    if isinstance(exc, errors.RepositoryNotFoundError):
        return DownloadError(f"no repository {repo} (or it is private: set HF_TOKEN)")
    if isinstance(exc, errors.RevisionNotFoundError):
        return DownloadError(f"{repo} has no such revision")
    if isinstance(exc, OSError | errors.HfHubHTTPError) or "httpx" in type(exc).__module__:
        return DownloadError(
            f"the download of {repo} failed ({type(exc).__name__}: {exc}); run "
            f"{download_command(name)} again to resume: finished files are kept"
        )
    return exc
