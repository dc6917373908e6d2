"""Spread over seeds and paired comparisons over questions (pure numbers, no files)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def mean_std(values: list[float]) -> dict[str, float]:
    """Mean, sample std, min and max, rounded to 4 places (as every metrics.json reports them)."""
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return {"mean": round(mean, 4), "std": round(std, 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def per_question(episodes_path: Path, key: str = "f1") -> dict[str, float]:
    """{task id: the episode's metric} from an episodes.jsonl the harness wrote."""
    with Path(episodes_path).open(encoding="utf-8") as f:
        return {d["task_id"]: float(d["metrics"][key]) for d in map(json.loads, f)}


def paired_comparison(a: dict[str, float], b: dict[str, float], resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Policy a against policy b on the same questions: how many answers got better / worse, and
    the mean F1 difference with a 95% paired-bootstrap interval. Seeds differ in training, but the
    question sample is one draw: this interval is what says whether a gain is inside the noise."""
    if a.keys() != b.keys():
        raise ValueError("paired comparison needs the same questions on both sides")
    diff = np.array([a[k] - b[k] for k in sorted(a)])
    idx = np.random.default_rng(seed).integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"n": len(diff), "better": int((diff > 0).sum()), "worse": int((diff < 0).sum()), "mean_diff": round(float(diff.mean()), 4),
            "ci95": [round(float(lo), 4), round(float(hi), 4)]}  # fmt: skip


def compare_seeds(
    grpo: dict[int, dict[str, float]], sft: dict[int, dict[str, float]], heuristic: dict[str, float] | None
) -> dict[str, Any]:
    """Per-question F1 of each seed's GRPO against its own SFT checkpoint (where evaluated) and
    against the heuristic baseline (if given), keyed `grpo_vs_sft/seed0`, ..."""
    result: dict[str, Any] = {}
    for seed, f1 in grpo.items():
        if seed in sft:
            result[f"grpo_vs_sft/seed{seed}"] = paired_comparison(f1, sft[seed])
        if heuristic is not None:
            result[f"grpo_vs_heuristic/seed{seed}"] = paired_comparison(f1, heuristic)
    return result
