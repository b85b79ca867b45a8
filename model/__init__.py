"""GPTBigCode in PyTorch: token ids in, token ids out. Knows nothing of documents or LSP."""

from .cache import KVCache
from .config import GPTBigCodeConfig
from .errors import ModelLoadError
from .loading import set_threads
from .modeling import GPTBigCodeForCausalLM, GPTBigCodeModel
from .tokenizer import load_tokenizer

__all__ = [
    "GPTBigCodeConfig",
    "GPTBigCodeForCausalLM",
    "GPTBigCodeModel",
    "KVCache",
    "ModelLoadError",
    "load_tokenizer",
    "set_threads",
]
