"""The pipeline flow: Prefect outside, `dvc repro` in the middle, each stage's own MLflow runs inside.

    python -m flows.pipeline run [--stage S ...] [-S key=value ...] [--backend local|tinker] [--force]
    python -m flows.pipeline serve [--cron "0 3 * * *"] [--name tinker-explorer]

One flow run walks the DVC stages in dependency order; each stage is one Prefect task that runs
`dvc repro --single-item <stage>` in the project root. DVC decides what is stale, so Prefect
caches nothing. The stages that call Tinker when `train.backend` is `tinker` (sft, grpo,
evaluate) are retried with exponential backoff unless the failure is bad input; every other
failure stops the flow at once with the tail of the stage's output.

MLflow: one parent run per flow run (overrides, git commit, wall time per stage), one child run
per stage, and the runs a stage logs itself hang under that stage's child run
($EXPLORER_PARENT_RUN_ID, read by explorer/tracking.py).
"""

import argparse
import copy
import io
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from prefect import flow, get_run_logger, runtime, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from explorer.config import ConfigError, Params, TrackingConfig, from_dict
from explorer.io import atomic_write_text
from explorer.tracking import Run, experiment_id, resolve_uri

REPO = Path(__file__).resolve().parents[1]
# The stages that call Tinker when train.backend is tinker: network and service faults are worth
# a retry there (sft and grpo resume from their checkpoints). Elsewhere a failure is a bug or bad
# input, and a retry would only repeat it.
RETRIED_STAGES = frozenset({"sft", "grpo", "evaluate"})
BAD_INPUT_EXIT = 2  # the `explorer` CLI's exit code for config and data errors (explorer/cli.py)
BACKEND_KEY = "train.backend"
TAIL_LINES = 30


def project_root() -> Path:
    """$EXPLORER_PROJECT_ROOT (what explorer/tracking.py and explorer/data.py read too), else the
    repo this file lives in: not the current folder, since `serve` and its runs may start anywhere."""
    return Path(os.environ.get("EXPLORER_PROJECT_ROOT") or REPO).resolve()


# -----------------------------------------------------------------------------
# Which stages, in which order


def dvc_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # `explorer` (the stages' commands) and `dvc` from this interpreter's venv, also when `serve`
    # was started without activating it.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("DVC_SITE_CACHE_DIR", str(root / ".dvc" / "tmp" / "site_cache"))  # not /var/tmp
    env.update(extra or {})
    return env


