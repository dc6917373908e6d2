"""The Prefect pipeline flow (flows/pipeline.py, flows/dvc_stages.py).

Speed: the helpers and the stage task (`repro_stage.fn`) are tested without Prefect's API. Every
flow run shares one session-scoped `prefect_test_harness` (a temporary Prefect server, ~15 s to
start on 2 cores, paid once). Flow runs happen in a temporary DVC project copied from this repo,
with the DVC call replaced by a fake (the `fake_dvc` fixture: the fault injection of these tests),
except in the `real_data` test, which runs the real `prepare` and `baseline` stages on a few real
2Wiki records (~10 s). tests/test_flows_server.py runs the commands against a real server.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import typing
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) does not add the cwd
    sys.path.insert(0, str(REPO))

from flows_helpers import make_project, write_reports  # noqa: E402

from explorer.config import ConfigError, TrackingConfig, apply_overrides, flatten, parse_set_params  # noqa: E402
from flows import dvc_stages as ds  # noqa: E402  (flows/__init__.py sets Prefect's env defaults before prefect is imported)
from flows import pipeline as fp  # noqa: E402


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """make_project, where the flow may write params.yaml and run stages; MLflow logs into its own sqlite file."""
    root = make_project(tmp_path / "proj")
    monkeypatch.setenv("EXPLORER_PROJECT_ROOT", str(root))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))
    monkeypatch.delenv("EXPLORER_PARENT_RUN_ID", raising=False)
    return root


def failed(stage: str, exit_code: int | None, **kw) -> ds.ReproOutcome:
    """What a stage whose command failed reports (exit_code None: DVC refused before running it)."""
    return ds.ReproOutcome(
        "failed", command_exit=exit_code, error=f"failed to reproduce '{stage}'", lines=[f"> explorer {stage}", "error: boom"], **kw
    )


class FakeDvc:
    """Stands in for flows.dvc_stages.repro: records each call and answers from a script of
    outcomes per stage; a stage with no script left "ran", after running its effect (a function
    of the project root that writes what the stage would)."""

    def __init__(self):
        self.script: dict[str, list[ds.ReproOutcome]] = {}
        self.effects: dict[str, typing.Callable[[Path], None]] = {}
        self.calls: list[tuple[str, bool, dict[str, str]]] = []

    def __call__(self, stage, root, env, force=False, echo=None) -> ds.ReproOutcome:
        self.calls.append((stage, force, env))
        if self.script.get(stage):
            return self.script[stage].pop(0)
        if stage in self.effects:
            self.effects[stage](root)
        return ds.ReproOutcome("ran", lines=[f"> explorer {stage}"])

    def stages(self) -> list[str]:
        return [s for s, _, _ in self.calls]


@pytest.fixture
def fake_dvc(monkeypatch: pytest.MonkeyPatch) -> FakeDvc:
    fake = FakeDvc()
    monkeypatch.setattr(ds, "repro", fake)
    return fake


def mlflow_runs(uri: str) -> dict[str, object]:
    """The experiment's active runs by name (deleted ones, e.g. skipped stages' children, are left out)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("tinker-explorer")
    return {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


# -----------------------------------------------------------------------------
# Helpers, no Prefect API

UPSTREAM = {"prepare": set(), "baseline": {"prepare"}, "demos": {"prepare"}, "sft": {"demos"}, "grpo": {"sft", "prepare"}}
UPSTREAM |= {"evaluate": {"baseline", "sft", "grpo"}, "report": {"evaluate"}}
ORDER = ["prepare", "baseline", "demos", "sft", "grpo", "evaluate", "report"]


def test_plan_adds_upstream_stages_in_dependency_order():
    assert ds.plan_stages(ORDER, UPSTREAM, ["sft"], force=False) == [("prepare", False), ("demos", False), ("sft", False)]
    # force reruns only what was asked for; the upstream stages are only brought up to date
    plan = ds.plan_stages(ORDER, UPSTREAM, ["grpo", "demos"], force=True)
    assert plan == [("prepare", False), ("demos", True), ("sft", False), ("grpo", True)]
    assert [s for s, _ in ds.plan_stages(ORDER, UPSTREAM, None, force=False)] == ORDER
    # dvc.yaml order is only a tie-break: dependencies come first whatever the file order
    chain = {"prepare": set(), "demos": {"prepare"}, "sft": {"demos"}}
    assert [s for s, _ in ds.plan_stages(["sft", "demos", "prepare"], chain, None, False)] == ["prepare", "demos", "sft"]
    with pytest.raises(ValueError, match="unknown stage"):
        ds.plan_stages(ORDER, UPSTREAM, ["sfft"], force=False)


def test_stage_names_are_dvc_yamls_and_the_graph_comes_from_dvc(project: Path):
    in_yaml = list(yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"])
    assert list(typing.get_args(ds.StageName)) == in_yaml == list(ds.STAGE_NAMES)  # the UI's choices are dvc.yaml's stages
    order, upstream = ds.stage_graph(project)
    assert order == in_yaml and fp.RETRIED_STAGES <= set(order)
    assert upstream["sft"] == {"demos"} and {"prepare", "sft"} <= upstream["grpo"]
    assert [s for s, _ in ds.plan_stages(order, upstream, None, False)] == order  # dvc.yaml is written upstream-first


def test_flow_parameters_are_typed_with_defaults():
    from prefect.utilities.callables import parameter_schema

    props = parameter_schema(fp.pipeline_flow).model_dump()["properties"]
    assert props["stages"]["items"]["enum"] == list(ds.STAGE_NAMES) and props["stages"]["default"] == list(ds.STAGE_NAMES)
    assert props["backend"]["enum"] == ["params.yaml", "local", "tinker"] and props["backend"]["default"] == "params.yaml"
    assert props["params_overrides"]["type"] == "object" and props["params_overrides"]["default"] == {}
    assert all("anyOf" not in p and "description" in p for p in props.values())  # no untyped or undocumented field


def test_overrides_are_validated_then_written_keeping_comments(tmp_path: Path):
    path = tmp_path / "params.yaml"
    shutil.copy(REPO / "params.yaml", path)
    before = path.read_text()
    assert dict(flatten({"grpo": {}})) == {}  # an empty section sets nothing (it never resets a section)
    params = apply_overrides(path, dict(flatten({"grpo": {"steps": 7}, "train.seeds": [0]})))
    assert params.grpo.steps == 7 and params.train.seeds == (0,)
    after = path.read_text()
    assert yaml.safe_load(after)["grpo"]["steps"] == 7
    assert "seeds: [0]" in after  # a flow-style list stays on one line
    changed = [(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b]
    assert len(changed) == 2, changed  # only those two lines; every comment survives
    for bad in ({"grpo.lr_rate": 0.1}, {"grpo.steps": "many"}, {"nosuch.key": 1}, {"data.on_error": "ignore"}):
        with pytest.raises(ConfigError):
            apply_overrides(path, bad)
        assert path.read_text() == after  # a rejected override writes nothing
    inode = path.stat().st_ino
    apply_overrides(path, {"grpo.steps": 7})  # no change: the file is not rewritten (DVC sees no touch)
    assert path.stat().st_ino == inode


def test_set_param_values_are_yaml():
    assert parse_set_params(["grpo.steps=5", "train.seeds=[0, 1]", "reward.variant=shaped"]) == {
        "grpo.steps": 5,
        "train.seeds": [0, 1],
        "reward.variant": "shaped",
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_set_params(["grpo.steps"])


def test_tracking_uri_agrees_with_the_stages_and_the_experiment_is_model_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from mlflow.tracking import MlflowClient

    from explorer.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING, experiment_id, resolve_uri

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("EXPLORER_PROJECT_ROOT", str(tmp_path))
    cfg = TrackingConfig()
    assert resolve_uri(cfg, tmp_path) == resolve_uri(cfg) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.chdir(tmp_path.parent)  # created from elsewhere, artifacts still go to <root>/mlruns
    client = MlflowClient(tracking_uri=resolve_uri(cfg))
    exp = client.get_experiment(experiment_id(client, cfg))
    assert exp.artifact_location == (tmp_path / "mlruns").resolve().as_uri()
    assert exp.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING  # the MLflow UI opens it on its runs, not in GenAI mode
    old = client.create_experiment("made-before", tags={})  # an experiment made before the tag was set ...
    experiment_id(client, TrackingConfig(experiment="made-before"))
    assert client.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING  # ... is marked on first use


def test_stage_task_runs_single_item_and_classifies_failures(project: Path, fake_dvc: FakeDvc):
    from prefect.logging import disable_run_logger
    from prefect.states import Failed

    fake_dvc.script["sft"] = [
        failed("sft", 2),
        failed("sft", 1),
        failed("sft", None),
        failed("sft", None, locked=True),
        ds.ReproOutcome("failed", killed_by=9, error="the DVC process exited with -9 without an answer"),
    ]
    with disable_run_logger():
        out = fp.repro_stage.fn("grpo", str(project), {"EXPLORER_PARENT_RUN_ID": "abc"}, force=True)
        assert out == {"stage": "grpo", "status": "ran", "attempt": 1}
        stage, force, env = fake_dvc.calls[0]
        assert (stage, force, env["EXPLORER_PARENT_RUN_ID"]) == ("grpo", True, "abc")
        assert str(Path(sys.executable).parent) in env["PATH"]  # `explorer` from this venv
        errors = []
        for _ in range(5):
            with pytest.raises(ds.StageFailed) as e:
                fp.repro_stage.fn("sft", str(project), {})
            errors.append(e.value)
    bad_input, crash, missing, locked, killed = errors
    assert "not retried" in str(bad_input) and "error: boom" in str(bad_input)  # the output tail is in the message
    assert "exited with 1" in str(crash) and "repo lock" in str(locked) and "signal 9" in str(killed)
    assert [e.transient for e in errors] == [False, True, False, True, True]
    assert [fp.retry_if_transient(None, None, Failed(data=e)) for e in errors] == [False, True, False, True, True]
    assert fp.retry_if_transient(None, None, Failed(data=OSError("no dvc"))) is False


def test_real_dvc_reports_facts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """flows.dvc_stages.repro against real DVC: up to date, the command's exit status, a DVC error
    before any command ran, and DVC's repo lock held by another process."""
    import zc.lockfile

    root = tmp_path / "p"
    root.mkdir()
    (root / ".dvc").mkdir()
    (root / ".dvc" / "config").write_text("[core]\n    analytics = false\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    stages = {
        "ok": {"cmd": "echo hi > ok.txt", "outs": ["ok.txt"]},
        "bad": {"cmd": ["true", "echo half > bad.txt; exit 2"], "outs": ["bad.txt"]},
        "orphan": {"cmd": "cat missing.txt > o.txt", "deps": ["missing.txt"], "outs": ["o.txt"]},
    }
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}))
    env = ds.dvc_env(root, {"DVC_SITE_CACHE_DIR": str(tmp_path / "site")})
    lines: list[str] = []

    first = ds.repro("ok", root, env, echo=lines.append)
    assert first.status == "ran" and (root / "ok.txt").exists() and any("Running stage 'ok'" in x for x in lines)
    assert ds.repro("ok", root, env).status == "up to date"
    assert ds.repro("ok", root, env, force=True).status == "ran"
    bad = ds.repro("bad", root, env)
    assert (bad.status, bad.command_exit, bad.locked) == ("failed", 2, False)  # the second command's status
    orphan = ds.repro("orphan", root, env)
    assert (orphan.status, orphan.command_exit, orphan.locked) == ("failed", None, False) and "missing.txt" in orphan.error
    held = zc.lockfile.LockFile(str(root / ".dvc" / "tmp" / "lock"))  # what another `dvc` command holds
    try:
        locked = ds.repro("ok", root, env, force=True)
    finally:
        held.close()
    assert (locked.status, locked.command_exit, locked.locked) == ("failed", None, True)
    assert ds.StageFailed("ok", locked, 1).transient and not ds.StageFailed("orphan", orphan, 1).transient


HOLD_LOCK = """
import sys
from pathlib import Path
from flows.dvc_stages import pipeline_lock
with pipeline_lock(Path(sys.argv[1])):
    print("held", flush=True)
    input()
"""


def test_pipeline_lock_refuses_a_second_run_and_dies_with_its_holder(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(root)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ds.PipelineBusy, match=rf"already running in .*pid {holder.pid}, started "):
            with ds.pipeline_lock(root):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup ran, and still no stale lock
        holder.wait()
    with ds.pipeline_lock(root), ds.pipeline_lock(root):  # free again, and re-entrant in one process
        pass
    with pytest.raises(ValueError, match="not a DVC project"):
        with ds.pipeline_lock(tmp_path):
            pass


# -----------------------------------------------------------------------------
# Flow runs (one shared Prefect test server)


def test_transient_failures_are_retried_and_runs_nest(prefect_harness, project: Path, tmp_path: Path, fake_dvc: FakeDvc):
    fake_dvc.script = {"grpo": [failed("grpo", 1)], "evaluate": [failed("evaluate", 137)]}  # e.g. a Tinker fault, a kill
    fake_dvc.script["demos"] = [ds.ReproOutcome("up to date")]
    fake_dvc.effects["report"] = write_reports

    out = fp.pipeline_flow(stages=("report",), params_overrides={"grpo.steps": 3}, retries=2, retry_delay_seconds=0)

    plan = list(ds.STAGE_NAMES)
    assert fake_dvc.stages() == ["prepare", "baseline", "demos", "sft", "grpo", "grpo", "evaluate", "evaluate", "report"]
    assert {s: r["attempts"] for s, r in out["stages"].items()} == dict.fromkeys(plan, 1) | {"grpo": 2, "evaluate": 2}
    assert {s: r["status"] for s, r in out["stages"].items()} == dict.fromkeys(plan, "ran") | {"demos": "up to date"}
    assert yaml.safe_load((project / "params.yaml").read_text())["grpo"]["steps"] == 3

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    runs = mlflow_runs(uri)
    parent = runs[next(n for n in runs if n.startswith("pipeline-"))]
    assert parent.info.run_id == out["parent_run_id"] and parent.info.status == "FINISHED"
    assert parent.data.params["override.grpo.steps"] == "3"
    assert parent.data.metrics["stage_attempts/evaluate"] == 2 and "stage_seconds/demos" in parent.data.metrics
    assert "git_commit" in parent.data.tags and parent.data.tags["stages"] == ",".join(plan)
    # the headline metrics (heuristic from the baseline stage, SFT and GRPO means from evaluate) and the report
    assert {k: v for k, v in parent.data.metrics.items() if k.startswith("dev/")} == {
        "dev/heuristic/f1": 0.7, "dev/heuristic/em": 0.6, "dev/heuristic/avg_tokens_read": 250.0,
        "dev/sft/f1": 0.5, "dev/sft/em": 0.4, "dev/sft/avg_tokens_read": 300.0,
        "dev/grpo/f1": 0.72, "dev/grpo/em": 0.4, "dev/grpo/avg_tokens_read": 300.0,
    }  # fmt: skip
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    assert {f.path for f in client.list_artifacts(parent.info.run_id)} == {"results.md", "plots"}
    assert {f.path for f in client.list_artifacts(parent.info.run_id, "plots")} == {"plots/frontier.png", "plots/grpo_curves.png"}
    assert "stage-demos" not in runs  # DVC skipped it: no empty child run
    for stage in set(plan) - {"demos"}:
        child = runs[f"stage-{stage}"]
        assert child.data.tags["mlflow.parentRunId"] == parent.info.run_id and child.info.status == "FINISHED"
        # the stage's own runs will hang under its child run: its id is in the stage's environment
        env = next(env for s, _, env in fake_dvc.calls if s == stage)
        assert env["EXPLORER_PARENT_RUN_ID"] == child.info.run_id
        assert env["MLFLOW_TRACKING_URI"] == uri and env["EXPLORER_PROJECT_ROOT"] == str(project)
    assert runs["stage-evaluate"].data.metrics["attempts"] == 2


@pytest.mark.parametrize(("stage", "exit_code"), [("sft", 2), ("baseline", 1)])
def test_bad_input_or_untried_stage_fails_the_flow_at_once(prefect_harness, project: Path, tmp_path: Path, fake_dvc, stage, exit_code):
    """sft exiting 2 is bad config or data: a retry would repeat it. baseline has no retries at all."""
    fake_dvc.script[stage] = [failed(stage, exit_code)] * 3

    state = fp.pipeline_flow(stages=(stage,), retries=2, retry_delay_seconds=0, return_state=True)

    assert state.is_failed()
    with pytest.raises(ds.StageFailed, match=f"exited with {exit_code}"):
        state.result()  # what a plain call raises
    assert fake_dvc.stages().count(stage) == 1
    runs = mlflow_runs(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert runs[next(n for n in runs if n.startswith("pipeline-"))].info.status == "FAILED"
    assert runs[f"stage-{stage}"].info.status == "FAILED" and "error: boom" in runs[f"stage-{stage}"].data.tags["error"]


def test_bad_request_fails_before_any_stage_runs(prefect_harness, project: Path, fake_dvc: FakeDvc):
    before = (project / "params.yaml").read_text()
    with pytest.raises(ConfigError, match="lr_rate"):
        fp.pipeline_flow(params_overrides={"grpo.lr_rate": 0.1})
    with pytest.raises(Exception, match="stages.0: Input should be .prepare."):  # not a StageName: Prefect refuses it
        fp.pipeline_flow(stages=("trian",))
    assert fake_dvc.calls == [] and (project / "params.yaml").read_text() == before


@pytest.mark.real_data
def test_real_dvc_stages_in_a_project_copy(prefect_harness, project: Path, shared_2wiki: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    """Real `dvc repro` of prepare and baseline on 20/5/8 real records; MLflow on the default
    relative sqlite URI, which must land in the project, not in the test's current folder."""
    monkeypatch.setenv("EXPLORER_2WIKI_DIR", str(shared_2wiki))
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    small = {"data": {"train_size": 20, "val_size": 5, "dev_size": 8}, "baseline.policies": ["heuristic", "oracle"]}

    out = fp.pipeline_flow(stages=("baseline",), params_overrides=small)

    assert {s: r["status"] for s, r in out["stages"].items()} == {"prepare": "ran", "baseline": "ran"}
    counts = {s: len((project / "data" / "prepared" / f"{s}.jsonl").read_text().splitlines()) for s in ("train", "val", "dev")}
    assert counts == {"train": 20, "val": 5, "dev": 8}
    assert yaml.safe_load((project / "dvc.lock").read_text())["stages"]["prepare"]["params"]["params.yaml"]["data"]["val_size"] == 5

    runs = mlflow_runs(f"sqlite:///{project / 'mlflow.db'}")
    baseline = runs["stage-baseline"]
    assert baseline.data.tags["mlflow.parentRunId"] == out["parent_run_id"]
    # grandchildren: the runs `explorer baseline` logged itself, one per policy
    assert {n for n, r in runs.items() if r.data.tags.get("mlflow.parentRunId") == baseline.info.run_id} == {
        "eval-heuristic-dev",
        "eval-oracle-dev",
    }
    heuristic = json.loads((project / "reports" / "baseline" / "metrics.json").read_text())["heuristic"]
    parent = next(r for r in runs.values() if r.info.run_id == out["parent_run_id"])
    assert parent.data.metrics["dev/heuristic/f1"] == pytest.approx(heuristic["f1"])

    again = fp.pipeline_flow(stages=("prepare",))  # nothing changed: DVC skips it
    assert again["stages"]["prepare"]["status"] == "up to date"
    names = [r.info.run_name for r in mlflow_runs(f"sqlite:///{project / 'mlflow.db'}").values()]
    assert names.count("stage-prepare") == 1  # the skipped stage's child run of the second flow run is gone

    from explorer.cli import main

    monkeypatch.chdir(project)
    capsys.readouterr()
    assert main(["runs", "compare", "--last", "20"]) == 0
    table = capsys.readouterr().out
    assert table.count("stage-prepare") == 1 and "pipeline-" in table


class _Busy(Exception):
    """What Prefect's client raises for an HTTP error status: the response rides along."""

    def __init__(self, status: int):
        super().__init__(f"Server error '{status}'")
        self.response = type("Response", (), {"status_code": status})()


def _fake_client(failures: list[Exception], calls: list[str]):
    class Client:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read_deployment_by_name(self, name):
            calls.append(name)
            if failures:
                raise failures.pop(0)
            return type("Deployment", (), {"id": "d1"})()

        def pause_deployment(self, deployment_id):
            calls.append(f"pause {deployment_id}")

    return lambda **kwargs: Client()


def test_serve_pauses_through_a_busy_server_but_not_through_a_missing_one(monkeypatch):
    import prefect.client.orchestration as orchestration

    from flows import entry

    calls: list[str] = []
    monkeypatch.setattr(orchestration, "get_client", _fake_client([_Busy(503), _Busy(500)], calls))
    assert entry.pause_deployment("f/form", timeout=5).startswith("paused deployment 'f/form'")
    assert calls == ["f/form", "f/form", "f/form", "pause d1"]  # two 5xx answers retried
    calls.clear()
    monkeypatch.setattr(orchestration, "get_client", _fake_client([_Busy(404), _Busy(503)], calls))
    outcome = entry.pause_deployment("f/gone", timeout=5)
    assert outcome.startswith("could not pause deployment 'f/gone' (_Busy: Server error '404')") and calls == ["f/gone"]
    calls.clear()
    monkeypatch.setattr(orchestration, "get_client", _fake_client([_Busy(503)] * 100, calls))
    assert entry.pause_deployment("f/busy", timeout=1.2).startswith("could not pause deployment 'f/busy'") and 1 < len(calls) <= 3


class _StartingRunner:
    """The part of prefect's Runner that serve_until_stopped uses, as Prefect 3.9 has it: start()
    installs `self.handle_sigterm` for SIGTERM, takes `start_seconds` before `started` is true (its
    services starting), then polls until astop() ends it; handle_sigterm exits while not started."""

    def __init__(self, start_seconds: float, fail: bool = False, stopping: bool = False):
        self.start_seconds, self.fail = start_seconds, fail
        self.started, self.stopping = False, stopping
        self.events: list[str] = []

    def handle_sigterm(self, *args):
        if not self.started:
            sys.exit(0)

    async def start(self):
        import asyncio

        signal.signal(signal.SIGTERM, self.handle_sigterm)
        await asyncio.sleep(self.start_seconds)
        if self.fail:
            raise RuntimeError("Runner failed to start: client")
        self.started = True
        self.events.append("started")
        while self.started:
            await asyncio.sleep(0.01)
        self.events.append("shut down")

    async def astop(self):
        self.events.append(f"astop while started={self.started}")
        self.started, self.stopping = False, True


@pytest.fixture
def restore_signals():
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.mark.parametrize("stopping", [False, True], ids=["runner-running", "runner-already-stopping"])
def test_sigterm_while_the_runner_starts_stops_it_once_started(restore_signals, stopping: bool):
    """A CI run failed on this: the signal came while Prefect's runner was starting, its
    handler's sys.exit was dropped in a weakref callback, and serve ran on. With serve's handler
    installed (also as the runner's handle_sigterm, which the runner installs as it starts) the
    signal only sets a flag, and the stop waits for the runner to have started, then stops it;
    also when the runner marked itself stopping (a failed cancellation observer) and still polls."""
    import asyncio
    import os

    from flows import entry

    runner, stop = _StartingRunner(start_seconds=0.3, stopping=stopping), entry.StopRequest()
    entry.install_stop(runner, stop)

    async def main():
        task = asyncio.ensure_future(entry.serve_until_stopped(runner, stop, poll_seconds=0.02))
        await asyncio.sleep(0.05)
        assert signal.getsignal(signal.SIGTERM) is stop and not runner.started
        os.kill(os.getpid(), signal.SIGTERM)  # the runner's own handler would sys.exit here
        await asyncio.wait_for(task, timeout=5)

    asyncio.run(main())
    assert stop.asked and runner.events == ["started", "astop while started=True", "shut down"]


def test_a_runner_that_ends_on_its_own_or_fails_to_start_is_not_stopped(restore_signals):
    import asyncio

    from flows import entry

    class EndsAtOnce(_StartingRunner):
        async def start(self):
            self.events.append("ran once")

    ends = EndsAtOnce(0.0)
    asyncio.run(entry.serve_until_stopped(ends, entry.StopRequest(), poll_seconds=0.02))
    assert ends.events == ["ran once"]
    failing, stop = _StartingRunner(start_seconds=0.1, fail=True), entry.StopRequest()
    stop.asked = True  # asked for a stop while starting, and the start fails: its error is raised
    with pytest.raises(RuntimeError, match="failed to start"):
        asyncio.run(entry.serve_until_stopped(failing, stop, poll_seconds=0.02))
    assert failing.events == []


def test_what_a_signal_does_in_each_mode_of_serve():
    from flows import entry

    starting = entry.StopRequest()
    with pytest.raises(KeyboardInterrupt):  # registering the deployment: stop at once
        starting(signal.SIGTERM, None)
    assert starting.asked
    serving = entry.StopRequest()
    serving.mode = "serving"
    assert serving(signal.SIGINT, None) is None and serving.asked  # the orderly stop
    with pytest.raises(KeyboardInterrupt):  # a second signal, when that hangs
        serving(signal.SIGINT, None)
    pausing = entry.StopRequest()
    pausing.mode = "pausing"
    for _ in range(2):
        assert pausing(signal.SIGINT, None) is None
    assert pausing.asked
