"""Plots for the docs from the benchmark results (docs/results/*.json) and training.json.

python -m bench.plots
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DOCS = Path("docs")
RESULTS = DOCS / "results"


def training_curve(
    training: Path, out: Path, curve: Path | None = None, xlabel: str = "CPU hours (2 cores)"
) -> None:
    """Loss against hours of training; with `curve`, held-out exact match on a second axis."""
    data = json.loads(training.read_text())
    history = data["history"]
    hours = [h["elapsed_s"] / 3600 for h in history]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(hours, [h["train_loss"] for h in history], label="train (EMA)", lw=1)
    evals = [h for h in history if "eval_loss" in h]
    ax.plot(
        [h["elapsed_s"] / 3600 for h in evals],
        [h["eval_loss"] for h in evals],
        "o-",
        label="held-out stdlib",
    )
    packages = [h for h in history if "eval_loss_packages" in h]
    if packages:
        ax.plot(
            [h["elapsed_s"] / 3600 for h in packages],
            [h["eval_loss_packages"] for h in packages],
            "d-",
            label="held-out packages",
        )
    start = data["recipe"].get("schedule_start", 0)  # a later phase restarted the LR schedule
    if start:
        x = next(h["elapsed_s"] / 3600 for h in history if h["step"] >= start)
        ax.axvline(x, color="grey", ls=":", lw=1, label=f"last phase (step {start:,})")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss (nats/token)")
    ax.set_title("Bundled model training")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if curve is not None and curve.exists():
        points = json.loads(curve.read_text())
        em = ax.twinx()
        series = (
            ("exact_match", "s--", "tab:green", "held-out whole-line exact match (%)"),
            ("exact_match_code_only", "^--", "tab:olive", "the same without codec tables (%)"),
        )
        for key, style, color, label in series:
            have = [q for q in points if q.get(key) is not None]
            xs, ys = [q["cpu_hours"] for q in have], [100 * q[key] for q in have]
            em.plot(xs, ys, style, color=color, label=label)
        em.axhline(10, color="tab:green", ls=":", lw=1, label="exact-match target (10 %)")
        em.set_ylabel("exact match (%)")
        em.set_ylim(0, max(12, 120 * max(q["exact_match"] for q in points)))
        more = em.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    ax.legend(
        handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize="small"
    )
    fig.savefig(out, dpi=110, bbox_inches="tight")


def tune_curves(tuned: list[Path], out: Path) -> None:
    """Held-out loss of each `bigcode-ls tune` run against training minutes."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for folder in tuned:
        summary = json.loads((folder / "tune.json").read_text())
        curve = summary["curve"]
        ax.plot(
            [c["elapsed_s"] / 60 for c in curve],
            [c["heldout_loss"] for c in curve],
            label=folder.name,
        )
        ax.plot(
            [c["elapsed_s"] / 60 for c in curve if c["step"] == summary["best_step"]],
            [summary["best_heldout_loss"]],
            "k*",
        )
    ax.set_xlabel("training minutes (one CPU thread)")
    ax.set_ylabel("held-out loss of the repository (nats/token)")
    ax.set_title("bigcode-ls tune: held-out files of each package (star: weights kept)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def latency(result: Path, out: Path) -> None:
    data = json.loads(result.read_text())
    fig, ax = plt.subplots(figsize=(7, 4))
    series = (
        ("cold_default_kernels", "lightcoral"),
        ("cold", "tab:red"),
        ("warm_default_kernels", "yellowgreen"),
        ("warm", "tab:green"),
    )
    for name, color in ((n, c) for n, c in series if n in data):
        times = data[name]["times_ms"]
        kernels = ", default kernels" if name.endswith("default_kernels") else ""
        ax.plot(
            range(1, len(times) + 1),
            times,
            ".",
            ms=3,
            color=color,
            label=f"cache {'off' if name.startswith('cold') else 'on'}{kernels} "
            f"(p50 {data[name]['p50_ms']:.0f} ms)",
        )
    ax.set_yscale("log")
    ax.set_xlabel("keystroke")
    ax.set_ylabel("inline completion latency (ms)")
    ax.set_title(
        f"Typing into {data['file']} ({data['lines']} lines), {data['context_tokens']}-token context"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def soak(result: Path, out: Path) -> None:
    data = json.loads(result.read_text())
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["key"] for r in data["rss"]], [r["rss_mib"] for r in data["rss"]], "-o", ms=3)
    ax.set_xlabel("keystrokes")
    ax.set_ylabel("server RSS (MiB)")
    ax.set_title(
        f"Soak: {data['docs']} documents, KV cache budget {data['cache_budget_mib']:.0f} MiB"
    )
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> int:
    made = []
    training = Path("model/bundled/training.json")
    if training.exists():
        training_curve(training, DOCS / "training_curve.png", RESULTS / "exact_match_curve.json")
        made.append("training_curve.png")
    tuned = sorted(p for p in Path("runs/tuned").glob("*") if (p / "tune.json").exists())
    if tuned:
        tune_curves(tuned, DOCS / "tune_curve.png")
        made.append("tune_curve.png")
    if (RESULTS / "latency.json").exists():
        latency(RESULTS / "latency.json", DOCS / "latency.png")
        made.append("latency.png")
    if (RESULTS / "soak.json").exists():
        soak(RESULTS / "soak.json", DOCS / "soak_rss.png")
        made.append("soak_rss.png")
    print("wrote " + ", ".join(made), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
