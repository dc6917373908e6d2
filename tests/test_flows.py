"""The Prefect pipeline flow (flows/pipeline.py).

Speed: the helpers and the stage task (`run_stage.fn`) are tested without Prefect's API. Every
flow run shares one session-scoped `prefect_test_harness` (a temporary Prefect server, ~15 s to
start on 2 cores, paid once). Flow runs happen in a temporary DVC project copied from this repo,
with `dvc repro` replaced by a fake that records its calls, except in the one `real_data` test,
which runs the real `prepare` and `baseline` stages on a few real 2Wiki records (~10 s).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `flows` is not an installed package; `pytest` (unlike `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(REPO))

from explorer.config import ConfigError, TrackingConfig  # noqa: E402
from flows import pipeline as fp  # noqa: E402  (flows/__init__.py sets Prefect's env defaults before prefect is imported)


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throwaway DVC project with this repo's dvc.yaml, params.yaml and code, where the flow may
    write params.yaml and run stages; MLflow logs into its own sqlite file."""
    root = tmp_path / "proj"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "explorer", root / "explorer", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)  # DVC needs a git repo; no commit is needed
    monkeypatch.setenv("EXPLORER_PROJECT_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))
    monkeypatch.delenv("EXPLORER_FAIL_ONCE", raising=False)
    monkeypatch.delenv("EXPLORER_PARENT_RUN_ID", raising=False)
    return root


class FakeDvc:
    """Stands in for fp.run_command: records each `dvc repro` and answers from a script of
    outcomes per stage (returncode, output lines); a stage with no script left succeeds."""

    def __init__(self, script: dict[str, list[tuple[int, list[str]]]] | None = None):
        self.script = script or {}
        self.calls: list[tuple[str, list[str], dict[str, str]]] = []

    def __call__(self, cmd, cwd, env, echo=None) -> fp.CommandResult:
        stage = cmd[cmd.index("--single-item") + 1]
        self.calls.append((stage, cmd, env))
        if self.script.get(stage):
            return fp.CommandResult(*self.script[stage].pop(0))
        return fp.CommandResult(0, [f"Running stage '{stage}':", f"> explorer {stage}"])

    def stages(self) -> list[str]:
        return [s for s, _, _ in self.calls]


def failed(stage: str, exit_code: int) -> tuple[int, list[str]]:
    """What `dvc repro` prints when the stage's command fails (DVC itself exits 255)."""
    return 255, [
        f"Running stage '{stage}':",
        f"> explorer {stage}",
        "error: boom",
        f"ERROR: failed to reproduce '{stage}': failed to run: explorer {stage}, exited with {exit_code}",
    ]


def mlflow_runs(uri: str) -> dict[str, object]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tinker-explorer")
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


# -----------------------------------------------------------------------------
# Helpers, no Prefect API

EDGES = [("prepare", "baseline"), ("prepare", "demos"), ("demos", "sft"), ("sft", "grpo"), ("prepare", "grpo")]
EDGES += [("baseline", "evaluate"), ("sft", "evaluate"), ("grpo", "evaluate"), ("evaluate", "report")]
ORDER = ["prepare", "baseline", "demos", "sft", "grpo", "evaluate", "report"]


def test_plan_adds_upstream_stages_in_dependency_order():
    assert fp.plan_stages(ORDER, EDGES, ["sft"], force=False) == [("prepare", False), ("demos", False), ("sft", False)]
    # force reruns only what was asked for; the upstream stages are only brought up to date
    plan = fp.plan_stages(ORDER, EDGES, ["grpo", "demos"], force=True)
    assert plan == [("prepare", False), ("demos", True), ("sft", False), ("grpo", True)]
    assert [s for s, _ in fp.plan_stages(ORDER, EDGES, None, force=False)] == ORDER
    # dvc.yaml order is only a tie-break: dependencies come first whatever the file order
    chain = [("prepare", "demos"), ("demos", "sft")]
    assert [s for s, _ in fp.plan_stages(["sft", "demos", "prepare"], chain, None, False)] == ["prepare", "demos", "sft"]
    with pytest.raises(ValueError, match="unknown stage"):
        fp.plan_stages(ORDER, EDGES, ["sfft"], force=False)


def test_dvc_dag_reads_this_repos_pipeline(project: Path):
    nodes, edges = fp.dvc_dag(project)
    assert nodes == list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    assert fp.RETRIED_STAGES <= set(nodes)
    assert ("demos", "sft") in edges and ("sft", "grpo") in edges
    # the default plan is every stage, and dvc.yaml is already written upstream-first
    assert [s for s, _ in fp.plan_stages(nodes, edges, None, False)] == nodes


def test_overrides_are_validated_then_written_keeping_comments(tmp_path: Path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    before = path.read_text()
    assert dict(fp.flatten({"grpo": {}})) == {}  # an empty section sets nothing (it never resets a section)
    params = fp.apply_overrides(path, dict(fp.flatten({"grpo": {"steps": 7}, "train.seeds": [0]})))
    assert params.grpo.steps == 7 and params.train.seeds == (0,)
    after = path.read_text()
    assert yaml.safe_load(after)["grpo"]["steps"] == 7
    assert "seeds: [0]" in after  # a flow-style list stays on one line
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 2, changed  # only those two lines; every comment survives
    for bad in ({"grpo.lr_rate": 0.1}, {"grpo.steps": "many"}, {"nosuch.key": 1}, {"data.on_error": "ignore"}):
        with pytest.raises(ConfigError):
            fp.apply_overrides(path, bad)
        assert path.read_text() == after  # a rejected override writes nothing
    inode = path.stat().st_ino
    fp.apply_overrides(path, {"grpo.steps": 7})  # no change: the file is not rewritten (DVC sees no touch)
    assert path.stat().st_ino == inode


def test_set_param_values_are_yaml():
    assert fp.parse_set_params(["grpo.steps=5", "train.seeds=[0, 1]", "reward.variant=shaped"]) == {
        "grpo.steps": 5,
        "train.seeds": [0, 1],
        "reward.variant": "shaped",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        fp.parse_set_params(["grpo.steps"])


def test_tracking_uri_agrees_with_the_stages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mlflow.tracking import MlflowClient

    from explorer.tracking import experiment_id, resolve_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("EXPLORER_PROJECT_ROOT", str(tmp_path))
    cfg = TrackingConfig()
    assert resolve_uri(cfg, tmp_path) == resolve_uri(cfg) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.chdir(tmp_path.parent)  # created from elsewhere, artifacts still go to <root>/mlruns
    client = MlflowClient(tracking_uri=resolve_uri(cfg))
    exp = client.get_experiment(experiment_id(client, cfg))
    assert exp.artifact_location == (tmp_path / "mlruns").resolve().as_uri()


def test_stage_task_runs_single_item_and_classifies_failures(project: Path, monkeypatch: pytest.MonkeyPatch):
    from prefect.logging import disable_run_logger
    from prefect.states import Failed

    fake = FakeDvc({"sft": [failed("sft", 2), failed("sft", 1), (255, ["ERROR: failed to reproduce 'sft': missing data 'source'"])]})
    monkeypatch.setattr(fp, "run_command", fake)
    with disable_run_logger():
        out = fp.run_stage.fn("grpo", str(project), {"EXPLORER_PARENT_RUN_ID": "abc"}, force=True)
        assert out == {"stage": "grpo", "status": "ran", "attempt": 1}
        _, cmd, env = fake.calls[0]
        assert cmd[-4:] == ["repro", "--single-item", "grpo", "--force"] and env["EXPLORER_PARENT_RUN_ID"] == "abc"
        errors = []
        for _ in range(3):
            with pytest.raises(fp.StageFailed) as e:
                fp.run_stage.fn("sft", str(project), {})
            errors.append(e.value)
    bad_input, crash, missing = errors
    assert (bad_input.command_exit, bad_input.transient) == (2, False)
    assert "not retried" in str(bad_input) and "error: boom" in str(bad_input)  # the output tail is in the message
    assert (crash.command_exit, crash.transient) == (1, True)
    assert (missing.command_exit, missing.transient) == (None, False)
    assert [fp.retry_if_transient(None, None, Failed(data=e)) for e in errors] == [False, True, False]
    assert fp.retry_if_transient(None, None, Failed(data=OSError("no dvc"))) is False
    lock = fp.StageFailed("sft", 255, None, ["ERROR: Unable to acquire lock. Most likely another DVC process is running"], 1)
    assert lock.transient


def test_fail_once_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    marker = tmp_path / "failed-once"
    monkeypatch.setenv("EXPLORER_FAIL_ONCE", f"grpo:{marker}")
    assert not fp.injected_failure("sft")
    assert fp.injected_failure("grpo") and marker.exists()
    assert not fp.injected_failure("grpo")  # only the first attempt fails


# -----------------------------------------------------------------------------
# Flow runs (one shared Prefect test server)


def test_transient_failures_are_retried_and_runs_nest(prefect_harness, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    fake = FakeDvc({"evaluate": [failed("evaluate", 1)]})  # e.g. a Tinker fault: exit 1, then fine
    monkeypatch.setattr(fp, "run_command", fake)
    monkeypatch.setenv("EXPLORER_FAIL_ONCE", f"grpo:{tmp_path / 'grpo-failed-once'}")

    out = fp.pipeline(stages=["evaluate"], params_overrides={"grpo.steps": 3}, retries=2, retry_delay_seconds=0)

    upstream = [s for s, _ in fp.plan_stages(*fp.dvc_dag(project), ["evaluate"], False)][:-1]
    assert upstream[:1] == ["prepare"] and {"sft", "grpo"} <= set(upstream)
    assert fake.stages() == upstream + ["evaluate", "evaluate"]  # grpo's injected failure never reached dvc
    assert {s: r["attempts"] for s, r in out["stages"].items()} == dict.fromkeys(upstream, 1) | {"grpo": 2, "evaluate": 2}
    assert all(r["status"] == "ran" for r in out["stages"].values())
    assert yaml.safe_load((project / "params.yaml").read_text())["grpo"]["steps"] == 3

    runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    parent = runs[next(n for n in runs if n.startswith("pipeline-"))]
    assert parent.info.run_id == out["parent_run_id"] and parent.info.status == "FINISHED"
    assert parent.data.params["override.grpo.steps"] == "3"
    assert parent.data.metrics["stage_attempts/evaluate"] == 2 and "stage_seconds/prepare" in parent.data.metrics
    assert "git_commit" in parent.data.tags and parent.data.tags["stages"] == ",".join(upstream + ["evaluate"])
    for stage in upstream + ["evaluate"]:
        child = runs[f"stage-{stage}"]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.info.status == "FINISHED"
        # the stage's own runs will hang under its child run: its id is in the stage's environment
        env = next(env for s, _, env in fake.calls if s == stage)
        assert env["EXPLORER_PARENT_RUN_ID"] == child.info.run_id
        assert env["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'mlflow.db'}" and env["EXPLORER_PROJECT_ROOT"] == str(project)
    assert runs["stage-evaluate"].data.metrics["attempts"] == 2


@pytest.mark.parametrize(("stage", "exit_code"), [("sft", 2), ("baseline", 1)])
def test_bad_input_or_untried_stage_fails_the_flow_at_once(prefect_harness, project: Path, tmp_path: Path, monkeypatch, stage, exit_code):
    """sft exiting 2 is bad config or data: a retry would repeat it. baseline has no retries at all."""
    fake = FakeDvc({stage: [failed(stage, exit_code)] * 3})
    monkeypatch.setattr(fp, "run_command", fake)

    state = fp.pipeline(stages=[stage], retries=2, retry_delay_seconds=0, return_state=True)

    assert state.is_failed()
    with pytest.raises(fp.StageFailed, match=f"exited with {exit_code}"):
        state.result()  # what a plain call raises
    assert fake.stages().count(stage) == 1
    runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert runs[next(n for n in runs if n.startswith("pipeline-"))].info.status == "FAILED"
    assert runs[f"stage-{stage}"].info.status == "FAILED" and "error: boom" in runs[f"stage-{stage}"].data.tags["error"]


def test_bad_request_fails_before_any_stage_runs(prefect_harness, project: Path, monkeypatch: pytest.MonkeyPatch):
    fake = FakeDvc()
    monkeypatch.setattr(fp, "run_command", fake)
    before = (project / "params.yaml").read_text()
    with pytest.raises(ConfigError, match="lr_rate"):
        fp.pipeline(params_overrides={"grpo.lr_rate": 0.1})
    with pytest.raises(ValueError, match="unknown stage"):
        fp.pipeline(stages=["trian"])
    assert fake.calls == [] and (project / "params.yaml").read_text() == before


@pytest.mark.real_data
def test_real_dvc_stages_in_a_project_copy(prefect_harness, project: Path, shared_2wiki: Path, monkeypatch: pytest.MonkeyPatch):
    """Real `dvc repro` of prepare and baseline on 20/5/8 real records; MLflow on the default
    relative sqlite URI, which must land in the project, not in the test's current folder."""
    monkeypatch.setenv("EXPLORER_2WIKI_DIR", str(shared_2wiki))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    small = {"data": {"train_size": 20, "val_size": 5, "dev_size": 8}, "baseline.policies": ["heuristic", "oracle"]}

    out = fp.pipeline(stages=["baseline"], params_overrides=small)

    assert {s: r["status"] for s, r in out["stages"].items()} == {"prepare": "ran", "baseline": "ran"}
    counts = {s: len((project / "data" / "prepared" / f"{s}.jsonl").read_text().splitlines()) for s in ("train", "val", "dev")}
    assert counts == {"train": 20, "val": 5, "dev": 8}
    assert yaml.safe_load((project / "dvc.lock").read_text())["stages"]["prepare"]["params"]["params.yaml"]["data"]["val_size"] == 5

    runs = mlflow_runs(f"sqlite:///{project / 'mlflow.db'}")
    baseline = runs["stage-baseline"]
    assert baseline.data.tags["mlflow.parentRunId"] == out["parent_run_id"]
    # grandchildren: the runs `explorer baseline` logged itself, one per policy
    assert {n for n, r in runs.items() if r.data.tags.get("mlflow.parentRunId") == baseline.info.run_id} == {
        "eval-heuristic",
        "eval-oracle",
    }

    again = fp.pipeline(stages=["prepare"])  # nothing changed: DVC skips it
    assert again["stages"]["prepare"]["status"] == "up to date"
