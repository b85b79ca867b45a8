"""The CPU inference kernels that replace PyTorch's defaults: oneDNN-packed linears and
the folded attention of a few queries over a cache. Each must compute what the default
computes (to float32 rounding) and give the same greedy tokens."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM
from model import layers as model_layers
from model.generate import generate, new_cache, prefill, verify
from model.packed import PackedLinear, onednn_problem, pack_linears, parameter_count
from tests.conftest import tiny_kwargs

needs_onednn = pytest.mark.skipif(onednn_problem() is not None, reason=str(onednn_problem()))


def tiny_model(seed: int = 0, **overrides) -> GPTBigCodeForCausalLM:
    torch.manual_seed(seed)
    config = GPTBigCodeConfig(**tiny_kwargs(n_positions=256, n_embd=64, **overrides))
    return GPTBigCodeForCausalLM(config).eval()


@needs_onednn
@pytest.mark.parametrize("rows", [1, 2, 9, 300])
def test_a_packed_linear_computes_what_nn_linear_computes(rows):
    torch.manual_seed(rows)
    layer = nn.Linear(64, 96)
    x = torch.randn(1, rows, 64)
    with torch.inference_mode():
        assert torch.allclose(PackedLinear(layer)(x), layer(x), rtol=1e-5, atol=1e-5)
    without_bias = nn.Linear(64, 96, bias=False)
    with torch.inference_mode():
        assert torch.allclose(PackedLinear(without_bias)(x), without_bias(x), atol=1e-5)


@needs_onednn
def test_a_packed_model_gives_the_same_logits_and_greedy_tokens():
    ref = tiny_model()
    packed = tiny_model()
    count = parameter_count(packed)
    assert pack_linears(packed) == 4 * packed.config.n_layer + 1  # 4 per block + LM head
    assert type(packed.lm_head) is PackedLinear
    assert packed.transformer.wte.weight.data_ptr() != 0  # the tied table stays for lookups
    assert parameter_count(packed) == count  # what was moved out of parameters still counts
    torch.manual_seed(1)
    for _ in range(5):
        ids = torch.randint(0, ref.config.vocab_size, (1, 40))
        with torch.inference_mode():
            a, b = ref(ids).logits, packed(ids).logits
        assert (a - b).abs().max() < 1e-4 * max(1.0, a.abs().max().item())
        prompt = ids[0].tolist()
        assert list(generate(packed, prompt, 12)) == list(generate(ref, prompt, 12))


def test_packing_refuses_what_it_cannot_run():
    with pytest.raises(ValueError, match="float32 weights on a CPU"):
        PackedLinear(nn.Linear(4, 4).to(torch.bfloat16))


def test_the_engine_packs_by_default_and_the_setting_turns_it_off(caplog, tmp_path):
    from lsp_server.backends.engine import Engine
    from tests.models import make_model_dir

    path = make_model_dir(tmp_path / "m")
    with caplog.at_level(logging.INFO, logger="bigcode_ls"):
        on = Engine.load(path, threads=1)
        off = Engine.load(path, threads=1, packed=False)
    problem = onednn_problem()
    assert (type(on.lm.lm_head) is PackedLinear) == (problem is None)
    assert type(off.lm.lm_head) is nn.Linear
    assert "packed linears:" in caplog.text
    assert on.description == off.description  # same parameter count either way
    ids = on.tokens.encode("def f(x):\n    return")
    assert list(on.generate(ids, 8).tokens) == list(off.generate(ids, 8).tokens)


def test_the_engine_keeps_default_kernels_where_onednn_cannot_run(monkeypatch, caplog, tmp_path):
    from lsp_server.backends import engine as engine_module
    from tests.models import make_model_dir

    monkeypatch.setattr(engine_module, "onednn_problem", lambda: "no oneDNN in this test")
    path = make_model_dir(tmp_path / "m")
    with caplog.at_level(logging.INFO, logger="bigcode_ls"):
        engine = engine_module.Engine.load(path, threads=1)
    assert type(engine.lm.lm_head) is nn.Linear
    assert "packed linears: off (no oneDNN in this test)" in caplog.text


# --------------------------------------------------------------------------------------
# Folded attention: a few new queries over a cache


@pytest.mark.parametrize("new", [2, 9, 16])
def test_folded_attention_matches_sdpa_for_a_few_tokens_after_a_cache(monkeypatch, new):
    lm = tiny_model(seed=new)
    torch.manual_seed(new)
    prompt = torch.randint(0, lm.config.vocab_size, (120,)).tolist()
    draft = torch.randint(0, lm.config.vocab_size, (new - 1,)).tolist()
    calls = {"folded": 0}
    folded = model_layers.GPTBigCodeAttention._folded

    def counting(self, *args):
        calls["folded"] += 1
        return folded(self, *args)

    monkeypatch.setattr(model_layers.GPTBigCodeAttention, "_folded", counting)
    rows = {}
    for name, rule in (("folded", model_layers.few_queries_on_cpu), ("sdpa", lambda *a: False)):
        monkeypatch.setattr(model_layers, "few_queries_on_cpu", rule)
        cache = new_cache(lm, 200)
        prefill(lm, cache, prompt)
        rows[name] = verify(lm, cache, 7, draft)
    assert calls["folded"] == lm.config.n_layer  # one pass, every layer folded
    assert torch.allclose(rows["folded"], rows["sdpa"], atol=1e-5)
    assert torch.equal(rows["folded"].argmax(-1), rows["sdpa"].argmax(-1))


def test_folded_attention_is_only_for_what_it_was_measured_on():
    rule = model_layers.few_queries_on_cpu
    mask = model_layers.build_attention_mask(None, 1, 9, 100, torch.device("cpu"))
    q = torch.zeros(1, 4, 9, 16)
    assert rule(q, mask, True, 0.0)
    assert not rule(q, mask, False, 0.0)  # multi-head models keep SDPA
    assert not rule(q, mask, True, 0.1)  # training with dropout
    assert not rule(q.to(torch.bfloat16), mask, True, 0.0)
    assert not rule(torch.zeros(1, 4, 40, 16), mask, True, 0.0)  # a long prompt: SDPA's blocks
    prefill_mask = model_layers.build_attention_mask(None, 1, 9, 0, torch.device("cpu"))
    assert not rule(q, prefill_mask, True, 0.0)  # no past: SDPA's own causal path
    padded = torch.ones(2, 109, dtype=torch.long)
    padded[0, :3] = 0
    batch_mask = model_layers.build_attention_mask(padded, 2, 9, 100, torch.device("cpu"))
    assert not rule(torch.zeros(2, 4, 9, 16), batch_mask, True, 0.0)
