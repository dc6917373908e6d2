"""The frozen evaluation harness (the `baseline` stage, and `explorer eval`).

`explorer eval --policy NAME --tasks PATH_OR_SPLIT --out DIR` writes
- DIR/metrics.json: n, f1, em, answer_rate, avg_opens, avg_tokens_read (plus avg_steps,
  invalid_rate, gold_recall, stop reasons) overall and under `by_type` per question type;
- DIR/predictions.json: {"<_id>": "<answer>"}, the official 2Wiki answer format ("" when the
  episode ended without an answer);
- DIR/episodes.jsonl: one full trajectory per line, with its task and env config so that
  `explorer episodes show` can replay it exactly.
Every episode gets its own rng seeded from (seed, task id), so results do not depend on the
order or the subset of tasks. Scorer, splits and this harness change only on purpose.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from explorer.config import EnvConfig, Params
from explorer.data import task_to_dict
from explorer.env import ExplorerEnv
from explorer.io import atomic_write_json, atomic_write_jsonl
from explorer.policies import Policy, make_policy
from explorer.reward import RewardConfig
from explorer.types import Episode, Task


def episode_rng(seed: int, task_id: str) -> random.Random:
    return random.Random(f"{seed}:{task_id}")


def run_episode(task: Task, policy: Policy, env_cfg: EnvConfig, reward_cfg: RewardConfig, rng: random.Random, name: str) -> Episode:
    env = ExplorerEnv(task, env_cfg, reward_cfg)
    obs = env.initial_observation()
    while not env.done:
        obs = env.step(policy(obs, rng)).observation
    return env.to_episode(name)


def aggregate(episodes: list[Episode]) -> dict[str, Any]:
    n = len(episodes)
    if n == 0:
        return {"n": 0}

    def mean(key: str) -> float:
        return round(sum(e.metrics[key] for e in episodes) / n, 4)

    return {
        "n": n,
        "f1": mean("f1"),
        "em": mean("em"),
        "answer_rate": mean("answered"),
        "avg_opens": mean("opens"),
        "avg_tokens_read": mean("tokens_read"),
        "avg_steps": mean("steps"),
        "avg_reward": mean("reward"),
        "invalid_per_episode": mean("invalid"),
        "gold_recall": mean("gold_recall"),
        "stop_reasons": dict(Counter(str(e.stop_reason) for e in episodes)),
    }


def summarize(tasks: list[Task], episodes: list[Episode]) -> dict[str, Any]:
    types = {t.id: t.type for t in tasks}
    by_type: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_type[types[e.task_id]].append(e)
    metrics = aggregate(episodes)
    metrics["by_type"] = {k: aggregate(v) for k, v in sorted(by_type.items())}
    return metrics


def evaluate(
    tasks: list[Task], policy: str | Policy, env_cfg: EnvConfig, reward_cfg: RewardConfig, seed: int = 0, progress: bool = True
) -> tuple[dict[str, Any], list[Episode]]:
    """Run `policy` (a name / checkpoint path, or a policy callable) once on every task."""
    policy_name = policy if isinstance(policy, str) else type(policy).__name__
    it: Iterable[Task] = tasks
    if progress:
        from tqdm import tqdm

        it = tqdm(tasks, desc=f"eval {policy_name}", unit="q", file=sys.stderr, leave=False, disable=None)  # off when not a TTY
    episodes = [
        run_episode(
            t, make_policy(policy, t) if isinstance(policy, str) else policy, env_cfg, reward_cfg, episode_rng(seed, t.id), policy_name
        )
        for t in it
    ]
    return summarize(tasks, episodes), episodes


def write_outputs(
    out_dir: Path, tasks: list[Task], episodes: list[Episode], metrics: dict[str, Any], env_cfg: EnvConfig, reward_cfg: RewardConfig
) -> None:
    task_by_id = {t.id: t for t in tasks}
    # "reward" is the episode's reward value; the configs go under their own keys
    configs = {"env_config": asdict(env_cfg), "reward_config": asdict(reward_cfg)}
    atomic_write_jsonl(
        out_dir / "episodes.jsonl",
        ({**e.to_dict(), **configs, "task": task_to_dict(task_by_id[e.task_id])} for e in episodes),
    )
    atomic_write_json(out_dir / "predictions.json", {e.task_id: e.answer or "" for e in episodes})
    atomic_write_json(out_dir / "metrics.json", metrics)


def summary_line(policy: str, tasks_label: str, m: dict[str, Any], seconds: float) -> str:
    return (
        f"eval {policy} on {tasks_label} ({m['n']} questions): f1={m['f1']:.3f} em={m['em']:.3f} "
        f"answer_rate={m['answer_rate']:.3f} avg_opens={m['avg_opens']:.2f} "
        f"avg_tokens_read={m['avg_tokens_read']:.1f} [{seconds:.1f}s]"
    )


def flat_metrics(m: dict[str, Any], prefix: str = "eval") -> dict[str, float]:
    """Namespaced numbers for MLflow: eval/f1, eval/compositional/f1, ..."""
    out = {f"{prefix}/{k}": float(v) for k, v in m.items() if isinstance(v, int | float) and k not in ("eval_seed", "train_seed")}
    for qtype, sub in m.get("by_type", {}).items():
        out.update({f"{prefix}/{qtype}/{k}": float(v) for k, v in sub.items() if isinstance(v, int | float)})
    return out


def run_and_record(
    params: Params,
    policy: str,
    tasks: list[Task],
    tasks_label: str,
    out_dir: Path,
    seed: int,
    progress: bool = True,
    run_name: str | None = None,
    train_seed: int | None = None,
) -> dict[str, Any]:
    """Evaluate, write the three outputs, log one MLflow run, print the summary line.

    `seed` drives the policy's own randomness (the random baseline; greedy checkpoints ignore it);
    `train_seed` is the training seed of a checkpoint (None for the rule baselines)."""
    from explorer.policies.llm import is_tinker_pointer
    from explorer.tracking import stage_run

    t0 = time.perf_counter()
    if is_tinker_pointer(policy):
        # same greedy episodes as the harness, but every task's requests in flight together: one
        # request at a time against the real service would take hours (tested equal).
        from explorer.train.tinker_train import evaluate_pointer

        metrics, episodes = evaluate_pointer(tasks, policy, params)
    else:
        metrics, episodes = evaluate(tasks, policy, params.env, params.reward, seed, progress)
    seconds = time.perf_counter() - t0
    metrics = {"policy": policy, "tasks": tasks_label, "eval_seed": seed, "train_seed": train_seed, **metrics}
    write_outputs(out_dir, tasks, episodes, metrics, params.env, params.reward)
    print(summary_line(policy, tasks_label, metrics, seconds))
    with stage_run(params.tracking, run_name or f"eval-{policy}", {"stage": "eval", "policy": policy, "tasks": tasks_label}) as run:
        run.log_params(
            {
                "policy": policy,
                "tasks": tasks_label,
                "eval_seed": seed,
                "train_seed": train_seed,
                **{f"env.{k}": v for k, v in asdict(params.env).items()},
                **{f"reward.{k}": v for k, v in asdict(params.reward).items()},
            }
        )
        run.log_metrics({**flat_metrics(metrics), "eval/seconds": seconds})
        for name in ("metrics.json", "predictions.json", "episodes.jsonl"):
            run.log_artifact(out_dir / name)
    return metrics


def mean_std(values: list[float]) -> dict[str, float]:
    n = len(values)
    mean = sum(values) / n
    std = (sum((v - mean) ** 2 for v in values) / (n - 1)) ** 0.5 if n > 1 else 0.0
    return {"mean": round(mean, 4), "std": round(std, 4), "min": round(min(values), 4), "max": round(max(values), 4)}


SEED_KEYS = ("f1", "em", "answer_rate", "avg_opens", "avg_tokens_read")


def per_question_f1(episodes_path: Path) -> dict[str, float]:
    with Path(episodes_path).open(encoding="utf-8") as f:
        return {d["task_id"]: float(d["metrics"]["f1"]) for d in map(json.loads, f)}


def paired_comparison(a: dict[str, float], b: dict[str, float], resamples: int = 10_000, seed: int = 0) -> dict[str, Any]:
    """Policy a against policy b on the same questions: how many answers got better / worse, and
    the mean F1 difference with a 95% paired-bootstrap interval. Seeds differ in training, but the
    question sample is one draw: this interval is what says whether a gain is inside the noise."""
    import numpy as np

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


def paired_against(params: Params, split: str) -> dict[str, Any]:
    """GRPO of each seed against its own SFT checkpoint and against the heuristic baseline."""
    out = Path(params.evaluate.out_dir)
    heuristic = Path(params.baseline.out_dir) / "runs" / "heuristic" / "episodes.jsonl"

    def f1(name: str, seed: int) -> dict[str, float]:
        return per_question_f1(out / name / f"seed{seed}" / split / "episodes.jsonl")

    return compare_seeds(
        {s: f1("grpo", s) for s in params.train.seeds},
        {s: f1("sft", s) for s in params.train.seeds},
        per_question_f1(heuristic) if split == params.baseline.split and heuristic.exists() else None,
    )


def evaluate_checkpoints(params: Params) -> dict[str, Any]:
    """The `evaluate` stage: every seed's SFT checkpoint and GRPO best checkpoint on each split
    of `evaluate.splits`; per-seed outputs plus mean / std / min / max over seeds."""
    from explorer.cli import resolve_tasks
    from explorer.train.grpo import run_dir
    from explorer.train.sft import checkpoint_path

    cfg = params.evaluate
    checkpoints = {
        "sft": {s: checkpoint_path(params.sft, s) for s in params.train.seeds},
        "grpo": {s: run_dir(params.grpo, s) / "best.json" for s in params.train.seeds},
    }
    summary: dict[str, Any] = {}
    for split in cfg.splits:
        tasks, label = resolve_tasks(split, params)
        for name, by_seed in checkpoints.items():
            per_seed = {}
            for seed, path in by_seed.items():
                if not path.exists():
                    raise FileNotFoundError(f"no checkpoint {path}: run the {name} stage first")
                out = Path(cfg.out_dir) / name / f"seed{seed}" / split
                per_seed[seed] = run_and_record(
                    params,
                    str(path),
                    tasks,
                    label,
                    out,
                    seed=0,
                    progress=False,
                    run_name=f"eval-{name}-seed{seed}-{split}",
                    train_seed=seed,
                )
            summary.setdefault(name, {})[split] = {
                "seeds": list(by_seed),
                **{k: mean_std([m[k] for m in per_seed.values()]) for k in SEED_KEYS},
                "by_type_f1": {
                    t: mean_std([m["by_type"][t]["f1"] for m in per_seed.values()]) for t in next(iter(per_seed.values()))["by_type"]
                },
                "per_seed": {str(s): {k: m[k] for k in SEED_KEYS} for s, m in per_seed.items()},
            }
        summary["grpo"][split]["paired"] = paired_against(params, split)
    atomic_write_json(Path(cfg.out_dir) / "metrics.json", summary)
    return summary


def main_evaluate_stage(params: Params | None = None) -> int:
    from explorer.config import load_params
    from explorer.io import atomic_write_text
    from explorer.report import seeds_table

    params = params or load_params()
    summary = evaluate_checkpoints(params)
    baseline_path = Path(params.baseline.out_dir) / "metrics.json"
    baselines = json.loads(baseline_path.read_text()) if baseline_path.exists() else {}
    table = seeds_table(summary, baselines, params.baseline.split)
    atomic_write_text(Path(params.evaluate.out_dir) / "table.md", table)
    print(table)
    return 0
