"""`explorer runs compare`: MLflow runs side by side in the terminal (the MLflow UI does the same
with plots: `mlflow ui --backend-store-uri sqlite:///$PWD/mlflow.db --host 127.0.0.1`)."""

from __future__ import annotations

from typing import Any

from explorer.config import TrackingConfig
from explorer.tracking import UP_TO_DATE, resolve_uri

DEFAULT_KEYS = ("eval/f1", "eval/em", "eval/avg_tokens_read", "val/f1", "reward/mean", "budget/tokens_read", "sft/accuracy")
# the headline metrics a pipeline parent run holds (explorer.tracking.headline_metrics)
DEFAULT_KEYS += ("dev/heuristic/f1", "dev/sft/f1", "dev/grpo/f1", "dev/grpo/em", "dev/grpo/avg_tokens_read")


def compare_table(runs: list[Any], keys: tuple[str, ...]) -> str:
    """Markdown: one column per run (name, stage, status, start), one row per metric (last value)
    and per param that differs between the runs."""
    header = ["", *[f"{r.info.run_name} ({r.info.run_id[:8]})" for r in runs]]
    rows = [["stage", *[r.data.tags.get("stage", "-") for r in runs]], ["status", *[r.info.status for r in runs]]]
    parent = [r.data.tags.get("mlflow.parentRunId", "")[:8] or "-" for r in runs]
    if any(p != "-" for p in parent):
        rows.append(["parent run", *parent])
    present = [k for k in keys if any(k in r.data.metrics for r in runs)]
    rows += [[k, *[f"{r.data.metrics[k]:.4g}" if k in r.data.metrics else "-" for r in runs]] for k in present]
    params = sorted({p for r in runs for p in r.data.params})
    for p in params:
        values = [r.data.params.get(p, "-") for r in runs]
        if len(set(values)) > 1:
            rows.append([f"param {p}", *values])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def fetch_runs(cfg: TrackingConfig, run_ids: list[str], stage: str | None, last: int) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=resolve_uri(cfg))
    if run_ids:
        return [client.get_run(r) for r in run_ids]
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment {cfg.experiment!r} at {resolve_uri(cfg)}: run a stage first")
    query = f"tags.stage = '{stage}'" if stage else ""
    # Child runs of stages DVC skipped are deleted by the flow (explorer.tracking.PipelineRuns), so
    # search_runs (active runs only) does not list them; stores written before that still hold
    # them as active runs tagged dvc_status "up to date": those are left out here.
    runs, token = [], None
    while len(runs) < last:
        page = client.search_runs(
            [exp.experiment_id], query, order_by=["attributes.start_time DESC"], max_results=max(last, 100), page_token=token
        )
        runs += [r for r in page if r.data.tags.get("dvc_status") != UP_TO_DATE]
        token = page.token
        if not token:
            break
    return runs[:last]


def latest_grpo_seeds(cfg: TrackingConfig) -> tuple[list[Any], dict[str, Any]]:
    """The most recent GRPO run of each seed (the latest pipeline's, or the latest `explorer grpo`),
    and for each the latest `dev` evaluation of its best checkpoint (by the checkpoint path tag)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=resolve_uri(cfg))
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is None:
        raise ValueError(f"no MLflow experiment {cfg.experiment!r} at {resolve_uri(cfg)}: run a stage first")
    order = ["attributes.start_time DESC"]
    by_seed: dict[str, Any] = {}
    for r in client.search_runs([exp.experiment_id], "tags.stage = 'grpo'", order_by=order, max_results=200):
        by_seed.setdefault(r.data.tags.get("seed", "?"), r)
    runs = [by_seed[s] for s in sorted(by_seed)]
    evals = {}
    for r in runs:
        ckpt = r.data.tags.get("checkpoint.best")
        if ckpt:
            found = client.search_runs(
                [exp.experiment_id], f"tags.stage = 'eval' and tags.policy = '{ckpt}' and tags.tasks = 'dev'", order_by=order, max_results=1
            )
            if found:
                evals[r.info.run_id] = found[0]
    return runs, evals


def grpo_seeds_table(runs: list[Any], evals: dict[str, Any]) -> str:
    """Markdown: one column per seed's GRPO run: best step and val reward (what chose best.json),
    the final dev F1 and tokens read of that checkpoint, and the checkpoint itself."""

    def metric(run: Any, key: str, nd: int = 3) -> str:
        return f"{run.data.metrics[key]:.{nd}f}" if run is not None and key in run.data.metrics else "-"

    header = ["", *[f"seed {r.data.tags.get('seed', '?')}: {r.info.run_name} ({r.info.run_id[:8]})" for r in runs]]
    rows = [
        ["status", *[r.info.status for r in runs]],
        ["best step", *[r.data.tags.get("best_step", "-") for r in runs]],
        ["best val reward", *[metric(r, "best/val_reward") for r in runs]],
        ["best val F1", *[metric(r, "best/val_f1") for r in runs]],
        ["last train reward/mean", *[metric(r, "reward/mean") for r in runs]],
        ["dev F1 (best.json)", *[metric(evals.get(r.info.run_id), "eval/f1") for r in runs]],
        ["dev tokens read", *[metric(evals.get(r.info.run_id), "eval/avg_tokens_read", 1) for r in runs]],
        ["checkpoint", *[r.data.tags.get("tinker.best_sampler_path") or r.data.tags.get("checkpoint.best", "-") for r in runs]],
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
