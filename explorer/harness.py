"""The frozen evaluation harness: one policy on a list of tasks, scored, written, logged.

Used by `explorer eval`, the baseline, demos and evaluate stages, and GRPO's val evaluation.
`run_and_record` writes
- DIR/metrics.json: n, f1, em, answer_rate, avg_opens, avg_tokens_read (plus avg_steps,
  invalid_per_episode, gold_recall, stop reasons) overall and under `by_type` per question type;
- DIR/predictions.json: {"<_id>": "<answer>"}, the official 2Wiki answer format ("" when the
  episode ended without an answer);
- DIR/episodes.jsonl: one full trajectory per line, with its task and env config so that
  `explorer episodes show` can replay it exactly;
- DIR/viewer.html: the same episodes in a self-contained page for the browser (explorer/viewer.py).
Every episode gets its own rng seeded from (seed, task id), so results do not depend on the
order or the subset of tasks. The harness knows nothing of training: it takes a policy factory
(explorer/checkpoints.py turns a name or a checkpoint into one). Scorer, splits and this harness
change only on purpose, with before/after numbers.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from explorer.config import EnvConfig, Params
from explorer.data.records import DataError, json_lines
from explorer.data.tasks import task_from_dict, task_to_dict
from explorer.env import ExplorerEnv
from explorer.io import atomic_write_files, json_text, jsonl_text
from explorer.layout import SPLITS
from explorer.reward import RewardConfig
from explorer.rollout import EpisodeJob, episode_rng, run_episodes
from explorer.tracking import stage_run
from explorer.types import Episode, PolicyFactory, Task
from explorer.viewer import eval_page

VIEWER_FILE = "viewer.html"  # next to episodes.jsonl


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
    out_dir: Path,
    tasks: list[Task],
    episodes: list[Episode],
    metrics: dict[str, Any],
    env_cfg: EnvConfig,
    reward_cfg: RewardConfig,
    viewer_title: str | None = None,
) -> None:
    """episodes.jsonl, predictions.json, metrics.json (and, with `viewer_title`, viewer.html),
    written as one set: a failure leaves all the previous files, never a mix."""
    task_by_id = {t.id: t for t in tasks}
    # "reward" is the episode's reward value; the configs go under their own keys
    configs = {"env_config": asdict(env_cfg), "reward_config": asdict(reward_cfg)}
    lines = [{**e.to_dict(), **configs, "task": task_to_dict(task_by_id[e.task_id])} for e in episodes]
    texts = {
        out_dir / "episodes.jsonl": jsonl_text(lines),
        out_dir / "predictions.json": json_text({e.task_id: e.answer or "" for e in episodes}),
        out_dir / "metrics.json": json_text(metrics),
    }
    if viewer_title is not None:
        texts[out_dir / VIEWER_FILE] = eval_page(viewer_title, lines, metrics)
    atomic_write_files(texts)


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
        out.update({f"{prefix}/{_metric_safe(qtype)}/{k}": float(v) for k, v in sub.items() if isinstance(v, int | float)})
    return out


def _metric_safe(qtype: str) -> str:
    # A question type comes from the data file: MLflow rejects metric names over 250 characters or
    # with characters outside [A-Za-z0-9_-. /], which would fail the run after the evaluation.
    return re.sub(r"[^A-Za-z0-9_.-]", "_", qtype)[:64] or "_"


def short_name(policy: str) -> str:
    """A readable name for a policy: a baseline's name as is; a checkpoint `<stage>/seed<N>/<file>.json`
    as `<stage>-seed<N>-<file>` (models/grpo/seed0/best.json -> grpo-seed0-best; an SFT
    `policy.json` -> sft-seed0); any other file its stem."""
    path = Path(policy)
    if path.suffix != ".json":
        return policy
    parent, stage = path.parent.name, path.parent.parent.name
    if re.fullmatch(r"seed\d+", parent) and stage:
        return f"{stage}-{parent}" + ("" if path.stem == "policy" else f"-{path.stem}")
    return path.stem


def eval_run_name(policy: str, tasks_label: str) -> str:
    """`eval-grpo-seed0-best-dev`: the policy's short name and the split (a task file: its stem)."""
    tasks = tasks_label if tasks_label in SPLITS else Path(tasks_label).stem
    return f"eval-{short_name(policy)}-{tasks}"


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
    if not tasks:  # before anything is written: no outputs for nothing
        raise ValueError(f"{tasks_label}: no tasks to evaluate")
    tags = {"stage": "eval", "policy": policy, "tasks": tasks_label}
    if Path(policy).suffix == ".json" and Path(policy).is_file():
        tags["checkpoint.sha256"] = hashlib.sha256(Path(policy).read_bytes()).hexdigest()[:16]  # joins it to its training run
    # the run is opened before the evaluation, so its duration is the evaluation's
    with stage_run(params.tracking, run_name or eval_run_name(policy, tasks_label), tags) as run:
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
        t0 = time.perf_counter()
        metrics, episodes = evaluate_policy(tasks, factory, policy, params.env, params.reward, seed, progress, workers)
        seconds = time.perf_counter() - t0
        metrics = {"policy": policy, "tasks": tasks_label, "eval_seed": seed, "train_seed": train_seed, **metrics}
        write_outputs(out_dir, tasks, episodes, metrics, params.env, params.reward, f"eval {short_name(policy)} on {tasks_label}")
        print(summary_line(policy, tasks_label, metrics, seconds))
        run.log_metrics({**flat_metrics(metrics), "eval/seconds": seconds})
        for name in ("metrics.json", "predictions.json", "episodes.jsonl", VIEWER_FILE):
            run.log_artifact(out_dir / name)
    return metrics


def read_episodes(path: Path) -> list[dict[str, Any]]:
    """The lines of an episodes.jsonl this harness wrote (the demos, an eval's output), each
    checked: its task, its configs and its trajectory must load, or a DataError names the file,
    the line and the field. The dicts are returned as read (SFT and `explorer cost` replay them)."""
    if not path.exists():
        raise FileNotFoundError(f"no episodes file at {path}")
    out = []
    for line_no, d in json_lines(path):
        if isinstance(d, DataError):
            raise d
        if not isinstance(d, dict):
            raise DataError(str(path), line_no, "<episode>", f"expected a JSON object, got {type(d).__name__}")
        task_from_dict(d.get("task"), str(path), line_no)
        for key, cls in (("env_config", EnvConfig), ("reward_config", RewardConfig)):
            try:
                cls(**d[key])
            except KeyError:
                raise DataError(str(path), line_no, key, "missing") from None
            except (TypeError, ValueError) as e:
                raise DataError(str(path), line_no, key, f"not a valid {cls.__name__} ({e})") from None
        try:
            Episode.from_dict(d)
        except KeyError as e:
            raise DataError(str(path), line_no, str(e.args[0]), "missing in episode") from None
        except (TypeError, ValueError, AttributeError) as e:
            raise DataError(str(path), line_no, "steps", f"malformed episode ({e})") from None
        out.append(d)
    if not out:
        raise DataError(str(path), 0, "<file>", "no episodes (the file is empty)")
    return out
