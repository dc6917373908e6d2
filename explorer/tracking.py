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
# MLflow's HTTP client retries a dead server for minutes by default; a stage says so within
# seconds instead (check_reachable), and a server that dies mid-run costs a GRPO step at most
# this much waiting before its metrics are kept for later (explorer/rl/state.py RunState.flush).
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
PROBE_TIMEOUT_S = 3.0


class TrackingUnavailable(ValueError):
    """The MLflow tracking server does not answer. A ValueError: the CLI prints it as one line and
    exits 2 (fail fast: a stage that cannot record its run says so at once rather than train for
    minutes and lose its MLflow record; `tracking.enabled: false` runs without MLflow)."""


def uri_setting() -> str:
    return "$MLFLOW_TRACKING_URI" if os.environ.get("MLFLOW_TRACKING_URI") else "tracking.uri in params.yaml"


def unavailable(uri: str, error: BaseException | str) -> TrackingUnavailable:
    return TrackingUnavailable(
        f"the MLflow tracking server at {uri} ({uri_setting()}) does not answer ({error}); start it, point "
        "MLFLOW_TRACKING_URI elsewhere (or unset it for the local sqlite store), or set tracking.enabled: false"
    )


def preflight(cfg: TrackingConfig) -> None:
    """At the start of a stage or `explorer eval`: a tracking server that does not answer is an
    error within seconds, before any work or output."""
    if cfg.enabled:
        check_reachable(resolve_uri(cfg))


