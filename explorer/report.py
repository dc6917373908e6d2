"""Markdown tables from the stages' metrics (pure: dicts in, text out)."""

from __future__ import annotations

from typing import Any

QUESTION_TYPES = ("comparison", "bridge_comparison", "compositional", "inference")
# The original study (Tinker, Qwen3-8B + LoRA): reference numbers, not rerun here.
ORIGINAL_STUDY = {"heuristic": (0.246, 0.220), "SFT": (0.142, None), "best RL run": (0.172, 0.085)}
ORIGINAL_FOR_POLICY = {"heuristic": "heuristic", "sft": "SFT", "grpo": "best RL run"}  # our row -> their number


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


def paired_lines(paired: dict[str, Any], metric: str = "F1") -> list[str]:
    """One line per comparison: questions better / worse and the mean gain with its 95% CI.
    `paired` is one metric's comparisons, or {"f1": ..., "reward": ...} (both are listed)."""
    if set(paired) <= {"f1", "reward"} and paired:
        return [line for key, comps in paired.items() for line in paired_lines(comps, "F1" if key == "f1" else "reward")]
    return [
        f"{key.replace('_vs_', ' vs ').replace('/', ', ')}: {metric} better on {c['better']} questions, worse on {c['worse']} of {c['n']}; "
        f"mean {metric} {c['mean_diff']:+.4f} (95% paired bootstrap CI {c['ci95'][0]:+.4f} .. {c['ci95'][1]:+.4f})"
        for key, c in paired.items()
    ]


def seeds_table(summary: dict[str, Any], baselines: dict[str, Any], baseline_split: str) -> str:
    """Learned policies (mean ± std over seeds, sample std) beside the rule baselines."""
    lines = []
    for split in next(iter(summary.values())):
        header = ["policy", "seeds", "F1", "EM", "answer rate", "avg opens", "avg tokens read"] + [f"F1 {t}" for t in QUESTION_TYPES]
        lines += [f"### `{split}` split", ""]
        if split == "val":
            # GRPO keeps its best checkpoint by val reward, so val numbers are selection scores.
            lines += ["`val` chose the kept GRPO checkpoint: its scores are not held-out scores.", ""]
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        if split == baseline_split:
            for policy, m in baselines.items():
                row = [
                    policy,
                    "-",
                    _fmt(m["f1"]),
                    _fmt(m["em"]),
                    _fmt(m["answer_rate"]),
                    _fmt(m["avg_opens"], 2),
                    _fmt(m["avg_tokens_read"], 1),
                ]
                row += [_fmt(m["by_type"].get(t, {}).get("f1")) for t in QUESTION_TYPES]
                lines.append("| " + " | ".join(row) + " |")
        for name, by_split in summary.items():
            m = by_split[split]
            row = [
                f"**{name}**",
                str(len(m["seeds"])),
                _ms(m["f1"]),
                _ms(m["em"]),
                _ms(m["answer_rate"]),
                _ms(m["avg_opens"], 2),
                _ms(m["avg_tokens_read"], 1),
            ]
            row += [_ms(m["by_type_f1"][t]) if t in m["by_type_f1"] else "-" for t in QUESTION_TYPES]
            lines.append("| " + " | ".join(row) + " |")
        lines += [""]
        for name, by_split in summary.items():
            per = by_split[split]["per_seed"]
            lines.append(
                f"{name} per seed ({split}): "
                + "; ".join(f"seed {s}: F1 {m['f1']:.3f}, tokens {m['avg_tokens_read']:.0f}" for s, m in per.items())
            )
        lines += ["", *paired_lines(summary.get("grpo", {}).get(split, {}).get("paired", {}))]
        lines.append("")
    lines.append(
        "Original study (Qwen3-8B on Tinker, for reference): "
        + "; ".join(f"{k} F1 {f1} / EM {_fmt(em)}" for k, (f1, em) in ORIGINAL_STUDY.items())
    )
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- the report stage


ROW_KEYS = ("f1", "em", "answer_rate", "avg_opens", "avg_tokens_read", "avg_tokens_shown", "avg_reward")


def result_rows(baselines: dict[str, Any], learned: dict[str, Any], split: str) -> list[dict[str, Any]]:
    """One row per policy on `split`: rule baselines (one run) and learned policies (mean/std over seeds)."""
    rows = [{"policy": policy, "seeds": None, **{k: (m.get(k, float("nan")), None) for k in ROW_KEYS}} for policy, m in baselines.items()]
    for name, by_split in learned.items():
        if split in by_split:
            m = by_split[split]
            rows.append(
                {
                    "policy": name,
                    "seeds": len(m["seeds"]),
                    **{k: (m[k]["mean"], m[k]["std"]) if k in m else (float("nan"), None) for k in ROW_KEYS},
                }
            )
    return rows


