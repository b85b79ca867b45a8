"""bigcode-ls: a language server for local inline code completion with GPTBigCode models."""

__version__ = "0.1.0"
