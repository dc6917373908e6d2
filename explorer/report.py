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


def _ms(d: dict[str, float], nd: int = 3) -> str:
    return f"{d['mean']:.{nd}f} ± {d['std']:.{nd}f}"


def seeds_table(summary: dict[str, Any], baselines: dict[str, Any], baseline_split: str) -> str:
    """Learned policies (mean ± std over seeds, sample std) beside the rule baselines."""
    lines = []
    for split in next(iter(summary.values())):
        header = ["policy", "seeds", "F1", "EM", "answer rate", "avg opens", "avg tokens read"] + [f"F1 {t}" for t in QUESTION_TYPES]
        lines += [f"### `{split}` split", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        if split == baseline_split:
            for policy, m in baselines.items():
                row = [policy, "-", _fmt(m["f1"]), _fmt(m["em"]), _fmt(m["answer_rate"]), _fmt(m["avg_opens"], 2), _fmt(m["avg_tokens_read"], 1)]
                row += [_fmt(m["by_type"].get(t, {}).get("f1")) for t in QUESTION_TYPES]
                lines.append("| " + " | ".join(row) + " |")
        for name, by_split in summary.items():
            m = by_split[split]
            row = [f"**{name}**", str(len(m["seeds"])), _ms(m["f1"]), _ms(m["em"]), _ms(m["answer_rate"]), _ms(m["avg_opens"], 2), _ms(m["avg_tokens_read"], 1)]
            row += [_ms(m["by_type_f1"][t]) if t in m["by_type_f1"] else "-" for t in QUESTION_TYPES]
            lines.append("| " + " | ".join(row) + " |")
        lines += [""]
        for name, by_split in summary.items():
            per = by_split[split]["per_seed"]
            lines.append(f"{name} per seed ({split}): " + "; ".join(f"seed {s}: F1 {m['f1']:.3f}, tokens {m['avg_tokens_read']:.0f}" for s, m in per.items()))
        lines.append("")
    lines.append("Original study (Qwen3-8B on Tinker, for reference): " + "; ".join(f"{k} F1 {f1} / EM {_fmt(em)}" for k, (f1, em) in ORIGINAL_STUDY.items()))
    return "\n".join(lines) + "\n"
