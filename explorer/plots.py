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


def save_figure(fig: plt.Figure, path: Path, rect: tuple[float, float, float, float] = (0, 0, 1, 1)) -> Path:
    """Write a PNG atomically and free the figure (`rect`: the part of it tight_layout fills)."""
    fig.tight_layout(rect=rect)
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


def _sweep_baselines(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """value -> the baselines of that value's run ("" -> all, when they are shared)."""
    per_value = all(isinstance(v, dict) and "f1" not in v for v in doc["baselines"].values())
    return doc["baselines"] if per_value else {"": doc["baselines"]}


def _sweep_series(doc: dict[str, Any], policy: str) -> list[dict[str, Any]]:
    return sorted((p for p in doc["points"] if p["policy"] == policy), key=lambda p: sweep_order(p["value"]))


def sweep_zoom(doc: dict[str, Any]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """(x limits, y limits) of the zoom panel: every learned point with its spread and every
    heuristic baseline, padded, with room on the right for the labels."""
    corners = [(b["heuristic"]["avg_tokens_read"], b["heuristic"]["f1"]) for b in _sweep_baselines(doc).values() if "heuristic" in b]
    for p in doc["points"]:
        (x, dx), (y, dy) = (p["avg_tokens_read"]["mean"], p["avg_tokens_read"]["std"]), (p["f1"]["mean"], p["f1"]["std"])
        corners += [(x - dx, y - dy), (x + dx, y + dy)]
    if not corners:
        return None
    (x0, y0), (x1, y1) = np.min(corners, axis=0), np.max(corners, axis=0)
    pad_x, pad_y = max(5.0, 0.12 * (x1 - x0)), max(0.01, 0.12 * (y1 - y0))
    return (float(x0 - pad_x), float(x1 + 3 * pad_x)), (float(y0 - pad_y), float(y1 + pad_y))


def label_spots(points: list[dict[str, Any]]) -> dict[tuple[float, float], list[str]]:
    """(tokens, F1) -> the swept values of the points drawn there: values whose points coincide
    (SFT does not read the reward, so a λ sweep has one SFT point) share one label."""
    spots: dict[tuple[float, float], list[str]] = {}
    for p in points:
        spots.setdefault((round(p["avg_tokens_read"]["mean"]), round(p["f1"]["mean"], 3)), []).append(p["value"])
    return spots


def plot_sweep(doc: dict[str, Any], path: Path) -> Path:
    """F1 vs tokens read: the rule baselines, and SFT / GRPO at each value of a swept param with
    their seed spread (bench/sweep.py). Left every point (log scale: read-all reads ten times the
    rest); right the learned points and the heuristic alone (`sweep_zoom`), where they are told apart."""
    fig, (ax_all, ax_zoom) = plt.subplots(1, 2, figsize=(12.6, 4.4))
    markers = {"random": "v", "heuristic": "s", "read_all": "D", "gold_reading": "*", "oracle": "P"}
    for ax in (ax_all, ax_zoom):
        legend = ax is ax_all  # one legend for both panels, below them
        for j, (value, base) in enumerate(_sweep_baselines(doc).items()):
            at = f" @ {value}" if value else ""
            for name, m in base.items():
                x, y = m["avg_tokens_read"], m["f1"]
                label = f"{name}{at} ({y:.3f}, {x:.0f} tok)" if legend else None
                ax.plot(x, y, markers.get(name, "o"), color=f"{0.2 + 0.25 * j:.2f}", ms=7, label=label)
                if not legend and name == "heuristic":
                    ax.annotate(f"heuristic baseline{at}", (x, y), textcoords="offset points", xytext=(5, 4), fontsize=7, color="0.3")
        for i, name in enumerate(("sft", "grpo")):
            pts = _sweep_series(doc, name)
            if not pts:
                continue
            ax.errorbar([p["avg_tokens_read"]["mean"] for p in pts], [p["f1"]["mean"] for p in pts],
                        xerr=[p["avg_tokens_read"]["std"] for p in pts], yerr=[p["f1"]["std"] for p in pts], fmt="o-", color=f"C{i}",
                        capsize=3, label=f"{name.upper()} at {doc['key']} = " + ", ".join(p["value"] for p in pts) if legend else None)  # fmt: skip
            for k, (xy, values) in enumerate(label_spots(pts).items()):
                # alternate below / above so that neighbouring labels do not print over each other
                below = k % 2 == 0
                ax.annotate(", ".join(values), xy, textcoords="offset points", xytext=(5, -11 if below else 5), fontsize=7, color=f"C{i}")
    ax_all.set_xscale("log")
    ax_all.set_xlabel("average tokens read (log scale)")
    ax_all.set_title(f"F1 vs reading cost over {doc['key']} ({doc['split']})", fontsize=10)
    zoom = sweep_zoom(doc)
    if zoom:
        ax_zoom.set_xlim(*zoom[0])
        ax_zoom.set_ylim(*zoom[1])
    ax_zoom.set_xlabel("average tokens read")
    ax_zoom.set_title("zoom: learned points (mean ± std over seeds) and the heuristic", fontsize=10)
    for ax in (ax_all, ax_zoom):
        ax.set_ylabel("F1")
        ax.grid(alpha=0.3, which="both")
    fig.legend(fontsize=7, loc="lower center", ncol=4, bbox_to_anchor=(0.5, 0.0))
    legend_rows = -(-len(ax_all.get_legend_handles_labels()[1]) // 4)
    return save_figure(fig, path, rect=(0, 0.03 + 0.037 * legend_rows, 1, 1))  # the legend below the panels
