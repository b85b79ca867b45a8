"""GPTBigCode (SantaCoder / StarCoder): GPT-2 with multi-query attention.

Module and parameter names follow HF transformers (`transformer.wte`, `h.N.attn.c_attn`,
`mlp.c_fc`, ...) so that HF state dicts load unchanged. The forward signature and
semantics are those of HF's GPTBigCodeForCausalLM before its move to Cache objects:
`past_key_values` holds one merged key/value tensor per layer, (B, S, 2*hd) for MQA and
(B, H, S, 2*hd) for MHA, and positions come from a left-padded attention_mask.

`past_key_values` may also be a preallocated `KVCache` (model/cache.py): the generation
engine's fast path, which writes keys and values in place instead of concatenating.

Shape letters: B batch, T new tokens, S keys (past + new), H query heads, K key/value
heads (1 for MQA), hd head size, D = H*hd.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .cache import KVCache
from .config import GPTBigCodeConfig

# --------------------------------------------------------------------------------------
# Outputs


@dataclass
class ModelOutput:
    """Fields of HF's output objects; `to_tuple` drops the None ones, as HF does."""

    def to_tuple(self) -> tuple:
        return tuple(v for v in (getattr(self, f.name) for f in fields(self)) if v is not None)

    def __getitem__(self, i: int) -> Any:
        return self.to_tuple()[i]


@dataclass
class BaseModelOutput(ModelOutput):
    last_hidden_state: torch.Tensor | None = None
    past_key_values: Any = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


@dataclass
class CausalLMOutput(ModelOutput):
    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    past_key_values: Any = None
    hidden_states: tuple[torch.Tensor, ...] | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


# --------------------------------------------------------------------------------------
# Building blocks


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's tanh approximation written out, as HF's NewGELUActivation computes it.
    return (
        0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    )


