"""The `report` stage: reports/results.md and the PNG plots, from the stages' metrics files (and,
for the local backend, the checkpoints' feature weights: what GRPO changed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from explorer import layout
from explorer.backends.tinker_pointer import is_tinker_pointer
from explorer.config import Params
from explorer.io import atomic_write_text
from explorer.plots import plot_comparison, plot_frontier
from explorer.policies.features import FEATURES, N_FEATURES
from explorer.policies.local import load_policy
from explorer.report import budgets_table, result_rows, results_markdown, weights_table
from explorer.stages import run_main
from explorer.tracking import stage_run


def learned_in_words(params: Params, learned: dict[str, Any], split: str) -> list[str]:
    """What is learned, what is rules, and what GRPO adds over its SFT start, with the numbers."""
    sft, grpo = learned["sft"][split], learned["grpo"][split]
    r = params.reward
    reward = {"f1": "F1", "f1_cost": f"F1 − {r.cost_coef} × tokens read / budget", "f1_pool_cost": f"F1 − {r.cost_coef} × tokens read / pool tokens",
              "shaped": "the shaped reward"}[r.variant]  # fmt: skip
    lines = [
        "## What is learned, what is rules, what GRPO adds",
        "",
        f"- **Rules**: the reader (`explorer/reader/`: the answer candidates, the answer extraction, whether the reading is "
        f"sufficient, the relevance signals) and the {N_FEATURES} features built from them and from the observation "
        "(`explorer/policies/features.py`).",
        f"- **Learned** (`train.backend: {params.train.backend}`): one weight per feature, i.e. which chunk to open next, when to "
        f"stop reading and which candidate to answer. SFT fits them to `{params.demos.policy}` demonstrations on train; GRPO "
        f"then trains them on the reward {reward}.",
        f"- **What GRPO adds** on `{split}` (mean ± std over seeds {grpo['seeds']}): F1 {sft['f1']['mean']:.3f} → {grpo['f1']['mean']:.3f}, "
        f"tokens read {sft['avg_tokens_read']['mean']:.0f} → {grpo['avg_tokens_read']['mean']:.0f}, reward "
        f"{sft['avg_reward']['mean']:.3f} → {grpo['avg_reward']['mean']:.3f}. Per seed, paired over the questions:",
    ]
    for key, c in grpo.get("paired", {}).get("reward", {}).items():
        if key.startswith("grpo_vs_sft"):
            lines.append(f"  - {key.split('/')[1]}: reward {c['mean_diff']:+.4f} (95% CI {c['ci95'][0]:+.4f} .. {c['ci95'][1]:+.4f}), "
                         f"better on {c['better']}, worse on {c['worse']} of {c['n']} questions")  # fmt: skip
    return [*lines, ""]


def weights_lines(params: Params) -> list[str]:
    """The local policy's weights after SFT and after GRPO; nothing for Tinker pointers."""
    sft_paths = [layout.sft_checkpoint(params.sft, s) for s in params.train.seeds]
    grpo_paths = [layout.grpo_best(params.grpo, s) for s in params.train.seeds]
    if not all(p.exists() and not is_tinker_pointer(p) for p in sft_paths + grpo_paths):
        return []
    sft = [load_policy(p).weights.tolist() for p in sft_paths]
    grpo = [load_policy(p).weights.tolist() for p in grpo_paths]
    return ["## Feature weights: what GRPO changed", "", "Mean over seeds; the features GRPO moved most first (all of them: the checkpoints' JSON).", "",
            *weights_table(FEATURES, sft, grpo), ""]  # fmt: skip


def main(params: Params) -> int:
    split = params.baseline.split
    baselines = json.loads(layout.baseline_metrics(params.baseline).read_text())
    learned = json.loads(layout.eval_metrics(params.evaluate).read_text())
    manifest = json.loads(layout.manifest_file(params.data).read_text())
    rows = result_rows(baselines, learned, split)
    plot_frontier(rows, layout.FRONTIER_PNG)
    plot_comparison(baselines, learned, split, layout.COMPARISON_PNG)
    n = next(iter(baselines.values()))["n"] if baselines else 0
    extra = learned_in_words(params, learned, split) if split in learned.get("grpo", {}) else []
    budgets_path = layout.budgets_metrics(params.evaluate)
    if budgets_path.exists():
        budgets = json.loads(budgets_path.read_text())["budgets"]
        extra += [f"## The best reading under a budget (`{split}`: F1 @ tokens read)", "", *budgets_table(budgets), ""]
    extra += weights_lines(params)
    text = results_markdown(rows, split, n, manifest, learned.get("grpo", {}).get(split, {}).get("paired"), extra)
    atomic_write_text(layout.RESULTS_MD, text)
    print(text)
    with stage_run(params.tracking, "report", {"stage": "report"}) as run:
        run.log_metrics({f"results/{r['policy']}/{k}": r[k][0] for r in rows for k in ("f1", "em", "avg_tokens_read")})
        for path in (layout.RESULTS_MD, layout.FRONTIER_PNG, layout.COMPARISON_PNG, layout.GRPO_CURVES_PNG):
            if Path(path).exists():
                run.log_artifact(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
