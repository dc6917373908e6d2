"""PNG plots (matplotlib, Agg backend: no display, no network)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from explorer.report import QUESTION_TYPES  # noqa: E402

CURVES = (("reward/mean", "reward (train rollouts)"), ("train/f1", "F1 (train rollouts)"),
          ("budget/tokens_read", "tokens read (train rollouts)"), ("val/f1", "F1 (val, greedy)"))  # fmt: skip


def plot_grpo_curves(histories: dict[str, list[tuple[int, dict[str, float]]]], path: Path) -> Path:
    """One panel per curve, one line per run (label -> [(step, metrics)])."""
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4.2 * len(CURVES), 3.4))
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
    axes[0].legend(fontsize=8)
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
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for r in rows:
        (x, xs), (y, ys) = r["avg_tokens_read"], r["f1"]
        ax.errorbar(x, y, xerr=xs or 0, yerr=ys or 0, fmt="o", capsize=3, label=f"{r['policy']} ({y:.3f} F1, {x:.0f} tok)")
    ax.set_xlabel("average tokens read (Qwen3 tokens)")
    ax.set_ylabel("F1")
    ax.set_title("Accuracy vs reading cost")
    ax.legend(fontsize=8, loc="lower right")
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
    ax.legend(fontsize=8, ncol=3)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)
