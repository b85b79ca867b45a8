"""Our GPTBigCode against HF transformers' on random weights (fp32, CPU).

transformers 5.x dropped the legacy merged past format, head_mask and positions derived
from a left-padded mask; those behaviours are checked against HF through equivalent
inputs (explicit position_ids, c_proj columns scaled instead of a head mask) and against
our own full forward pass.
"""

from __future__ import annotations

import pytest
import torch

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM, KVCache
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours

TOL = 1e-5
ACTIVATIONS = ["gelu_pytorch_tanh", "gelu_new", "gelu", "relu", "silu", "tanh"]


def maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_matches_hf(multi_query, activation):
    hf, ours = hf_and_ours(
        multi_query=multi_query, **tiny_kwargs(activation_function=activation, n_inner=48)
    )
    ids = torch.randint(0, 97, (2, 11))
    labels = ids.clone()
    labels[0, :4] = -100
    with torch.no_grad():
        a = hf(ids, labels=labels, output_hidden_states=True, output_attentions=True)
        b = ours(ids, labels=labels, output_hidden_states=True, output_attentions=True)
    assert maxdiff(a.logits, b.logits) < TOL
    assert abs(a.loss.item() - b.loss.item()) < TOL
    assert len(a.hidden_states) == len(b.hidden_states) == 4
    for x, y in zip(a.hidden_states, b.hidden_states, strict=True):
        assert maxdiff(x, y) < TOL
    assert len(b.attentions) == 3
    for x, y in zip(a.attentions, b.attentions, strict=True):
        assert x.shape == y.shape == (2, 4, 11, 11)
        assert maxdiff(x, y) < TOL


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
def test_sdpa_matches_eager_and_hf(multi_query):
    hf, ours = hf_and_ours(attn="sdpa", multi_query=multi_query, **tiny_kwargs())
    eager = GPTBigCodeForCausalLM(
        GPTBigCodeConfig(multi_query=multi_query, **tiny_kwargs(attn_implementation="eager"))
    )
    eager.load_state_dict(ours.state_dict())
    eager.eval()
    ids = torch.randint(0, 97, (3, 17))
    mask = torch.ones_like(ids)
    mask[1, :5] = 0
    with torch.no_grad():
        assert maxdiff(ours(ids).logits, hf(ids).logits) < TOL
        assert maxdiff(ours(ids).logits, eager(ids).logits) < TOL
        assert (
            maxdiff(ours(ids, attention_mask=mask).logits, eager(ids, attention_mask=mask).logits)
            < TOL
        )


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_incremental_decoding_equals_full_pass(multi_query, attn):
    _, ours = hf_and_ours(multi_query=multi_query, **tiny_kwargs(attn_implementation=attn))
    ids = torch.randint(0, 97, (2, 20))
    with torch.no_grad():
        full = ours(ids).logits
        # Legacy merged past: a prefill of 12 tokens, then 3 tokens, then one at a time.
        out = ours(ids[:, :12], use_cache=True)
        past = out.past_key_values
        expected_shape = (2, 12, 16) if multi_query else (2, 4, 12, 16)
        assert past[0].shape == expected_shape  # (B, [H,] S, 2*hd)
        pieces = [out.logits]
        out = ours(ids[:, 12:15], past_key_values=past, use_cache=True)
        pieces.append(out.logits)
        past = out.past_key_values
        for t in range(15, 20):
            out = ours(ids[:, t : t + 1], past_key_values=past, use_cache=True)
            past = out.past_key_values
            pieces.append(out.logits)
        assert maxdiff(torch.cat(pieces, dim=1), full) < TOL
        # The preallocated cache gives the same.
        cache = KVCache(ours.config, capacity=32, batch=2)
        pieces = [
            ours(ids[:, :12], past_key_values=cache).logits,
            ours(ids[:, 12:15], past_key_values=cache).logits,
        ]
        pieces += [ours(ids[:, t : t + 1], past_key_values=cache).logits for t in range(15, 20)]
        assert cache.length == 20
        assert maxdiff(torch.cat(pieces, dim=1), full) < TOL


def test_hf_cache_decoding_matches_ours():
    hf, ours = hf_and_ours(**tiny_kwargs())
    ids = torch.randint(0, 97, (1, 9))
    with torch.no_grad():
        a = hf(ids[:, :6], use_cache=True)
        a2 = hf(ids[:, 6:], cache=a.cache, use_cache=True)
        b = ours(ids[:, :6], use_cache=True)
        b2 = ours(ids[:, 6:], past_key_values=b.past_key_values, use_cache=True)
    assert maxdiff(a2.logits, b2.logits) < TOL


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
def test_left_padding_equals_unpadded_rows(multi_query):
    hf, ours = hf_and_ours(multi_query=multi_query, **tiny_kwargs())
    rows = [torch.randint(1, 97, (n,)) for n in (10, 6, 3)]
    T = max(len(r) for r in rows)
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, T - len(r) :] = r
        mask[i, T - len(r) :] = 1
    with torch.no_grad():
        padded = ours(ids, attention_mask=mask).logits
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        reference = hf(ids, attention_mask=mask, position_ids=positions).logits
        for i, r in enumerate(rows):
            alone = ours(r[None]).logits[0]
            assert maxdiff(padded[i, T - len(r) :], alone) < TOL
            assert maxdiff(reference[i, T - len(r) :], alone) < TOL
        # Decoding one more token after the padded prefill, positions continue per row.
        out = ours(ids, attention_mask=mask, use_cache=True)
        nxt = torch.randint(1, 97, (len(rows), 1))
        step = ours(
            nxt,
            past_key_values=out.past_key_values,
            attention_mask=torch.cat([mask, torch.ones(len(rows), 1, dtype=torch.long)], 1),
        )
        for i, r in enumerate(rows):
            alone = ours(torch.cat([r, nxt[i]])[None]).logits[0, -1]
            assert maxdiff(step.logits[i, -1], alone) < TOL


