"""Loading HF checkpoint directories, and one clear error for each kind of bad one."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import save_file

from model import GPTBigCodeConfig, GPTBigCodeForCausalLM, ModelLoadError, load_tokenizer
from tests.conftest import tiny_kwargs
from tests.hf_reference import hf_and_ours


@pytest.fixture
def hf_dir(tmp_path):
    hf, _ = hf_and_ours(**tiny_kwargs())
    hf.save_pretrained(tmp_path / "single")
    return hf, tmp_path / "single"


def test_hf_save_pretrained_loads_and_matches(hf_dir):
    hf, path = hf_dir
    saved = json.loads((path / "config.json").read_text())
    assert saved["model_type"] == "gpt_bigcode"
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert "lm_head.weight" not in f.keys()  # HF leaves the tied head out
    ours = GPTBigCodeForCausalLM.from_pretrained(path)
    assert ours.lm_head.weight is ours.transformer.wte.weight
    ids = torch.randint(0, 97, (2, 10))
    with torch.no_grad():
        assert (ours(ids).logits - hf(ids).logits).abs().max() < 1e-5


def test_sharded_checkpoint_loads(tmp_path):
    hf, _ = hf_and_ours(**tiny_kwargs())
    hf.save_pretrained(tmp_path, max_shard_size="20KB")
    assert (tmp_path / "model.safetensors.index.json").is_file()
    assert len(list(tmp_path.glob("model-*.safetensors"))) > 1
    ours = GPTBigCodeForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, 97, (1, 12))
    with torch.no_grad():
        assert (ours(ids).logits - hf(ids).logits).abs().max() < 1e-5


def test_dtype_device_and_attn_overrides(hf_dir):
    _, path = hf_dir
    m = GPTBigCodeForCausalLM.from_pretrained(
        path, dtype="bfloat16", device="cpu", attn_implementation="eager"
    )
    assert m.dtype == torch.bfloat16 and m.config.attn_implementation == "eager"
    assert not m.training


def test_our_save_round_trips_through_hf(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(1)
    ours = GPTBigCodeForCausalLM(GPTBigCodeConfig(**tiny_kwargs())).eval()
    ours.save_pretrained(tmp_path)
    hf = transformers.GPTBigCodeForCausalLM.from_pretrained(tmp_path).eval()
    again = GPTBigCodeForCausalLM.from_pretrained(tmp_path)
    ids = torch.randint(0, 97, (1, 9))
    with torch.no_grad():
        assert (hf(ids).logits - ours(ids).logits).abs().max() < 1e-5
        assert torch.equal(again(ids).logits, ours(ids).logits)


def test_config_fields_aliases_and_round_trip(tmp_path):
    c = GPTBigCodeConfig()
    assert (c.vocab_size, c.n_positions, c.n_embd, c.n_layer, c.n_head) == (
        50257,
        1024,
        768,
        12,
        12,
    )
    assert (
        c.n_inner is None and c.inner_dim == 3072 and c.activation_function == "gelu_pytorch_tanh"
    )
    assert (c.resid_pdrop, c.embd_pdrop, c.attn_pdrop, c.layer_norm_epsilon) == (
        0.1,
        0.1,
        0.1,
        1e-5,
    )
    assert c.bos_token_id == c.eos_token_id == 50256 and c.multi_query and c.scale_attn_weights
    assert c.attention_softmax_in_fp32 and c.scale_attention_softmax_in_fp32 and c.use_cache
    c = GPTBigCodeConfig(
        hidden_size=64,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=32,
        torch_dtype="float32",
    )
    assert (c.n_embd, c.n_head, c.n_layer, c.n_positions) == (64, 4, 2, 32)
    assert c.hidden_size == 64 and c.num_attention_heads == 4
    c.save_pretrained(tmp_path)
    again = GPTBigCodeConfig.from_pretrained(tmp_path)
    assert again.to_dict() == c.to_dict() and again.extra["torch_dtype"] == "float32"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_embd=30, n_head=4), "divisible"),
        (dict(activation_function="swish2"), "activation_function"),
        (dict(n_layer=0), "n_layer"),
        (dict(vocab_size=-1), "vocab_size"),
        (dict(attn_implementation="xformers"), "attn_implementation"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GPTBigCodeConfig(**kwargs)


# --- bad directories ------------------------------------------------------------------


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def test_missing_and_non_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        GPTBigCodeForCausalLM.from_pretrained(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelLoadError, match="not a directory"):
        GPTBigCodeForCausalLM.from_pretrained(tmp_path / "file")
    with pytest.raises(ModelLoadError, match="no config.json"):
        GPTBigCodeForCausalLM.from_pretrained(tmp_path)


def test_corrupt_config_json(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "bad")
    (path / "config.json").write_text('{"n_embd": 32,')
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        GPTBigCodeForCausalLM.from_pretrained(path)
    (path / "config.json").write_text('{"model_type": "gpt_bigcode", "n_embd": 30, "n_head": 4}')
    with pytest.raises(ModelLoadError, match="divisible"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_oversized_config_is_refused(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "big")
    (path / "config.json").write_text('{"x": "' + "a" * (2 << 20) + '"}')
    with pytest.raises(ModelLoadError, match="bytes"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_truncated_safetensors(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "trunc")
    data = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        GPTBigCodeForCausalLM.from_pretrained(path)
    (path / "model.safetensors").write_bytes(b"\x00garbage")
    with pytest.raises(ModelLoadError, match="not a readable safetensors"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_shape_mismatch_names_the_tensor(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "shape")
    cfg = json.loads((path / "config.json").read_text())
    cfg["n_inner"] = 64  # the checkpoint has 4*32 = 128
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelLoadError, match=r"shape mismatches .*mlp\.c_fc"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_missing_and_unexpected_tensors(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "keys")
    from safetensors.torch import load_file

    state = load_file(str(path / "model.safetensors"))
    del state["transformer.ln_f.weight"]
    state["transformer.extra.weight"] = torch.zeros(2)
    state["transformer.h.0.attn.masked_bias"] = torch.zeros(1)  # ignored, as HF does
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(
        ModelLoadError, match=r"missing 1 tensors \(transformer\.ln_f\.weight\).*unexpected"
    ):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_pickle_checkpoint_is_refused_without_unpickling(hf_dir, tmp_path):
    path = tmp_path / "pickle"
    path.mkdir()
    shutil.copy(hf_dir[1] / "config.json", path)
    # Not even a valid pickle: the loader must refuse by name, never open it.
    (path / "pytorch_model.bin").write_bytes(b"would run code if unpickled")
    with pytest.raises(ModelLoadError, match="pickle.*safetensors"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_original_santacoder_custom_code_is_explained(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "model_type": "gpt2",
                "architectures": ["GPT2LMHeadCustomModel"],
                "auto_map": {"AutoModelForCausalLM": "modeling_gpt2_mq.GPT2LMHeadCustomModel"},
            }
        )
    )
    with pytest.raises(ModelLoadError, match="gpt_bigcode-santacoder"):
        GPTBigCodeForCausalLM.from_pretrained(tmp_path)


def test_q_attn_weights_are_explained(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "qattn")
    from safetensors.torch import load_file

    state = load_file(str(path / "model.safetensors"))
    state["transformer.h.0.attn.q_attn.weight"] = torch.zeros(32, 32)
    save_file(state, str(path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="q_attn/kv_attn.*gpt_bigcode-santacoder"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_shard_outside_directory_is_refused(hf_dir, tmp_path):
    path = _copy(hf_dir[1], tmp_path / "escape")
    (path / "model.safetensors").unlink()
    (path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "../x.safetensors"}})
    )
    with pytest.raises(ModelLoadError, match="shard name"):
        GPTBigCodeForCausalLM.from_pretrained(path)


def test_bad_dtype_and_cuda_requests(hf_dir):
    with pytest.raises(ModelLoadError, match="unknown dtype"):
        GPTBigCodeForCausalLM.from_pretrained(hf_dir[1], dtype="float8")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA"):
            GPTBigCodeForCausalLM.from_pretrained(hf_dir[1], device="cuda")
        with pytest.raises(ModelLoadError, match="flash"):
            GPTBigCodeForCausalLM.from_pretrained(
                hf_dir[1], attn_implementation="flash_attention_2"
            )


def test_load_tokenizer_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="no tokenizer.json"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_tokenizer(tmp_path)
    (tmp_path / "tokenizer.json").write_text('{"model": 3}')
    with pytest.raises(ModelLoadError, match="not a valid tokenizers file"):
        load_tokenizer(tmp_path)
