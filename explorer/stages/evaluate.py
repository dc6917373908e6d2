"""The `evaluate` stage: every seed's SFT checkpoint and GRPO best checkpoint on each split of
`evaluate.splits`, through the eval harness; per-seed outputs, mean / std / min / max over seeds,
and a paired per-question comparison of each seed's GRPO with its SFT checkpoint and with the
heuristic baseline (reports/eval/metrics.json and table.md)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from explorer import layout
from explorer.checkpoints import open_policy
from explorer.config import Params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy, run_and_record
from explorer.io import atomic_write_json, atomic_write_text
from explorer.report import seeds_table
from explorer.stages import run_main
from explorer.stats import compare_seeds, mean_std, per_question

SEED_KEYS = ("f1", "em", "answer_rate", "avg_opens", "avg_tokens_read", "avg_tokens_shown", "avg_reward")


def paired_against(params: Params, split: str) -> dict[str, Any]:
    """GRPO of each seed against its own SFT checkpoint and against the heuristic baseline, per
    question: on F1, and on the reward GRPO trains on."""
    heuristic = layout.baseline_dir(params.baseline, "heuristic") / "episodes.jsonl"

    def per_seed(name: str, key: str) -> dict[int, dict[str, float]]:
        return {s: per_question(layout.eval_dir(params.evaluate, name, s, split) / "episodes.jsonl", key) for s in params.train.seeds}

    def against(key: str) -> dict[str, Any]:
        base = per_question(heuristic, key) if split == params.baseline.split and heuristic.exists() else None
        return compare_seeds(per_seed("grpo", key), per_seed("sft", key), base)

    return {"f1": against("f1"), "reward": against("reward")}


BUDGET_BASELINES = ("heuristic", "read_all")


def under_budgets(params: Params, split: str) -> dict[str, Any]:
    """F1 and tokens read of the rule baselines and each GRPO seed with env.budget set to each of
    `evaluate.budgets`: the best reading under a budget. Scores only (no episode files, no runs)."""
    tasks, _ = resolve_tasks(split, params.data)
    policies = {p: p for p in BUDGET_BASELINES} | {f"grpo/seed{s}": str(layout.grpo_best(params.grpo, s)) for s in params.train.seeds}
    out: dict[str, Any] = {}
    for budget in params.evaluate.budgets:
        env = replace(params.env, budget=budget)
        row: dict[str, Any] = {}
        for name, spec in policies.items():
            with open_policy(spec, params) as (factory, workers):
                m, _ = evaluate_policy(tasks, factory, spec, env, params.reward, progress=False, workers=workers)
            row[name] = {k: m[k] for k in ("f1", "em", "avg_tokens_read", "avg_reward", "answer_rate")}
        seeds = [row[f"grpo/seed{s}"] for s in params.train.seeds]
        row["grpo"] = {k: mean_std([m[k] for m in seeds]) for k in ("f1", "em", "avg_tokens_read", "avg_reward")}
        out[str(budget)] = row
        print(f"budget {budget}: " + "; ".join(f"{n} F1 {m['f1']:.3f} @ {m['avg_tokens_read']:.0f}" for n, m in row.items() if n in BUDGET_BASELINES)
              + f"; grpo F1 {row['grpo']['f1']['mean']:.3f} @ {row['grpo']['avg_tokens_read']['mean']:.0f}")  # fmt: skip
    return out


def evaluate_checkpoints(params: Params) -> dict[str, Any]:
    cfg = params.evaluate
    checkpoints = {
        "sft": {s: layout.sft_checkpoint(params.sft, s) for s in params.train.seeds},
        "grpo": {s: layout.grpo_best(params.grpo, s) for s in params.train.seeds},
    }
    summary: dict[str, Any] = {}
    for split in cfg.splits:
        tasks, label = resolve_tasks(split, params.data)
        for name, by_seed in checkpoints.items():
            per_seed = {}
            for seed, path in by_seed.items():
                if not path.exists():
                    raise FileNotFoundError(f"no checkpoint {path}: run the {name} stage first")
                with open_policy(str(path), params) as (factory, workers):
                    per_seed[seed] = run_and_record(params, factory, str(path), tasks, label, layout.eval_dir(cfg, name, seed, split), seed=0,
                                                    progress=False, train_seed=seed, workers=workers)  # run name: eval-grpo-seed0-best-dev, ...  # fmt: skip
            first = next(iter(per_seed.values()))
            summary.setdefault(name, {})[split] = {
                "seeds": list(by_seed),
                **{k: mean_std([m[k] for m in per_seed.values()]) for k in SEED_KEYS},
                "by_type_f1": {t: mean_std([m["by_type"][t]["f1"] for m in per_seed.values()]) for t in first["by_type"]},
                "per_seed": {str(s): {k: m[k] for k in SEED_KEYS} for s, m in per_seed.items()},
            }
        summary["grpo"][split]["paired"] = paired_against(params, split)
    atomic_write_json(layout.eval_metrics(cfg), summary)
    atomic_write_json(
        layout.budgets_metrics(cfg), {"split": params.baseline.split, "budgets": under_budgets(params, params.baseline.split)}
    )
    return summary


def main(params: Params) -> int:
    summary = evaluate_checkpoints(params)
    baseline_path = layout.baseline_metrics(params.baseline)
    baselines = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}
    table = seeds_table(summary, baselines, params.baseline.split)
    atomic_write_text(Path(params.evaluate.out_dir) / "table.md", table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