def check_reachable(uri: str) -> None:
    """For an http(s) tracking URI, one request to its /health endpoint with a short timeout."""
    if not uri.startswith(("http://", "https://")):
        return
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S) as r:
            if r.status != 200:
                raise unavailable(uri, f"HTTP {r.status} from /health")
    except OSError as e:
        raise unavailable(uri, getattr(e, "reason", e)) from None


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
    `<project root>/mlruns` (absolute), wherever the creating process happens to run. It is
    tagged as model training (EXPERIMENT_KIND_TAG), so the MLflow UI opens it on its runs."""
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is not None:
        if EXPERIMENT_KIND_TAG not in exp.tags:  # made before the tag was set: mark it now
            client.set_experiment_tag(exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)
        return exp.experiment_id
    location = None
    if client.tracking_uri.startswith("sqlite:"):
        location = ((root or project_root()) / "mlruns").resolve().as_uri()
    return client.create_experiment(cfg.experiment, artifact_location=location, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})


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

    uri = resolve_uri(cfg)
    check_reachable(uri)  # fail fast, before the stage does any work
    client = MlflowClient(tracking_uri=uri)
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
        try:  # the stage's own error matters more than a server that may have gone with it
            client.set_terminated(run.info.run_id, status="FAILED")
        except Exception as e:
            print(f"note: could not mark MLflow run {run.info.run_id} FAILED at {uri}: {e}", file=sys.stderr)
        raise
    client.set_terminated(run.info.run_id, status="FINISHED")


# -----------------------------------------------------------------------------
# The pipeline flow's runs (flows/pipeline.py): one parent run per flow run, one child run per
# stage that DVC ran; the runs a stage logs itself hang under its child ($EXPLORER_PARENT_RUN_ID).

# The MLflow 3 UI's experiment kind: "custom_model_development" is what its kind selector writes
# for model training (mlflow/server/js bundle: ExperimentKind.CUSTOM_MODEL_DEVELOPMENT, tag
# "mlflow.experimentKind"). The 3.17.2 UI itself picks GenAI or model-training view from a
# per-browser toggle (default GenAI) or the URL's `?workflowType=machine_learning`, checked with
# a headless browser; the tag marks the experiment for the UIs and tools that read it.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
UP_TO_DATE = "up to date"  # the dvc_status of a stage DVC skipped
RESULTS_FILE = "reports/results.md"  # the report stage's outputs (dvc.yaml)
PLOTS_DIR = "reports/plots"


def headline_metrics(root: Path, params: Any, stages: set[str]) -> dict[str, float]:
    """Dev F1 / EM / tokens read of the heuristic (the baseline stage's metrics.json) and of SFT and
    GRPO (the evaluate stage's, mean over seeds), from the stages among `stages`, the ones this
    flow run brought up to date. Keys like `dev/grpo/f1`."""
    import json

    split = params.baseline.split
    out: dict[str, float] = {}

    def read(rel: str) -> dict:
        path = root / rel / "metrics.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    if "baseline" in stages:
        m = read(params.baseline.out_dir).get("heuristic", {})
        out |= {f"{split}/heuristic/{k}": m[k] for k in ("f1", "em", "avg_tokens_read") if k in m}
    if "evaluate" in stages:
        learned = read(params.evaluate.out_dir)
        for policy in ("sft", "grpo"):
            m = learned.get(policy, {}).get(split, {})
            out |= {f"{split}/{policy}/{k}": m[k]["mean"] for k in ("f1", "em", "avg_tokens_read") if k in m}
    return {k: float(v) for k, v in out.items()}


class PipelineRuns:
    """The flow's own MLflow runs, in the store the stages log into (the flow hands its URI to them
    as $MLFLOW_TRACKING_URI). With tracking.enabled false every method is a no-op and run ids are
    None (the stages then log nothing either)."""

    def __init__(self, cfg: TrackingConfig, root: Path):
        self.root, self.uri, self.client, self.exp_id = root, resolve_uri(cfg, root), None, ""
        if cfg.enabled:
            from mlflow.tracking import MlflowClient

            self.client = MlflowClient(tracking_uri=self.uri)
            self.exp_id = experiment_id(self.client, cfg, root)

    def start(self, name: str, tags: Mapping[str, str], parent: str | None = None) -> str | None:
        if self.client is None:
            return None
        tags = {"mlflow.runName": name, **tags} | ({"mlflow.parentRunId": parent} if parent else {})
        return self.client.create_run(self.exp_id, run_name=name, tags=tags).info.run_id

    def log(
        self,
        run_id: str | None,
        params: Mapping[str, Any] | None = None,
        metrics: Mapping[str, float] | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        if self.client is None or run_id is None:
            return
        run = Run(self.client, run_id)
        if params:
            run.log_params(params)
        if metrics:
            run.log_metrics(metrics)
        if tags:
            run.set_tags(tags)

    def end(self, run_id: str | None, status: str) -> None:
        """status: FINISHED, FAILED or KILLED."""
        if self.client is not None and run_id is not None:
            self.client.set_terminated(run_id, status=status)

    def end_stage(self, run_id: str | None, dvc_status: str, metrics: Mapping[str, float], tags: Mapping[str, str] | None = None) -> None:
        """Close a stage's child run. A stage DVC skipped ran nothing and logged nothing, so its
        child run is deleted (tagged first): it would only be an empty row in the UI and in
        `explorer runs compare`. The flow has to open the child before the stage starts, since
        the stage's own runs need its id, and only DVC knows whether the stage will run."""
        if self.client is None or run_id is None:
            return
        self.log(run_id, metrics=metrics, tags={"dvc_status": dvc_status, **(tags or {})})
        self.end(run_id, {"failed": "FAILED", "interrupted": "KILLED"}.get(dvc_status, "FINISHED"))
        if dvc_status == UP_TO_DATE:
            self.client.delete_run(run_id)

    def log_results(self, run_id: str | None, params: Any, stages: set[str]) -> list[str]:
        """The headline metrics into the parent run and, if the report stage was among `stages`,
        reports/results.md and every PNG under reports/plots/ as its artifacts. Returns the
        artifact paths logged."""
        if self.client is None or run_id is None:
            return []
        self.log(run_id, metrics=headline_metrics(self.root, params, stages))
        if "report" not in stages:
            return []
        files = [self.root / RESULTS_FILE] if (self.root / RESULTS_FILE).exists() else []
        plots = sorted((self.root / PLOTS_DIR).glob("*.png"))
        for path in files:
            self.client.log_artifact(run_id, str(path))
        for path in plots:
            self.client.log_artifact(run_id, str(path), "plots")
        return [p.name for p in files] + [f"plots/{p.name}" for p in plots]