def dvc_dag(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The stages (in dvc.yaml order) and their dependency edges (upstream, downstream), from DVC
    itself, so a stage added to dvc.yaml (e.g. `report`) is picked up without touching this file."""
    out = subprocess.run([sys.executable, "-m", "dvc", "dag", "--dot"], cwd=root, env=dvc_env(root), capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"`dvc dag` failed in {root}: {out.stderr.strip() or out.stdout.strip()}")
    nodes = re.findall(r'^"([^"]+)";$', out.stdout, re.M)
    edges = re.findall(r'^"([^"]+)" -> "([^"]+)";$', out.stdout, re.M)
    return nodes, edges


def plan_stages(order: list[str], edges: list[tuple[str, str]], requested: list[str] | None, force: bool) -> list[tuple[str, bool]]:
    """(stage, forced) pairs, upstream first: the requested stages (default: all) and every stage
    they depend on. Each task runs `dvc repro --single-item`, which never looks upstream, so the
    upstream stages get their own tasks; DVC skips the up-to-date ones in about half a second.
    (Plain `dvc repro <stage>` would be correct too, but would run a stale upstream stage inside
    the downstream stage's task: wrong retries, wrong timing, wrong MLflow child run.)
    `force` applies to the requested stages only, not to what they depend on."""
    unknown = sorted(set(requested or ()) - set(order))
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; dvc.yaml has {order}")
    wanted = set(requested or order)
    parents: dict[str, set[str]] = {s: set() for s in order}
    for up, down in edges:
        parents[down].add(up)
    todo, closure = list(wanted), set()
    while todo:
        s = todo.pop()
        if s not in closure:
            closure.add(s)
            todo.extend(parents[s])
    # topological order, ties broken by dvc.yaml order
    ordered: list[str] = []
    while len(ordered) < len(closure):
        s = next(s for s in order if s in closure and s not in ordered and parents[s] & closure <= set(ordered))
        ordered.append(s)
    return [(s, force and s in wanted) for s in ordered]


# -----------------------------------------------------------------------------
# Parameter overrides: params.yaml is the one config, so overrides are written into it


def flatten(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """{"grpo": {"steps": 5}} -> ("grpo.steps", 5): a nested override sets keys, it never replaces a
    whole section (which would silently reset the keys it leaves out to their defaults)."""
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from flatten(v, key + ".")
        else:
            yield key, v


def set_dotted(doc: dict, key: str, value: Any) -> None:
    *path, last = key.split(".")
    if not last or not all(path):
        raise ConfigError(f"override {key!r}: expected dotted keys like grpo.steps")
    node = doc
    for part in path:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {key!r}: {part!r} is not a section")
    old = node.get(last)
    if isinstance(value, list) and getattr(old, "fa", None) is not None and old.fa.flow_style():
        from ruamel.yaml.comments import CommentedSeq

        value = CommentedSeq(value)  # keep `seeds: [0, 1]` on one line as it was written
        value.fa.set_flow_style()
    node[last] = value


def parse_set_params(items: list[str]) -> dict[str, Any]:
    """`-S grpo.steps=5 -S train.seeds=[0]`: values are YAML, as with `dvc exp run -S`."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"-S {item!r}: expected KEY=VALUE, e.g. -S grpo.steps=10")
        out[key.strip()] = yaml.safe_load(value)
    return out


def apply_overrides(path: Path, overrides: dict[str, Any]) -> Params:
    """Validate params.yaml with the overrides applied (explorer.config rejects unknown keys and
    wrong types) and, if anything changes, write it back atomically with its comments kept.
    Like `dvc exp run -S`, the change stays: dvc.lock then records what was run with it, and
    restoring the file afterwards would make every stage that read it stale."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    merged = copy.deepcopy(raw)
    for key, value in overrides.items():
        set_dotted(merged, key, value)
    params = from_dict(Params, merged, f"{path.name} with overrides {overrides}")
    if merged != raw:
        from ruamel.yaml import YAML

        rt = YAML()  # round-trip mode: comments, key order and quoting survive
        rt.preserve_quotes = True
        doc = rt.load(path.read_text(encoding="utf-8"))
        for key, value in overrides.items():
            set_dotted(doc, key, value)
        buf = io.StringIO()
        rt.dump(doc, buf)
        atomic_write_text(path, buf.getvalue())
    return params


# -----------------------------------------------------------------------------
# One stage: `dvc repro --single-item <stage>` as a subprocess


@dataclass
class CommandResult:
    returncode: int
    lines: list[str] = field(default_factory=list)  # stdout and stderr, interleaved as written


def run_command(cmd: list[str], cwd: Path, env: dict[str, str], echo: Callable[[str], None] | None = None) -> CommandResult:
    """Run `cmd`, passing each line of its output to `echo` (the Prefect log) as it comes, so a
    long stage shows progress in the UI."""
    lines = []
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if echo and line.strip():
                echo(line.rstrip("\n"))
    return CommandResult(proc.returncode, lines)


class StageFailed(RuntimeError):
    """A stage's `dvc repro` failed. `command_exit` is the exit code of the stage's own command
    (parsed from DVC's "failed to run: ..., exited with N"), None when DVC failed before running
    it (missing inputs, a bad dvc.yaml)."""

    def __init__(self, stage: str, returncode: int, command_exit: int | None, tail: list[str], attempt: int):
        self.stage, self.returncode, self.command_exit, self.tail, self.attempt = stage, returncode, command_exit, tail, attempt
        cause = f"its command exited with {command_exit}" if command_exit is not None else f"dvc exited with {returncode}"
        if command_exit == BAD_INPUT_EXIT:
            cause += " (bad config or data: not retried)"
        super().__init__(f"stage {stage!r} failed on attempt {attempt}: {cause}. Last {len(tail)} lines of its output:\n" + "\n".join(tail))

    def __reduce__(self) -> tuple:  # pickles with its fields (Prefect may serialize a task's exception)
        return StageFailed, (self.stage, self.returncode, self.command_exit, self.tail, self.attempt)

    @property
    def transient(self) -> bool:
        """Worth a retry: the stage's command ran and died of something other than bad input
        (a Tinker fault, a kill), or another DVC process held the repo lock."""
        if self.command_exit is not None:
            return self.command_exit != BAD_INPUT_EXIT
        return any("Unable to acquire lock" in line for line in self.tail)


def retry_if_transient(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect's retry_condition_fn: retry only StageFailed.transient; anything else (bad input, a
    missing dvc, a bug here) fails the flow at once."""
    exc = state.result(raise_on_failure=False)  # the exception the attempt raised
    return isinstance(exc, StageFailed) and exc.transient


def injected_failure(stage: str) -> bool:
    """Test hook: EXPLORER_FAIL_ONCE=<stage>:<marker file> fails that stage's first attempt as a
    transient fault (creating the marker), and lets later attempts (the marker exists) run."""
    name, _, marker = os.environ.get("EXPLORER_FAIL_ONCE", "").partition(":")
    if name != stage or not marker or Path(marker).exists():
        return False
    Path(marker).touch()
    return True


@task(cache_policy=NO_CACHE, retry_condition_fn=retry_if_transient)
def run_stage(stage: str, root: str, extra_env: dict[str, str], force: bool = False) -> dict[str, Any]:
    """Run one DVC stage. Returns what DVC did ("ran", "restored" from its run cache, or
    "up to date") and the attempt number; raises StageFailed."""
    logger = get_run_logger()
    attempt = runtime.task_run.run_count or 1  # 1 on the first try, also when called as .fn()
    if injected_failure(stage):
        raise StageFailed(stage, 1, 1, ["EXPLORER_FAIL_ONCE: injected transient failure"], attempt)
    cmd = [sys.executable, "-m", "dvc", "repro", "--single-item", stage] + (["--force"] if force else [])
    logger.info("attempt %d: %s", attempt, " ".join(cmd[2:]))
    res = run_command(cmd, Path(root), dvc_env(Path(root), extra_env), echo=logger.info)
    if res.returncode != 0:
        m = re.search(r"failed to run: .*, exited with (-?\d+)", "\n".join(res.lines))
        raise StageFailed(stage, res.returncode, int(m.group(1)) if m else None, res.lines[-TAIL_LINES:], attempt)
    text = "\n".join(res.lines)
    status = "ran" if f"Running stage '{stage}'" in text else "restored" if "is cached - skipping run" in text else "up to date"
    return {"stage": stage, "status": status, "attempt": attempt}


# -----------------------------------------------------------------------------
# MLflow: a parent run per flow run, a child run per stage


class Tracking:
    """The flow's own MLflow runs. With tracking.enabled false every method is a no-op and run ids
    are None (the stages then log nothing either)."""

    def __init__(self, root: Path, cfg: TrackingConfig):
        # The stages get this URI as $MLFLOW_TRACKING_URI, so the parent run and the stages' runs
        # are always in one store, whatever folder `serve` was started from.
        self.uri, self.client, self.exp_id = resolve_uri(cfg, root), None, ""
        if not cfg.enabled:
            return
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=self.uri)
        self.exp_id = experiment_id(self.client, cfg, root)

    def start(self, name: str, tags: dict[str, str], parent: str | None = None) -> str | None:
        if self.client is None:
            return None
        tags = {"mlflow.runName": name, **tags} | ({"mlflow.parentRunId": parent} if parent else {})
        return self.client.create_run(self.exp_id, run_name=name, tags=tags).info.run_id

    def log(
        self,
        run_id: str | None,
        params: dict[str, Any] | None = None,
        metrics: dict[str, float] | None = None,
        tags: dict[str, str] | None = None,
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

    def end(self, run_id: str | None, status: Literal["FINISHED", "FAILED", "KILLED"]) -> None:
        if self.client is not None and run_id is not None:
            self.client.set_terminated(run_id, status=status)


def git_info(root: Path) -> dict[str, str]:
    """Commit and dirty flag; --no-optional-locks so that reading never rewrites the git index."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", "--no-optional-locks", *args], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""

    return {
        "git_commit": git("rev-parse", "HEAD") or "unknown",
        "git_dirty": str(bool(git("status", "--porcelain", "--untracked-files=no"))).lower(),
    }


# -----------------------------------------------------------------------------
# The flow


def run_stage_tracked(
    mlf: Tracking, parent: str | None, stage: str, forced: bool, root: Path, retries: int, delay: float, summary: dict[str, dict[str, Any]]
) -> None:
    """One stage as a Prefect task inside its own MLflow child run. Its outcome goes into
    `summary` either way; if it fails for good, the child run ends FAILED and the error is raised."""
    # "pipeline.stage", not "stage": the stage's own runs carry "stage", and a filter on it should find only them
    child = mlf.start(f"stage-{stage}", {"pipeline.stage": stage, "forced": str(forced).lower()}, parent=parent)
    n = retries if stage in RETRIED_STAGES else 0
    stage_task = run_stage.with_options(
        name=f"stage-{stage}", task_run_name=stage, retries=n, retry_delay_seconds=exponential_backoff(delay)(n)
    )
    env = {"EXPLORER_PROJECT_ROOT": str(root), "MLFLOW_TRACKING_URI": mlf.uri} | ({"EXPLORER_PARENT_RUN_ID": child} if child else {})
    t0 = time.perf_counter()
    try:
        out = stage_task(stage, str(root), env, forced)
    except BaseException as e:
        attempts = e.attempt if isinstance(e, StageFailed) else 1
        summary[stage] = {"status": "failed", "seconds": round(time.perf_counter() - t0, 2), "attempts": attempts}
        mlf.log(
            child,
            metrics={"seconds": summary[stage]["seconds"], "attempts": attempts},
            tags={"dvc_status": "failed", "error": str(e)[-4000:]},
        )
        mlf.end(child, "FAILED")
        raise
    summary[stage] = {"status": out["status"], "seconds": round(time.perf_counter() - t0, 2), "attempts": out["attempt"]}
    mlf.log(child, metrics={"seconds": summary[stage]["seconds"], "attempts": out["attempt"]}, tags={"dvc_status": out["status"]})
    mlf.end(child, "FINISHED")


@flow(name="tinker-explorer-pipeline")
def pipeline(
    stages: list[str] | None = None,
    params_overrides: dict[str, Any] | None = None,
    backend: Literal["local", "tinker"] | None = None,
    force: bool = False,
    retries: int = 2,
    retry_delay_seconds: float = 10.0,
) -> dict[str, Any]:
    """Run the DVC pipeline, stage by stage. (The Args below are the help texts in the Prefect UI.)

    Args:
        stages: Stages to bring up to date (default: all). The stages they depend on are checked too.
        params_overrides: params.yaml keys to set first, e.g. {"grpo.steps": 10}. Validated, then written into params.yaml.
        backend: Sets train.backend: local or tinker. Empty keeps what params.yaml says.
        force: Rerun the named stages even if DVC finds them up to date.
        retries: Retries of sft, grpo and evaluate after a transient failure (not after bad config or data).
        retry_delay_seconds: Wait before the first retry; it doubles after each.
    """
    logger = get_run_logger()
    root = project_root()
    t_flow = time.perf_counter()

    # Everything that can be wrong with the request fails here, before a stage runs or a run is logged.
    plan = plan_stages(*dvc_dag(root), stages, force)
    overrides = dict(flatten(params_overrides or {}))
    if backend:
        overrides[BACKEND_KEY] = backend
    params = apply_overrides(root / "params.yaml", overrides)
    logger.info(
        "project %s; overrides: %s; plan: %s", root, overrides or "none", ", ".join(s + (" (forced)" if f else "") for s, f in plan)
    )

    mlf = Tracking(root, params.tracking)
    tags = {
        "prefect.flow_run_id": str(runtime.flow_run.id or ""),
        "prefect.flow_run_name": str(runtime.flow_run.name or ""),
        "prefect.deployment": str(runtime.deployment.name or ""),
        "stages": ",".join(s for s, _ in plan),
        "backend": params.train.backend,
        **git_info(root),
    }
    parent = mlf.start(f"pipeline-{runtime.flow_run.name or 'local'}", tags)
    mlf.log(
        parent, params={f"override.{k}": json.dumps(v) for k, v in overrides.items()} | {"force": force, "stages": ",".join(stages or [])}
    )

    summary: dict[str, dict[str, Any]] = {}
    status: Literal["FINISHED", "FAILED"] = "FAILED"
    try:
        for stage, forced in plan:
            run_stage_tracked(mlf, parent, stage, forced, root, retries, retry_delay_seconds, summary)
            r = summary[stage]
            logger.info("stage %s: %s in %.1f s (attempt %d)", stage, r["status"], r["seconds"], r["attempts"])
        status = "FINISHED"
    finally:
        # Wall time per stage into the parent run, and a table into the Prefect UI, also on failure.
        metrics = {f"stage_seconds/{s}": r["seconds"] for s, r in summary.items()}
        metrics |= {f"stage_attempts/{s}": r["attempts"] for s, r in summary.items()}
        mlf.log(parent, metrics=metrics | {"total_seconds": round(time.perf_counter() - t_flow, 2)})
        mlf.end(parent, status)
        table = "| stage | status | seconds | attempts |\n|---|---|---|---|\n"
        table += "".join(f"| {s} | {r['status']} | {r['seconds']:.1f} | {r['attempts']} |\n" for s, r in summary.items())
        create_markdown_artifact(key="pipeline-summary", markdown=f"**{status}**, MLflow parent run `{parent}` in `{mlf.uri}`\n\n{table}")
    return {"parent_run_id": parent, "stages": summary}


# -----------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None, prog: str = "python -m flows.pipeline") -> int:
    p = argparse.ArgumentParser(prog=prog, description="Run or serve the Tinker-Explorer pipeline flow.")
    sub = p.add_subparsers(dest="command", required=True)
    # `explorer pipeline ...` hands over its own argv: there the run command is called `pipeline`
    run_name = "pipeline" if prog == "explorer" else "run"
    r = sub.add_parser(run_name, help="one flow run now (ephemeral Prefect unless PREFECT_API_URL is set)")
    r.add_argument("--stage", action="append", dest="stages", help="a stage to bring up to date (repeatable; default: all)")
    r.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE", help="set a params.yaml key first (repeatable)")
    r.add_argument("--backend", choices=["local", "tinker"], help="set train.backend")
    r.add_argument("--force", action="store_true", help="rerun the named stages even if up to date")
    r.add_argument("--retries", type=int, default=2, help="retries of sft, grpo and evaluate (default 2)")
    s = sub.add_parser("serve", help="register a scheduled deployment and run what it schedules (blocks)")
    s.add_argument("--cron", default="0 3 * * *", help='cron schedule (default "0 3 * * *")')
    s.add_argument("--timezone", default="UTC", help="timezone of the cron schedule (default UTC)")
    s.add_argument("--name", default="tinker-explorer", help="deployment name (default tinker-explorer)")
    args = p.parse_args(argv)

    if args.command == "serve":
        from prefect.schedules import Cron

        if not os.environ.get("PREFECT_API_URL"):
            print(
                "note: PREFECT_API_URL is not set, so the deployment lives in a temporary server that ends with this process.\n"
                "      For the UI: prefect server start --host 127.0.0.1 --background; export PREFECT_API_URL=http://127.0.0.1:4200/api",
                file=sys.stderr,
            )
        # limit=1: two pipeline runs at once would fight over the DVC lock; a second one waits.
        pipeline.serve(name=args.name, schedules=[Cron(args.cron, timezone=args.timezone)], limit=1, tags=["tinker-explorer"])
        return 0

    try:
        overrides = parse_set_params(args.set_param)
        summary = pipeline(stages=args.stages, params_overrides=overrides, backend=args.backend, force=args.force, retries=args.retries)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        print(f"pipeline failed: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
