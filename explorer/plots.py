"""PNG plots (matplotlib, Agg backend: no display, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from explorer.report import QUESTION_TYPES  # noqa: E402

CURVES = (("reward/mean", "reward (train rollouts)"), ("val/reward", "reward (val, greedy): selects best.json"),
          ("budget/tokens_read", "tokens read (train rollouts)"), ("groups/kept", "groups kept (unequal rewards) per step"))  # fmt: skip


def plot_grpo_curves(histories: dict[str, list[tuple[int, dict[str, float]]]], path: Path) -> Path:
    """A 2 x 2 grid (fits a 1,280-px page), one panel per curve, one line per run (label -> [(step, metrics)])."""
    fig, grid = plt.subplots(2, 2, figsize=(10.5, 6.6))
    axes = list(grid.flat)
    for ax, (key, title) in zip(axes, CURVES, strict=True):
        for i, (label, hist) in enumerate(histories.items()):
            pts = [(step, m[key]) for step, m in hist if key in m]
            if not pts:
                continue
            steps, values = zip(*pts, strict=True)
            color = f"C{i}"
            if key.startswith("val/"):
                ax.plot(steps, values, marker="o", ms=3, color=color, label=label)
            else:  # rollout metrics of 8 questions are noisy: raw faint, moving average of 5 bold
                ax.plot(steps, values, color=color, alpha=0.25)
                window = min(5, len(values))
                smooth = np.convolve(values, np.ones(window) / window, mode="valid")
                ax.plot(steps[window - 1 :], smooth, color=color, label=label)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="lower right")
    return save_figure(fig, path)


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write a PNG atomically and free the figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)
    return path


def plot_frontier(rows: list[dict[str, Any]], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(8.4, 4.6))
    ax.set_xscale("log")  # read-all reads ten times what the others do
    for r in rows:
        (x, xs), (y, ys) = r["avg_tokens_read"], r["f1"]
        ax.errorbar(x, y, xerr=xs or 0, yerr=ys or 0, fmt="o", capsize=3, label=f"{r['policy']} ({y:.3f} F1, {x:.0f} tok)")
    ax.set_xlabel("average tokens read (Qwen3 tokens, log scale)")
    ax.set_ylabel("F1")
    ax.set_title("Accuracy vs reading cost")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))  # outside: it covers no point
    ax.grid(alpha=0.3)
    return save_figure(fig, path)


def plot_comparison(baselines: dict[str, Any], learned: dict[str, Any], split: str, path: Path) -> Path:
    series = {p: ({t: m["by_type"][t]["f1"] for t in QUESTION_TYPES if t in m["by_type"]}, {}) for p, m in baselines.items()}
    for name, by_split in learned.items():
        if split in by_split:
            bt = by_split[split]["by_type_f1"]
            series[name] = ({t: bt[t]["mean"] for t in bt}, {t: bt[t]["std"] for t in bt})
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    width = 0.8 / max(1, len(series))
    x = np.arange(len(QUESTION_TYPES))
    for i, (policy, (means, stds)) in enumerate(series.items()):
        ax.bar(
            x + i * width,
            [means.get(t, 0) for t in QUESTION_TYPES],
            width,
            yerr=[stds.get(t, 0) for t in QUESTION_TYPES],
            label=policy,
            capsize=2,
        )
    ax.set_xticks(x + width * (len(series) - 1) / 2, QUESTION_TYPES)
    ax.set_ylabel("F1")
    ax.set_title(f"F1 per question type ({split})")
    ax.set_ylim(0, 1.18)  # headroom above the bars for the legend
    ax.legend(fontsize=8, ncol=4, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def sweep_order(value: str) -> tuple[int, float, str]:
    """Numeric sweep values in numeric order; text values (env.previews ...) after them, by name."""
    try:
        return 0, float(value), ""
    except ValueError:
        return 1, 0.0, value


def plot_sweep(doc: dict[str, Any], path: Path) -> Path:
    """F1 vs tokens read: the rule baselines, and SFT / GRPO at each value of a swept param with
    their seed spread (bench/sweep.py)."""
    fig, ax = plt.subplots(figsize=(8.4, 4.8))
    markers = {"random": "v", "heuristic": "s", "read_all": "D", "gold_reading": "*", "oracle": "P"}
    per_value = (
        doc["baselines"] if all(isinstance(v, dict) and "f1" not in v for v in doc["baselines"].values()) else {"": doc["baselines"]}
    )
    for j, (value, base) in enumerate(per_value.items()):
        for name, m in base.items():
            label = f"{name}{f' @ {value}' if value else ''} ({m['f1']:.3f}, {m['avg_tokens_read']:.0f} tok)"
            ax.plot(m["avg_tokens_read"], m["f1"], markers.get(name, "o"), color=f"{0.2 + 0.25 * j:.2f}", ms=7, label=label)
    for i, name in enumerate(("sft", "grpo")):
        pts = sorted((p for p in doc["points"] if p["policy"] == name), key=lambda p: sweep_order(p["value"]))
        if not pts:
            continue
        xs, ys = [p["avg_tokens_read"]["mean"] for p in pts], [p["f1"]["mean"] for p in pts]
        ax.errorbar(xs, ys, xerr=[p["avg_tokens_read"]["std"] for p in pts], yerr=[p["f1"]["std"] for p in pts], fmt="o-", color=f"C{i}",
                    capsize=3, label=f"{name.upper()} at {doc['key']} = " + ", ".join(p["value"] for p in pts))  # fmt: skip
        for p, x, y in zip(pts, xs, ys, strict=True):
            ax.annotate(p["value"], (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7, color=f"C{i}")
    ax.set_xscale("log")
    ax.set_xlabel("average tokens read (log scale)")
    ax.set_ylabel("F1")
    ax.set_title(f"F1 vs reading cost over {doc['key']} ({doc['split']})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, path)
