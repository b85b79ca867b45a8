"""Shared fixtures: tiny random models (no weights to download)."""

from __future__ import annotations

import os

import pytest
import torch

# Tests must not reach any network or model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(min(2, os.cpu_count() or 1))

TINY = dict(
    vocab_size=97,
    n_positions=64,
    n_embd=32,
    n_layer=3,
    n_head=4,
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    attn_pdrop=0.0,
    bos_token_id=0,
    eos_token_id=0,
)


def tiny_kwargs(**overrides) -> dict:
    kw = dict(TINY)
    kw.update(overrides)
    return kw


@pytest.fixture
def tiny_lm():
    from model import GPTBigCodeConfig, GPTBigCodeForCausalLM

    torch.manual_seed(0)
    return GPTBigCodeForCausalLM(GPTBigCodeConfig(**tiny_kwargs())).eval()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on (bound and released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
