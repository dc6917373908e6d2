"""MLflow: one run per stage invocation, metrics logged in batches.

The tracking URI is made absolute: a relative `sqlite:///mlflow.db` is resolved against the
project root (`explorer.config.project_root`: $EXPLORER_PROJECT_ROOT, else the repo that holds a
DVC temporary experiment copy, else the current folder), so runs made by `dvc exp run --temp`
or queued experiments land in the project's store, not in the throwaway copy.
$MLFLOW_TRACKING_URI, when set, wins over params.yaml.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from explorer.config import TrackingConfig, project_root

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def resolve_uri(cfg: TrackingConfig, root: Path | None = None) -> str:
    """$MLFLOW_TRACKING_URI or `tracking.uri`, a relative sqlite path made absolute against
    `root` (default: the project root)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or cfg.uri
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        rel = uri.removeprefix("sqlite:///")
        return f"sqlite:///{((root or project_root()) / rel).resolve()}"
    return uri


def experiment_id(client: Any, cfg: TrackingConfig, root: Path | None = None) -> str:
    """The project's experiment, created on first use. With a local store its artifacts go to
    `<project root>/mlruns` (absolute), wherever the creating process happens to run."""
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is not None:
        return exp.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        location = ((root or project_root()) / "mlruns").resolve().as_uri()
    return client.create_experiment(cfg.experiment, artifact_location=location)


class NullRun:
    """Stands in for an MLflow run when tracking is disabled, so stage code has one path."""

    run_id = None

    def log_params(self, params: Mapping[str, Any]) -> None: ...
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None: ...
    def log_metrics_history(self, points: list[tuple[int, Mapping[str, float]]]) -> None: ...
    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None: ...
    def set_tags(self, tags: Mapping[str, str]) -> None: ...


class Run(NullRun):
    def __init__(self, client: Any, run_id: str):
        self.client, self.run_id = client, run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None) -> None:
        from mlflow.entities import Metric

        now = timestamp if timestamp is not None else int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def log_metrics_history(self, points: list[tuple[int, Mapping[str, float]]]) -> None:
        """A whole curve in as few calls as possible: (step, {key: value}) points."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step) for step, m in points for k, v in m.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[i : i + 1000])

    def log_artifact(self, path: Path | str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def _reopen(client: Any, run_id: str, exp_id: str) -> Any:
    """The run a killed stage was logging into, marked RUNNING again; None if it was deleted or
    lives in another store/experiment (e.g. the tracking URI changed between the two processes)."""
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        return None
    if run.info.lifecycle_stage != "active" or run.info.experiment_id != exp_id:
        return None
    client.update_run(run_id, status="RUNNING")
    return run


@contextmanager
def stage_run(cfg: TrackingConfig, run_name: str, tags: Mapping[str, str] | None = None, run_id: str | None = None) -> Iterator[NullRun]:
    """An MLflow run for one stage; ends FAILED if the body raises. With `run_id` (a resumed
    stage), that run is reopened and continued instead of starting a new one."""
    if not cfg.enabled:
        yield NullRun()
        return
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=resolve_uri(cfg))
    exp_id = experiment_id(client, cfg)
    all_tags = {"mlflow.runName": run_name, **(tags or {})}
    parent = os.environ.get("EXPLORER_PARENT_RUN_ID")
    if parent:
        all_tags["mlflow.parentRunId"] = parent
    run = _reopen(client, run_id, exp_id) if run_id is not None else None
    if run is None:
        if run_id is not None:
            print(
                f"note: MLflow run {run_id} of the interrupted stage is gone from {resolve_uri(cfg)}; logging into a new run",
                file=sys.stderr,
            )
        run = client.create_run(exp_id, run_name=run_name, tags=all_tags)
    try:
        yield Run(client, run.info.run_id)
    except BaseException:
        client.set_terminated(run.info.run_id, status="FAILED")
        raise
    client.set_terminated(run.info.run_id, status="FINISHED")
