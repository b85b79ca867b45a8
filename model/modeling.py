"""GPTBigCode (SantaCoder / StarCoder): GPT-2 with multi-query attention.

Module and parameter names follow HF transformers (`transformer.wte`, `h.N.attn.c_attn`,
`mlp.c_fc`, ...) so that HF state dicts load unchanged. The forward signature and
semantics are those of HF's GPTBigCodeForCausalLM before its move to Cache objects:
`past_key_values` holds one merged key/value tensor per layer, (B, S, 2*hd) for MQA and
(B, H, S, 2*hd) for MHA, and positions come from a left-padded attention_mask.

`past_key_values` may also be a preallocated `KVCache` (model/cache.py), which the
generation engine uses: keys and values are written in place instead of concatenated.
A 4-D boolean `attention_mask` (B, 1, new, past + new), with explicit `position_ids`, is
taken as the mask itself: the engine scores several continuations in one pass with it.
`GPTBigCodeForCausalLM.decode_step` is the engine's one-token path; it runs the same
blocks (model/layers.py) as `forward`, without building masks, positions or outputs.

Shape letters: B batch, T new tokens, S keys (past + new), H query heads, hd head size,
D = H*hd.
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

from .cache import KVCache, MergedPast
from .config import GPTBigCodeConfig
from .errors import Interrupted
from .layers import (
    NO_MASK,
    AttentionMask,
    GPTBigCodeAttention,
    GPTBigCodeBlock,
    GPTBigCodeMLP,
    KVStore,
    build_attention_mask,
    layer_norm,
    linear,
)
from .loading import Checkpoint, save_checkpoint
from .quantize import quantize_int8

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

    def run_blocks(
        self,
        x: torch.Tensor,
        store: KVStore,
        mask: AttentionMask,
        head_masks: Sequence[torch.Tensor | None] | None = None,
        hidden: list[torch.Tensor] | None = None,
        attentions: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Embedded input (B, T, D) through every block and ln_f: the forward core.
        `hidden` and `attentions`, when given, collect HF's per-layer outputs. A KVCache
        made `interruptible` is asked before each block whether to go on."""
        should_stop = getattr(store, "should_stop", None)
        for i, block in enumerate(self.h):
            if should_stop is not None and should_stop():
                raise Interrupted(f"stopped before block {i}")
            if hidden is not None:
                hidden.append(x)
            head_mask = head_masks[i] if head_masks is not None else None
            x, weights = block(x, store, mask, head_mask, attentions is not None)
            if attentions is not None:
                attentions.append(weights)
        return layer_norm(self.ln_f, x)

    def _head_masks(self, head_mask: torch.Tensor | None) -> list[torch.Tensor] | None:
        """HF's head_mask, (H,) or (n_layer, H), as one (1, H, 1, 1) factor per layer."""
        if head_mask is None:
            return None
        if head_mask.dim() == 1:
            head_mask = head_mask.expand(self.config.n_layer, -1)
        if head_mask.shape != (self.config.n_layer, self.config.n_head):
            raise ValueError(
                f"head_mask must have shape ({self.config.n_head},) or "
                f"({self.config.n_layer}, {self.config.n_head}), got {tuple(head_mask.shape)}"
            )
        return [m.to(self.dtype).view(1, -1, 1, 1) for m in head_mask]

    def _store(self, past_key_values, T: int) -> tuple[KVStore, int]:
        """The KVStore for `past_key_values` and the number of positions already in it."""
        if isinstance(past_key_values, KVCache):
            store, past = past_key_values, past_key_values.length
            if past + T > store.capacity:
                raise ValueError(f"KVCache holds {store.capacity} tokens; {past} + {T} do not fit")
        else:
            store = MergedPast(past_key_values, self.config.head_dim)
            past = store.length
        if past + T > self.config.n_positions:
            raise ValueError(
                f"sequence of {past + T} tokens exceeds the model's n_positions={self.config.n_positions}"
            )
        return store, past

    @staticmethod
    def _positions(attention_mask, past: int, T: int, device) -> torch.Tensor:
        if attention_mask is None:
            return torch.arange(past, past + T, device=device).unsqueeze(0)
        # Left padding: a row's first real token sits at position 0.
        position_ids = attention_mask.long().cumsum(-1) - 1
        return position_ids.masked_fill(attention_mask == 0, 1)[:, past:]

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
        if inputs_embeds is None:
            inputs_embeds = self.wte(input_ids)  # (B, T, D)
        B, T, _ = inputs_embeds.shape
        device = inputs_embeds.device
        store, past = self._store(past_key_values, T)
        if position_ids is None:
            if attention_mask is not None and attention_mask.dim() == 4:
                raise ValueError("a 4-D attention_mask needs explicit position_ids")
            position_ids = self._positions(attention_mask, past, T, device)
        mask = build_attention_mask(attention_mask, B, T, past, device)

        x = inputs_embeds + self.wpe(position_ids)
        if token_type_ids is not None:
            x = x + self.wte(token_type_ids.view(-1, T))  # HF embeds them with wte
        x = self.drop(x)
        hidden = [] if output_hidden_states else None
        attentions = [] if output_attentions else None
        x = self.run_blocks(x, store, mask, self._head_masks(head_mask), hidden, attentions)
        if isinstance(store, KVCache):
            # Token ids go with the positions when there is one sequence to name them.
            ids = input_ids[0].tolist() if input_ids is not None and B == 1 else None
            store.advance(T, ids)
            presents = store
        else:
            presents = tuple(store.presents) if use_cache else None
        if hidden is not None:
            hidden.append(x)
        out = BaseModelOutput(
            last_hidden_state=x,
            past_key_values=presents,
            hidden_states=tuple(hidden) if hidden is not None else None,
            attentions=tuple(attentions) if attentions is not None else None,
        )
        return out if return_dict is None or return_dict else out.to_tuple()


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
        logits = linear(self.lm_head, h[:, -logits_to_keep:] if logits_to_keep else h)  # (B, T, V)
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

    def decode_step(self, token_id: int, cache: KVCache) -> torch.Tensor:
        """Feed one token of one sequence; return the logits for the next, (V,).

        `forward` with the generality stripped: no position or mask tensors, no output
        objects. The same blocks run; a single new token attends to every key."""
        t = self.transformer
        x = (t.wte.weight[token_id] + t.wpe.weight[cache.length]).view(1, 1, -1)
        x = t.run_blocks(x, cache, NO_MASK)
        cache.advance(1, (token_id,))
        return linear(self.lm_head, x)[0, -1]

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
        """Load a HF GPTBigCode directory (safetensors only); every key and shape is
        checked before anything is allocated. `quantize="int8"` makes the linear layers
        int8 (weight-only, CPU)."""
        checkpoint = Checkpoint(path, dtype, device, attn_implementation, quantize)
        with torch.device("meta"):
            model = cls(checkpoint.config)
        checkpoint.load_into(model)
        if checkpoint.int8:
            quantize_int8(model)
        return model.eval()

    def save_pretrained(self, directory: str | Path) -> None:
        save_checkpoint(self, directory)