# What each prepared split is drawn from (see explorer/data.py build_splits).
SPLIT_ORIGIN = {
    "dev": ", drawn from the official 2Wiki dev set",
    "train": ", from the official train set",
    "val": ", held out from the official train set",
}


def results_markdown(
    rows: list[dict[str, Any]],
    split: str,
    n: int,
    manifest: dict[str, Any],
    paired: dict[str, Any] | None = None,
    extra: list[str] | None = None,
) -> str:
    def cell(v: tuple[float, float | None], nd: int = 3) -> str:
        mean, std = v
        return f"{mean:.{nd}f}" if std is None else f"{mean:.{nd}f} ± {std:.{nd}f}"

    src = manifest.get("source", {})
    lines = [
        "# Results",
        "",
        f"Split `{split}` ({n} questions{SPLIT_ORIGIN.get(split, '')}); data source: {src.get('kind', '?')} `{src.get('location', '?')}`.",
        "Learned policies: mean ± sample std over training seeds (greedy evaluation). Regenerated by the `report` stage.",
        "",
        "| policy | F1 | EM | answer rate | avg opens | avg tokens read | tokens shown | reward | seeds | original study F1 / EM |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    original = {ours: f"{ORIGINAL_STUDY[theirs][0]} / {_fmt(ORIGINAL_STUDY[theirs][1])}" for ours, theirs in ORIGINAL_FOR_POLICY.items()}
    original["grpo"] += " (best RL run)"
    for r in rows:
        lines.append(
            f"| {r['policy']} | {cell(r['f1'])} | {cell(r['em'])} | {cell(r['answer_rate'])} | {cell(r['avg_opens'], 2)} | "
            f"{cell(r['avg_tokens_read'], 1)} | {cell(r['avg_tokens_shown'], 1)} | {cell(r['avg_reward'])} | {r['seeds'] or '-'} | "
            f"{original.get(r['policy'], '')} |"
        )
    lines += ["", "The original study's numbers (Qwen3-8B + LoRA on Tinker) are quoted for reference, not rerun.", ""]
    if paired:
        # Seed spread says nothing about the question sample; a paired test on it does.
        lines += ["Is the GRPO gain real? Paired per-question comparison on the same questions:", ""]
        lines += [f"- {line}" for line in paired_lines(paired)] + [""]
    lines += extra or []
    lines += [
        "Plots: `plots/frontier.png` (F1 vs tokens read), `plots/comparison.png` (F1 per question type),",
        "`plots/grpo_curves.png` (GRPO training curves per seed, written by the grpo stage).",
        "The reading-cost frontier over λ (`python bench/sweep.py reward.cost_coef 0.25 1.0`, DVC experiments) is in",
        "`sweep-reward.cost_coef.md`; where the learned points sit against stop rules of the heuristic: `stop_rules.md`;",
        "with cue marks per chunk in the free text (`env.previews: paragraph+cues`): `sweep-env.previews.md`.",
        "",
    ]
    return "\n".join(lines)


def budgets_table(budgets: dict[str, Any]) -> list[str]:
    """F1 @ tokens read of each policy under each env budget (the evaluate stage's budgets.json)."""
    names = [n for n in next(iter(budgets.values())) if not n.startswith("grpo/")]
    lines = ["| env budget | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for budget, row in budgets.items():

        def cell(m: dict[str, Any]) -> str:
            if isinstance(m["f1"], dict):
                return f"{m['f1']['mean']:.3f} ± {m['f1']['std']:.3f} @ {m['avg_tokens_read']['mean']:.0f}"
            return f"{m['f1']:.3f} @ {m['avg_tokens_read']:.0f}"

        lines.append(f"| {budget} | " + " | ".join(cell(row[n]) for n in names) + " |")
    return lines


def weights_table(features: tuple[str, ...], sft: list[list[float]], grpo: list[list[float]], top: int = 12) -> list[str]:
    """Per-feature weights after SFT and after GRPO (mean over seeds), the features GRPO moved
    most first: what GRPO changed in the learned policy."""
    s, g = [sum(col) / len(col) for col in zip(*sft, strict=True)], [sum(col) / len(col) for col in zip(*grpo, strict=True)]
    # rounded, then by name: features tied up to float noise (open&x = -answer&x) keep one order
    order = sorted(range(len(features)), key=lambda i: (-round(abs(g[i] - s[i]), 6), features[i]))
    lines = ["| feature | after SFT | after GRPO | change |", "|---|---|---|---|"]
    lines += [f"| `{features[i]}` | {s[i]:+.3f} | {g[i]:+.3f} | {g[i] - s[i]:+.3f} |" for i in order[:top]]
    return lines
