"""The frozen evaluation harness: one policy on a list of tasks, scored, written, logged.

Used by `explorer eval`, the baseline, demos and evaluate stages, and GRPO's val evaluation.
`run_and_record` writes
- DIR/metrics.json: n, f1, em, answer_rate, avg_opens, avg_tokens_read (plus avg_steps,
  invalid_per_episode, gold_recall, stop reasons) overall and under `by_type` per question type;
- DIR/predictions.json: {"<_id>": "<answer>"}, the official 2Wiki answer format ("" when the
  episode ended without an answer);
- DIR/episodes.jsonl: one full trajectory per line, with its task and env config so that
  `explorer episodes show` can replay it exactly.
Every episode gets its own rng seeded from (seed, task id), so results do not depend on the
order or the subset of tasks. The harness knows nothing of training: it takes a policy factory
(explorer/checkpoints.py turns a name or a checkpoint into one). Scorer, splits and this harness
change only on purpose, with before/after numbers.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from explorer.config import EnvConfig, Params
from explorer.data.tasks import task_to_dict
from explorer.env import ExplorerEnv
from explorer.io import atomic_write_json, atomic_write_jsonl
from explorer.reward import RewardConfig
from explorer.rollout import EpisodeJob, episode_rng, run_episodes
from explorer.tracking import stage_run
from explorer.types import Episode, PolicyFactory, Task


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
        "avg_tokens_shown": mean("tokens_shown"),
        "avg_steps": mean("steps"),
        "avg_reward": mean("reward"),
        "invalid_per_episode": mean("invalid"),
        "gold_recall": mean("gold_recall"),
        "stop_reasons": dict(Counter(str(e.stop_reason) for e in episodes)),
    }


def metrics_by_type(tasks: list[Task], episodes: list[Episode]) -> dict[str, Any]:
    """`aggregate` over all episodes, and under `by_type` per question type."""
    types = {t.id: t.type for t in tasks}
    by_type: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_type[types[e.task_id]].append(e)
    metrics = aggregate(episodes)
    metrics["by_type"] = {k: aggregate(v) for k, v in sorted(by_type.items())}
    return metrics


def evaluate_policy(
    tasks: list[Task],
    factory: PolicyFactory,
    name: str,
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    seed: int = 0,
    progress: bool = True,
    workers: int = 1,
) -> tuple[dict[str, Any], list[Episode]]:
    """One episode of a fresh `factory(task)` policy on every task; episodes are named `name`.
    `workers` > 1 runs episodes on threads (policies that wait on a remote sampler)."""
    jobs = [EpisodeJob(ExplorerEnv(t, env_cfg, reward_cfg), factory(t), episode_rng(seed, t.id), name) for t in tasks]
    episodes = run_episodes(jobs, workers, progress=f"eval {name}" if progress else None)
    return metrics_by_type(tasks, episodes), episodes


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
    factory: PolicyFactory,
    policy: str,
    tasks: list[Task],
    tasks_label: str,
    out_dir: Path,
    seed: int,
    progress: bool = True,
    run_name: str | None = None,
    train_seed: int | None = None,
    workers: int = 1,
) -> dict[str, Any]:
    """Evaluate, write the three outputs, log one MLflow run, print the summary line.

    `policy` names the policy (a baseline's name or a checkpoint's path); `seed` drives the
    policy's own randomness (the random baseline; greedy checkpoints ignore it); `train_seed` is the
    training seed of a checkpoint (None for the rule baselines)."""
    t0 = time.perf_counter()
    metrics, episodes = evaluate_policy(tasks, factory, policy, params.env, params.reward, seed, progress, workers)
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