ACTIVATION_FNS = {
    "relu": F.relu,
    "silu": F.silu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "gelu_new": _gelu_new,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


@dataclass
class AttentionMask:
    """The mask of one forward pass, built once and shared by every layer.

    `mask` is boolean (B, 1, T, S), True where a query may attend; None when every query
    sees every key it is causally allowed to and `causal` says whether T > 1 needs the
    causal triangle (which SDPA and flash-attn then apply themselves).
    """

    mask: torch.Tensor | None
    causal: bool


def build_attention_mask(
    attention_mask: torch.Tensor | None, batch: int, new: int, past: int, device: torch.device
) -> AttentionMask:
    total = past + new
    if attention_mask is not None and bool(attention_mask.all()):
        attention_mask = None  # no padding: let the kernels use their causal fast path
    if attention_mask is None:
        if new == 1:
            return AttentionMask(None, causal=False)
        if past == 0:
            return AttentionMask(None, causal=True)
        # New tokens after a past: query i sees keys [0, past + i].
        causal = torch.ones(new, total, dtype=torch.bool, device=device).tril(diagonal=past)
        return AttentionMask(causal[None, None], causal=False)
    if attention_mask.shape != (batch, total):
        raise ValueError(
            f"attention_mask has shape {tuple(attention_mask.shape)}, expected ({batch}, {total}) "
            "covering past and new tokens"
        )
    causal = torch.ones(new, total, dtype=torch.bool, device=device).tril(diagonal=past)
    mask = causal[None, None] & attention_mask.bool()[:, None, None, :]  # (B, 1, T, S)
    # A query on a padding position may see no key at all; let it see everything so the
    # softmax stays finite. Its output is never used.
    mask = mask | ~mask.any(dim=-1, keepdim=True)
    return AttentionMask(mask, causal=False)


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except Exception:
        return False
    return True


def _check_flash(q: torch.Tensor, mask: AttentionMask) -> None:
    if not flash_attn_available():
        raise RuntimeError(
            "attn_implementation='flash_attention_2' needs the flash_attn package "
            "(pip install 'bigcode-ls[cuda]' on a CUDA machine); use 'sdpa' otherwise"
        )
    if q.device.type != "cuda" or q.dtype not in (torch.float16, torch.bfloat16):
        raise RuntimeError(
            "flash_attention_2 runs only on CUDA in float16/bfloat16, "
            f"got {q.device.type} {str(q.dtype).replace('torch.', '')}; use 'sdpa'"
        )
    if mask.mask is not None and not (mask.mask.shape[2] == 1 or mask.mask.all()):
        raise RuntimeError("flash_attention_2 here does not support padded batches; use 'sdpa'")


class GPTBigCodeAttention(nn.Module):
    def __init__(self, config: GPTBigCodeConfig, layer_idx: int):
        super().__init__()
        self.config = config
        self.layer_idx = layer_idx
        self.n_head = config.n_head
        self.head_dim = config.head_dim
        self.kv_heads = config.kv_heads
        self.embed_dim = config.n_embd
        self.multi_query = config.multi_query
        self.scale = self.head_dim**-0.5 if config.scale_attn_weights else 1.0
        # MQA: [q (D) | k (hd) | v (hd)]; MHA: per head [q | k | v] (HF's layout).
        self.c_attn = nn.Linear(self.embed_dim, self.embed_dim + 2 * self.kv_heads * self.head_dim)
        self.c_proj = nn.Linear(self.embed_dim, self.embed_dim)
        self.attn_dropout = config.attn_pdrop
        self.resid_dropout = nn.Dropout(config.resid_pdrop)

    def split_qkv(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, D) -> query (B, H, T, hd) and merged key/value in HF's past format."""
        B, T, _ = x.shape
        qkv = self.c_attn(x)
        if self.multi_query:
            q, kv = qkv.split((self.embed_dim, 2 * self.head_dim), dim=-1)  # kv: (B, T, 2*hd)
            q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        else:
            qkv = qkv.view(B, T, self.n_head, 3 * self.head_dim).transpose(1, 2)
            q, kv = qkv.split((self.head_dim, 2 * self.head_dim), dim=-1)  # kv: (B, H, T, 2*hd)
        return q, kv

    def forward(
        self,
        x: torch.Tensor,
        mask: AttentionMask,
        layer_past: torch.Tensor | None = None,
        cache: KVCache | None = None,
        head_mask: torch.Tensor | None = None,
        use_cache: bool = False,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        B, T, _ = x.shape
        q, kv = self.split_qkv(x)
        present = None
        if cache is not None:
            k, v = cache.write(self.layer_idx, kv)  # views of the cache up to the new length
        else:
            if layer_past is not None:
                kv = torch.cat((layer_past, kv), dim=-2)
            present = kv if use_cache else None
            k, v = kv.split((self.head_dim, self.head_dim), dim=-1)
        if self.multi_query:
            k, v = k.unsqueeze(1), v.unsqueeze(1)  # (B, 1, S, hd)

        impl = self.config.attn_implementation
        weights = None
        if impl == "eager" or output_attentions:
            y, weights = self._eager(q, k, v, mask, head_mask)
        elif impl == "sdpa":
            y = self._sdpa(q, k, v, mask, head_mask)
        else:
            y = self._flash(q, k, v, mask, head_mask)
        y = y.transpose(1, 2).reshape(B, T, self.embed_dim)
        y = self.resid_dropout(self.c_proj(y))
        return y, present, weights

    def _eager(self, q, k, v, mask: AttentionMask, head_mask):
        """The reference: HF's arithmetic, including the fp32 softmax un-scaling trick."""
        softmax_dtype = torch.float32 if self.config.attention_softmax_in_fp32 else q.dtype
        upcast = q.dtype != softmax_dtype
        # In half precision the scores are divided by (layer_idx + 1) before the matmul so
        # that deep layers do not overflow, then multiplied back in fp32.
        unscale = (
            self.layer_idx + 1 if upcast and self.config.scale_attention_softmax_in_fp32 else 1
        )
        scores = torch.matmul(q * (self.scale / unscale), k.transpose(-1, -2))  # (B, H, T, S)
        scores = scores.to(softmax_dtype) * unscale
        T, S = scores.shape[-2:]
        m = mask.mask
        if m is None and mask.causal:
            m = torch.ones(T, S, dtype=torch.bool, device=q.device).tril(diagonal=S - T)
        if m is not None:
            scores = scores.masked_fill(~m, torch.finfo(softmax_dtype).min)
        probs = torch.softmax(scores, dim=-1).to(q.dtype)
        probs = F.dropout(probs, p=self.attn_dropout, training=self.training)
        if head_mask is not None:
            probs = probs * head_mask
        return torch.matmul(probs, v), probs

    def _sdpa(self, q, k, v, mask: AttentionMask, head_mask):
        # One key/value head shared by all query heads: SDPA's grouped-query mode reads it
        # without materialising a copy per head.
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask.mask,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=mask.causal,
            scale=self.scale,
            enable_gqa=self.multi_query,
        )
        # A head mask scales attention probabilities; per head that equals scaling outputs.
        return y * head_mask if head_mask is not None else y

    def _flash(self, q, k, v, mask: AttentionMask, head_mask):
        _check_flash(q, mask)
        from flash_attn import flash_attn_func

        y = flash_attn_func(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            dropout_p=self.attn_dropout if self.training else 0.0,
            softmax_scale=self.scale,
            causal=q.shape[2] > 1,  # flash-attn aligns the triangle to the newest key
        ).transpose(1, 2)
        return y * head_mask if head_mask is not None else y


class GPTBigCodeMLP(nn.Module):
    def __init__(self, config: GPTBigCodeConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, config.inner_dim)
        self.c_proj = nn.Linear(config.inner_dim, config.n_embd)
        self.act = ACTIVATION_FNS[config.activation_function]
        self.dropout = nn.Dropout(config.resid_pdrop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class GPTBigCodeBlock(nn.Module):
    def __init__(self, config: GPTBigCodeConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.attn = GPTBigCodeAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.mlp = GPTBigCodeMLP(config)

    def forward(self, x: torch.Tensor, mask: AttentionMask, **attn_kwargs):
        a, present, weights = self.attn(self.ln_1(x), mask, **attn_kwargs)
        x = x + a
        x = x + self.mlp(self.ln_2(x))
        return x, present, weights


# --------------------------------------------------------------------------------------
# Models


class GPTBigCodePreTrainedModel(nn.Module):
    config: GPTBigCodeConfig

    def _init_weights(self, module: nn.Module) -> None:
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        if isinstance(module, (GPTBigCodeMLP, GPTBigCodeAttention)):
            # GPT-2: residual projections scaled by 1/sqrt(number of residual layers).
            nn.init.normal_(
                module.c_proj.weight, mean=0.0, std=std / math.sqrt(2 * self.config.n_layer)
            )

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        params = {id(p): p for p in self.parameters()}
        if exclude_embeddings:
            for emb in self.modules():
                if isinstance(emb, nn.Embedding):
                    params.pop(id(emb.weight), None)
        return sum(p.numel() for p in params.values())


class GPTBigCodeModel(GPTBigCodePreTrainedModel):
    def __init__(self, config: GPTBigCodeConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.wpe = nn.Embedding(config.n_positions, config.n_embd)
        self.drop = nn.Dropout(config.embd_pdrop)
        self.h = nn.ModuleList(GPTBigCodeBlock(config, i) for i in range(config.n_layer))
        self.ln_f = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon)
        self.apply(self._init_weights)

    def _head_masks(self, head_mask: torch.Tensor | None) -> list[torch.Tensor | None]:
        """HF's head_mask, (H,) or (n_layer, H), as one (1, H, 1, 1) factor per layer."""
        if head_mask is None:
            return [None] * self.config.n_layer
        if head_mask.dim() == 1:
            head_mask = head_mask.expand(self.config.n_layer, -1)
        if head_mask.shape != (self.config.n_layer, self.config.n_head):
            raise ValueError(
                f"head_mask must have shape ({self.config.n_head},) or "
                f"({self.config.n_layer}, {self.config.n_head}), got {tuple(head_mask.shape)}"
            )
        return [m.to(self.dtype).view(1, -1, 1, 1) for m in head_mask]

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        past_key_values: Sequence[torch.Tensor] | KVCache | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> BaseModelOutput | tuple:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        use_cache = self.config.use_cache if use_cache is None else use_cache
        return_dict = True if return_dict is None else return_dict
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)  # (B, T, D)
        B, T, _ = inputs_embeds.shape
        device = inputs_embeds.device

        cache = past_key_values if isinstance(past_key_values, KVCache) else None
        legacy_past = None if cache is not None else past_key_values
        if cache is not None:
            past = cache.length
            if past + T > cache.capacity:
                raise ValueError(f"KVCache holds {cache.capacity} tokens; {past} + {T} do not fit")
        elif legacy_past is not None:
            past = legacy_past[0].shape[-2]
        else:
            past = 0
        if past + T > self.config.n_positions:
            raise ValueError(
                f"sequence of {past + T} tokens exceeds the model's n_positions={self.config.n_positions}"
            )

        if position_ids is None:
            if attention_mask is not None:
                # Left padding: a row's first real token sits at position 0.
                position_ids = attention_mask.long().cumsum(-1) - 1
                position_ids = position_ids.masked_fill(attention_mask == 0, 1)[:, past:]
            else:
                position_ids = torch.arange(past, past + T, device=device).unsqueeze(0)
        mask = build_attention_mask(attention_mask, B, T, past, device)

        x = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids.view(-1, T))  # HF embeds them with wte
        x = self.drop(x)

        presents: list[torch.Tensor] | None = [] if use_cache and cache is None else None
        all_hidden: list[torch.Tensor] | None = [] if output_hidden_states else None
        all_attn: list[torch.Tensor] | None = [] if output_attentions else None
        for i, (block, hm) in enumerate(zip(self.h, self._head_masks(head_mask), strict=True)):
            if all_hidden is not None:
                all_hidden.append(x)
            x, present, weights = block(
                x,
                mask,
                layer_past=legacy_past[i] if legacy_past is not None else None,
                cache=cache,
                head_mask=hm,
                use_cache=use_cache,
                output_attentions=bool(output_attentions),
            )
            if presents is not None:
                presents.append(present)
            if all_attn is not None:
                all_attn.append(weights)
        if cache is not None:
            cache.advance(T)
        x = self.ln_f(x)
        if all_hidden is not None:
            all_hidden.append(x)

        out = BaseModelOutput(
            last_hidden_state=x,
            past_key_values=cache
            if cache is not None
            else (tuple(presents) if presents is not None else None),
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            attentions=tuple(all_attn) if all_attn is not None else None,
        )
        return out if return_dict else out.to_tuple()


class GPTBigCodeForCausalLM(GPTBigCodePreTrainedModel):
    def __init__(self, config: GPTBigCodeConfig):
        super().__init__()
        self.config = config
        self.transformer = GPTBigCodeModel(config)
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.transformer.wte.weight

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        past_key_values: Sequence[torch.Tensor] | KVCache | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        head_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
        logits_to_keep: int = 0,
    ) -> CausalLMOutput | tuple:
        """HF's forward. `logits_to_keep=n` computes logits for the last n positions only
        (0: all), which saves the vocabulary projection during prefill."""
        out = self.transformer(
            input_ids=input_ids,
            past_key_values=past_key_values,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            head_mask=head_mask,
            inputs_embeds=inputs_embeds,
            use_cache=use_cache,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        h = out.last_hidden_state
        logits = self.lm_head(h[:, -logits_to_keep:] if logits_to_keep else h)  # (B, T, V)
        loss = None
        if labels is not None:
            # Predict token t+1 from position t; -100 marks positions to ignore.
            shift_logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
            shift_labels = labels[:, 1:].reshape(-1).to(logits.device)
            loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
        result = CausalLMOutput(
            loss=loss,
            logits=logits,
            past_key_values=out.past_key_values,
            hidden_states=out.hidden_states,
            attentions=out.attentions,
        )
        return result if return_dict is None or return_dict else result.to_tuple()

    def tie_weights(self) -> None:
        if self.config.tie_word_embeddings and type(self.lm_head) is nn.Linear:
            self.lm_head.weight = self.transformer.wte.weight

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        dtype: torch.dtype | str | None = None,
        device: torch.device | str | None = None,
        attn_implementation: str | None = None,
        quantize: str | None = None,
    ) -> GPTBigCodeForCausalLM:
        from .loading import load_model

        return load_model(
            path,
            dtype=dtype,
            device=device,
            attn_implementation=attn_implementation,
            quantize=quantize,
        )

    def save_pretrained(self, directory: str | Path) -> None:
        from .loading import save_model

        save_model(self, directory)
