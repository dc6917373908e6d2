"""Markdown tables from metrics files."""

from __future__ import annotations

from typing import Any

QUESTION_TYPES = ("comparison", "bridge_comparison", "compositional", "inference")
# The original study (Tinker, Qwen3-8B + LoRA): reference numbers, not rerun here.
ORIGINAL_STUDY = {"heuristic": (0.246, 0.220), "SFT": (0.142, None), "best RL run": (0.172, 0.085)}


def _fmt(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def baseline_table(results: dict[str, dict[str, Any]], split: str) -> str:
    header = ["policy", "n", "F1", "EM", "answer rate", "avg opens", "avg tokens read"]
    header += [f"F1 {t}" for t in QUESTION_TYPES]
    lines = [f"Baselines on the `{split}` split.", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for policy, m in results.items():
        row = [
            policy,
            str(m["n"]),
            _fmt(m["f1"]),
            _fmt(m["em"]),
            _fmt(m["answer_rate"]),
            _fmt(m["avg_opens"], 2),
            _fmt(m["avg_tokens_read"], 1),
        ]
        row += [_fmt(m["by_type"].get(t, {}).get("f1")) for t in QUESTION_TYPES]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        "Original study (Qwen3-8B on Tinker, for reference): "
        + "; ".join(f"{k} F1 {f1} / EM {_fmt(em)}" for k, (f1, em) in ORIGINAL_STUDY.items()),
        "",
    ]
    return "\n".join(lines)
