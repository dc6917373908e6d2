"""PNG plots (matplotlib, Agg backend: no display, no network)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

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