@pytest.mark.parametrize("multi_query", [True, False], ids=["mqa", "mha"])
@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_head_mask_matches_scaled_output_projection(multi_query, attn):
    # A head mask scales each head's attention output before c_proj, which equals scaling
    # c_proj's input columns for that head: build that model in HF and compare.
    hf, ours = hf_and_ours(multi_query=multi_query, **tiny_kwargs(attn_implementation=attn))
    head_mask = torch.ones(3, 4)
    head_mask[0, 1] = 0.0
    head_mask[2, 3] = 0.5
    with torch.no_grad():
        for layer in range(3):
            cols = head_mask[layer].repeat_interleave(8)  # hd = 32 / 4
            hf.transformer.h[layer].attn.c_proj.weight.mul_(cols)
        ids = torch.randint(0, 97, (2, 9))
        a = hf(ids).logits
        b = ours(ids, head_mask=head_mask).logits
        assert maxdiff(a, b) < TOL
        assert maxdiff(ours(ids).logits, b) > 1e-3  # the mask did something
        if attn == "eager":
            attn_maps = ours(ids, head_mask=head_mask, output_attentions=True).attentions
            assert torch.all(attn_maps[0][:, 1] == 0)


def test_inputs_embeds_and_token_type_ids():
    hf, ours = hf_and_ours(**tiny_kwargs())
    ids = torch.randint(0, 97, (2, 8))
    types = torch.randint(0, 3, (2, 8))
    with torch.no_grad():
        embeds = ours.transformer.wte(ids)
        by_ids = ours(ids).logits
        assert maxdiff(ours(inputs_embeds=embeds).logits, by_ids) < TOL
        assert maxdiff(hf(inputs_embeds=embeds).logits, by_ids) < TOL
        a = hf(ids, token_type_ids=types).logits
        b = ours(ids, token_type_ids=types).logits
        assert maxdiff(a, b) < TOL and maxdiff(b, by_ids) > 1e-4
    with pytest.raises(ValueError, match="exactly one"):
        ours(ids, inputs_embeds=embeds)


def test_return_dict_false_gives_tuple():
    _, ours = hf_and_ours(**tiny_kwargs())
    ids = torch.randint(0, 97, (1, 5))
    with torch.no_grad():
        out = ours(ids, labels=ids, return_dict=False)
        ref = ours(ids, labels=ids)
    assert isinstance(out, tuple)
    loss, logits, past = out
    assert torch.equal(loss, ref.loss) and torch.equal(logits, ref.logits) and len(past) == 3


def test_lm_head_is_tied_and_init_follows_hf():
    torch.manual_seed(0)
    cfg = GPTBigCodeConfig(
        **tiny_kwargs(n_layer=8, n_embd=256, n_head=4, vocab_size=2000, initializer_range=0.02)
    )
    m = GPTBigCodeForCausalLM(cfg)
    assert m.lm_head.weight is m.transformer.wte.weight
    std_fc = m.transformer.h[0].mlp.c_fc.weight.std().item()
    std_proj = m.transformer.h[0].mlp.c_proj.weight.std().item()
    assert abs(std_fc - 0.02) < 0.002
    assert abs(std_proj - 0.02 / 4.0) < 0.0005  # 1/sqrt(2 * 8 layers)
    assert torch.all(m.transformer.h[0].attn.c_attn.bias == 0)


def test_bf16_close_to_fp32():
    _, ours = hf_and_ours(**tiny_kwargs())
    ids = torch.randint(0, 97, (2, 16))
    half = GPTBigCodeForCausalLM(ours.config).eval()
    half.load_state_dict(ours.state_dict())
    half = half.to(torch.bfloat16)
    with torch.no_grad():
        ref = ours(ids).logits
        for impl in ("eager", "sdpa"):
            half.config.attn_implementation = impl
            got = half(ids).logits.float()
            # bf16 keeps 8 bits of mantissa: logits of size ~1 agree to a few 1e-2.
            assert maxdiff(got, ref) < 5e-2, impl
            assert (got.argmax(-1) == ref.argmax(-1)).float().mean() > 0.9


def test_fp32_softmax_unscaling_in_half_precision():
    # With scale_attention_softmax_in_fp32 the scores are divided by (layer + 1) in bf16
    # and multiplied back in fp32: same maths, so results stay close to fp32.
    _, ours = hf_and_ours(**tiny_kwargs(attn_implementation="eager"))
    ids = torch.randint(0, 97, (1, 12))
    ref = ours(ids).logits
    for flag in (True, False):
        cfg = GPTBigCodeConfig(
            **tiny_kwargs(attn_implementation="eager", scale_attention_softmax_in_fp32=flag)
        )
        half = GPTBigCodeForCausalLM(cfg).eval()
        half.load_state_dict(ours.state_dict())
        with torch.no_grad():
            assert maxdiff(half.to(torch.bfloat16)(ids).logits.float(), ref) < 5e-2


def test_flash_attention_unavailable_is_a_clear_error():
    ours = GPTBigCodeForCausalLM(
        GPTBigCodeConfig(**tiny_kwargs(attn_implementation="flash_attention_2"))
    )
    with pytest.raises(RuntimeError, match="flash_attn|CUDA"):
        ours(torch.randint(0, 97, (1, 4)))


def test_position_limit_is_enforced():
    _, ours = hf_and_ours(**tiny_kwargs())
    with pytest.raises(ValueError, match="n_positions"):
        ours(torch.zeros(1, 65, dtype=torch.long))
