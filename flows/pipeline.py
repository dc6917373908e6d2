"""The pipeline flow: Prefect outside, `dvc repro --single-item <stage>` in the middle, each stage's
own MLflow runs inside.

One flow run walks the DVC stages in dependency order (flows/dvc_stages.py); each stage is one
Prefect task. DVC decides what is stale, so Prefect caches nothing. The stages that call Tinker
when `train.backend` is `tinker` (sft, grpo, evaluate) are retried with exponential backoff unless
the failure is bad input; every other failure stops the flow at once with the tail of the stage's
output. MLflow (explorer/tracking.py, PipelineRuns): a parent run per flow run with the headline
metrics and the report, a child run per stage that DVC ran.

Run it with `explorer pipeline` / `explorer serve` (flows/entry.py).
"""

import json
import time
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from explorer.config import apply_overrides, flatten, project_root
from explorer.tracking import PipelineRuns
from flows import dvc_stages
from flows.dvc_stages import STAGE_NAMES, StageFailed, StageName

FLOW_NAME = "tinker-explorer-pipeline"
# The stages that call Tinker when train.backend is tinker: network and service faults are worth
# a retry there (sft and grpo resume from their checkpoints). Elsewhere a failure is a bug or bad
# input, and a retry would only repeat it.
RETRIED_STAGES = frozenset({"sft", "grpo", "evaluate"})
BACKEND_KEY = "train.backend"
# `backend`: "params.yaml" keeps train.backend as params.yaml has it (a choice, not None, so that
# the Prefect UI shows a drop-down with a default instead of an untyped field).
Backend = Literal["params.yaml", "local", "tinker"]
KEEP_BACKEND = "params.yaml"


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry only StageFailed.transient; anything else (bad input, a
    missing dvc, a bug here) fails the flow at once."""
    exc = state.result(raise_on_failure=False)  # the exception the attempt raised
    return isinstance(exc, StageFailed) and exc.transient


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient)
def repro_stage(stage: str, root: str, extra_env: dict[str, str], force: bool = False) -> dict[str, Any]:
    """Bring one DVC stage up to date. Returns what DVC did ("ran", "restored" from its run cache,
    or "up to date") and the attempt number; raises StageFailed."""
    logger = get_run_logger()
    attempt = runtime.task_run.run_count or 1  # 1 on the first try, also when called as .fn()
    logger.info("attempt %d: dvc repro --single-item %s%s", attempt, stage, " --force" if force else "")
    outcome = dvc_stages.repro(stage, Path(root), dvc_stages.dvc_env(Path(root), extra_env), force, echo=logger.info)
    if outcome.status == "failed":
        raise StageFailed(stage, outcome, attempt)
    return {"stage": stage, "status": outcome.status, "attempt": attempt}


def git_info(root: Path) -> dict[str, str]:
    """Commit and dirty flag; --no-optional-locks so that reading never rewrites the git index."""
    import subprocess

    def git(*args: str) -> str:
        out = subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    return {
        "git_commit": git("rev-parse", "HEAD") or "unknown",
        "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
    }


def run_tracked(
    runs: PipelineRuns, parent: str | None, stage: str, forced: bool, root: Path, retries: int, delay: float, summary: dict[str, dict]
) -> None:
    """One stage as a Prefect task inside its own MLflow child run. Its outcome goes into `summary`
    either way; if it fails for good, the child run ends FAILED and the error is raised."""
    # "pipeline.stage", not "stage": the stage's own runs carry "stage", and a filter on it should find only them
    child = runs.start(f"stage-{stage}", {"pipeline.stage": stage, "forced": str(forced).lower()}, parent=parent)
    n = retries if stage in RETRIED_STAGES else 0
    stage_task = repro_stage.with_options(
        name=f"stage-{stage}", task_run_name=stage, retries=n, retry_delay_seconds=exponential_backoff(delay)(n)
    )
    env = {"EXPLORER_PROJECT_ROOT": str(root), "MLFLOW_TRACKING_URI": runs.uri} | ({"EXPLORER_PARENT_RUN_ID": child} if child else {})
    t0 = time.perf_counter()
    try:
        out = stage_task(stage, str(root), env, forced)
    except BaseException as e:
        attempts = e.attempt if isinstance(e, StageFailed) else 1
        status = "failed" if isinstance(e, Exception) else "interrupted"
        summary[stage] = {"status": status, "seconds": round(time.perf_counter() - t0, 2), "attempts": attempts}
        runs.end_stage(child, status, {"seconds": summary[stage]["seconds"], "attempts": attempts}, {"error": str(e)[-4000:]})
        raise
    summary[stage] = {"status": out["status"], "seconds": round(time.perf_counter() - t0, 2), "attempts": out["attempt"]}
    runs.end_stage(child, out["status"], {"seconds": summary[stage]["seconds"], "attempts": out["attempt"]})


@flow(name=FLOW_NAME)
def pipeline_flow(
    stages: tuple[StageName, ...] = STAGE_NAMES,
    params_overrides: dict[str, Any] = {},  # noqa: B006 (the UI shows the default; never mutated)
    backend: Backend = KEEP_BACKEND,
    force: bool = False,
    retries: int = 2,
    retry_delay_seconds: float = 10.0,
) -> dict[str, Any]:
    """Run the DVC pipeline, stage by stage. (The Args below are the help texts in the Prefect UI.)

    Args:
        stages: Stages to bring up to date (default: all; none chosen means all too). The stages they depend on are checked as well.
        params_overrides: params.yaml keys to set first, e.g. {"grpo.steps": 10}. Validated, then written into params.yaml.
        backend: train.backend for this run: local or tinker; params.yaml (the default) keeps the one written there.
        force: Rerun the chosen stages even if DVC finds them up to date.
        retries: Retries of sft, grpo and evaluate after a transient failure (not after bad config or data).
        retry_delay_seconds: Wait before the first retry; it doubles after each.
    """
    root = project_root()
    with dvc_stages.pipeline_lock(root):  # one run per checkout: a second one fails here at once
        return _run(root, list(stages), dict(params_overrides), backend, force, retries, retry_delay_seconds)


def _run(root: Path, stages: list[str], overrides_in: dict[str, Any], backend: str, force: bool, retries: int, delay: float) -> dict:
    logger = get_run_logger()
    t_flow = time.perf_counter()

    # Everything that can be wrong with the request fails here, before a stage runs or a run is logged.
    plan = dvc_stages.plan_stages(*dvc_stages.stage_graph(root), stages, force)
    overrides = dict(flatten(overrides_in))
    if backend != KEEP_BACKEND:
        overrides[BACKEND_KEY] = backend
    params = apply_overrides(root / "params.yaml", overrides)
    logger.info(
        "project %s; overrides: %s; plan: %s", root, overrides or "none", ", ".join(s + (" (forced)" if f else "") for s, f in plan)
    )

    runs = PipelineRuns(params.tracking, root)
    tags = {
        "prefect.flow_run_id": str(runtime.flow_run.id or ""),
        "prefect.flow_run_name": str(runtime.flow_run.name or ""),
        "prefect.deployment": str(runtime.deployment.name or ""),
        "stages": ",".join(s for s, _ in plan),
        "backend": params.train.backend,
        **git_info(root),
    }
    parent = runs.start(f"pipeline-{runtime.flow_run.name or 'local'}", tags)
    runs.log(parent, params={f"override.{k}": json.dumps(v) for k, v in overrides.items()} | {"force": force, "stages": ",".join(stages)})

    summary: dict[str, dict[str, Any]] = {}
    status = "FAILED"
    artifacts: list[str] = []
    try:
        for stage, forced in plan:
            run_tracked(runs, parent, stage, forced, root, retries, delay, summary)
            r = summary[stage]
            logger.info("stage %s: %s in %.1f s (attempt %d)", stage, r["status"], r["seconds"], r["attempts"])
        status = "FINISHED"
    except BaseException as e:
        status = "FAILED" if isinstance(e, Exception) else "KILLED"
        raise
    finally:
        # Wall time per stage, the headline metrics and the report into the parent run, and a
        # table into the Prefect UI, also on failure (from the stages that got done).
        done = {s for s, r in summary.items() if r["status"] not in ("failed", "interrupted")}
        metrics = {f"stage_seconds/{s}": r["seconds"] for s, r in summary.items()}
        metrics |= {f"stage_attempts/{s}": r["attempts"] for s, r in summary.items()}
        runs.log(parent, metrics=metrics | {"total_seconds": round(time.perf_counter() - t_flow, 2)})
        try:
            artifacts = runs.log_results(parent, params, done)
        except Exception as e:  # noqa: BLE001 (a logging fault must not hide the stages' outcome)
            logger.warning("could not log the results into MLflow run %s: %s", parent, e)
        runs.end(parent, status)
        table = "| stage | status | seconds | attempts |\n|---|---|---|---|\n"
        table += "".join(f"| {s} | {r['status']} | {r['seconds']:.1f} | {r['attempts']} |\n" for s, r in summary.items())
        logged = f"\n\nLogged into the parent run: {', '.join(artifacts)}" if artifacts else ""
        if parent:  # the MLflow UI (3.17) shows the run in its model-training view with this URL
            logged += f"\n\nIn the MLflow UI: `#/experiments/{runs.exp_id}/runs/{parent}?workflowType=machine_learning`"
        create_markdown_artifact(
            key="pipeline-summary", markdown=f"**{status}**, MLflow parent run `{parent}` in `{runs.uri}`\n\n{table}{logged}"
        )
    return {"parent_run_id": parent, "stages": summary}
