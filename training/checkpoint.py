"""A run's checkpoints (weights and AdamW moments as safetensors, recipe and state as
JSON: no pickle), a new run seeded from an exported model, and the export itself: the
model directory that the server loads."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import torch

from model.config import GPTBigCodeConfig
from model.modeling import GPTBigCodeForCausalLM

from .loop import make_optimizer
from .recipe import Recipe, State, say


def save_checkpoint(run: Path, model, opt, recipe: Recipe, state: State) -> None:
    from safetensors.torch import save_file

    ckpt = run / "checkpoint"
    tmp = run / "checkpoint.tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    names = {id(p): n for n, p in model.named_parameters()}
    moments = {}
    for group in opt.param_groups:
        for p in group["params"]:
            st = opt.state.get(p)
            if st:
                moments[f"{names[id(p)]}.exp_avg"] = st["exp_avg"].contiguous()
                moments[f"{names[id(p)]}.exp_avg_sq"] = st["exp_avg_sq"].contiguous()
    save_file(moments, str(tmp / "optimizer.safetensors"))
    (tmp / "state.json").write_text(
        json.dumps({"recipe": asdict(recipe), "state": asdict(state)}, indent=1)
    )
    if ckpt.exists():
        old = run / "checkpoint.old"
        ckpt.rename(old)
        tmp.rename(ckpt)
        for f in old.iterdir():
            f.unlink()
        old.rmdir()
    else:
        tmp.rename(ckpt)


def load_checkpoint(
    run: Path, device: str
) -> tuple[GPTBigCodeForCausalLM, torch.optim.AdamW, Recipe, State]:
    from safetensors.torch import load_file

    ckpt = run / "checkpoint"
    saved = json.loads((ckpt / "state.json").read_text())
    recipe = Recipe(**saved["recipe"])
    state = State(**saved["state"])
    # fp32 master weights on every device (a GPU's loading default would be bf16)
    model = GPTBigCodeForCausalLM.from_pretrained(ckpt, dtype=torch.float32, device=device)
    model.train()
    opt = make_optimizer(model, recipe)
    moments = load_file(str(ckpt / "optimizer.safetensors"), device=device)
    for name, p in model.named_parameters():
        if f"{name}.exp_avg" in moments:
            opt.state[p] = {
                "step": torch.tensor(float(state.step)),
                "exp_avg": moments[f"{name}.exp_avg"],
                "exp_avg_sq": moments[f"{name}.exp_avg_sq"],
            }
    return model, opt, recipe, state


def new_model(recipe: Recipe, vocab_size: int) -> GPTBigCodeForCausalLM:
    config = GPTBigCodeConfig(
        vocab_size=vocab_size,
        n_positions=recipe.n_positions,
        n_embd=recipe.n_embd,
        n_layer=recipe.n_layer,
        n_head=recipe.n_head,
        resid_pdrop=recipe.dropout,
        embd_pdrop=recipe.dropout,
        attn_pdrop=recipe.dropout,
        bos_token_id=0,
        eos_token_id=0,
        multi_query=True,
    )
    torch.manual_seed(recipe.seed)
    return GPTBigCodeForCausalLM(config)


# The shape an exported model keeps when a run is seeded from it; the context alone may grow.
SHAPE = ("vocab_size", "n_embd", "n_layer", "n_head")


CORPUS_NOTES = {
    "stdlib": "Python standard library (held-out split by path hash, see training/corpus.py)",
    "stdlib+packages": "Python standard library and pinned permissive packages "
    "(training/packages.py; whole packages held out)",
}


def seed_run(
    run: Path, exported: Path, device: str, overrides: dict, restart_schedule: bool
) -> None:
    """Make `run` a checkpoint of the exported model (fresh optimizer state)."""
    summary = json.loads((exported / "training.json").read_text())
    recipe = Recipe(**summary["recipe"])
    state = State(**summary["state"])
    changed = [k for k in SHAPE if k in overrides and overrides[k] != getattr(recipe, k)]
    if changed:
        raise SystemExit(f"--init-from keeps the model's shape; cannot change {', '.join(changed)}")
    if overrides.get("n_positions", recipe.n_positions) < recipe.n_positions:
        raise SystemExit("--init-from can lengthen the context, not shorten it")
    data = ("corpus", "stdlib_weight", "context_rate", "seq_len", "chunk_chars", "batch_size")
    if any(k in overrides and overrides[k] != getattr(recipe, k) for k in data):
        state.batch_in_epoch = 0  # other data: the saved position in the epoch means nothing
    recipe = replace(recipe, **overrides)
    if restart_schedule:
        recipe.schedule_start = state.step
    if recipe.max_steps <= state.step:
        raise SystemExit(f"--max-steps must exceed the seeded step {state.step}")
    model = GPTBigCodeForCausalLM.from_pretrained(exported, dtype=torch.float32, device=device)
    if recipe.n_positions > model.config.n_positions:
        model = extend_context(model, recipe.n_positions)
    model.train()
    (run / "tokenizer.json").write_text((exported / "tokenizer.json").read_text())
    save_checkpoint(run, model, make_optimizer(model, recipe), recipe, state)
    say(f"seeded {run} from {exported} at step {state.step}")


def extend_context(model: GPTBigCodeForCausalLM, n_positions: int) -> GPTBigCodeForCausalLM:
    """A copy of `model` with `n_positions` learned positions, the new table stretched from
    the old by linear interpolation (position i takes old position i * (n_old - 1) /
    (n_new - 1)): neighbouring positions keep similar embeddings, so training adapts the
    longer context instead of learning it from noise."""
    old = model.transformer.wpe.weight.detach()  # (n_old, D)
    n_old = old.shape[0]
    where = torch.linspace(0, n_old - 1, n_positions, dtype=torch.float64)
    lo = where.floor().long().clamp(max=n_old - 1)
    hi = (lo + 1).clamp(max=n_old - 1)
    frac = (where - lo).to(old.dtype)[:, None]
    table = old[lo] * (1 - frac) + old[hi] * frac
    config = GPTBigCodeConfig.from_dict({**model.config.to_dict(), "n_positions": n_positions})
    bigger = GPTBigCodeForCausalLM(config).to(old.device)
    state = {k: v for k, v in model.state_dict().items() if k != "transformer.wpe.weight"}
    bigger.load_state_dict({**state, "transformer.wpe.weight": table}, strict=False)
    bigger.tie_weights()
    return bigger


def export(run: Path, out: Path, dtype: str = "float32") -> None:
    """Write the HF-style model directory that the server loads. Weights in float32, or
    `dtype` bfloat16 to ship half the bytes (the server computes in float32 on a CPU, and
    bfloat16 -> float32 is exact, so what loads is exactly what was written)."""
    ckpt = run / "checkpoint"
    saved = json.loads((ckpt / "state.json").read_text())
    model = GPTBigCodeForCausalLM.from_pretrained(ckpt, dtype=torch.float32, device="cpu")
    model = model.to(getattr(torch, dtype))
    model.config.resid_pdrop = model.config.embd_pdrop = model.config.attn_pdrop = 0.0
    # Trained without StarCoder's <filename> headers: tell the server not to send them.
    model.config.extra["bigcode_ls"] = {"filename_header": False}
    model.save_pretrained(out)
    (out / "tokenizer.json").write_text((run / "tokenizer.json").read_text())
    state = saved["state"]
    summary = {
        "recipe": saved["recipe"],
        "steps": state["step"],
        "tokens": state["tokens"],
        "cpu_hours": round(state["elapsed_s"] / 3600, 3),
        "final_eval_loss": next(
            (h["eval_loss"] for h in reversed(state["history"]) if "eval_loss" in h), None
        ),
        "history": state["history"],
        "corpus": CORPUS_NOTES.get(saved["recipe"].get("corpus", "stdlib"), ""),
        "state": state,  # lets `--init-from` continue the run elsewhere
    }
    (out / "training.json").write_text(json.dumps(summary, indent=1) + "\n")
