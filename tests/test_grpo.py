from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import tiny_records, write_jsonl

from explorer.backends.local import StepRecord, grpo_learner, loss_and_grad
from explorer.cli import main as cli_main
from explorer.config import GRPOConfig, load_params
from explorer.data.tasks import resolve_tasks
from explorer.env import ExplorerEnv
from explorer.policies.features import N_FEATURES, action_set
from explorer.policies.local import load_policy, log_softmax
from explorer.rl.grpo import RUN_OUTPUTS, GRPORun, group_advantages
from explorer.rl.state import fingerprint, finished_result
from explorer.tracking import NullRun
from explorer.types import Open

ROOT = Path(__file__).resolve().parents[1]


def test_group_advantages():
    assert group_advantages(np.array([0.5, 0.5, 0.5]), True) is None  # no signal: dropped
    adv = group_advantages(np.array([1.0, 0.0, 0.0, 1.0]), True)
    assert np.allclose(adv, [1, -1, -1, 1], atol=1e-5)
    assert np.allclose(group_advantages(np.array([1.0, 0.0]), False), [0.5, -0.5])


def _records(task, rng):
    env = ExplorerEnv(task)
    env.step(Open(1))
    aset = action_set(env.observation())
    w_old, w_sft = rng.normal(size=N_FEATURES), rng.normal(size=N_FEATURES)
    recs = []
    for a in (0, 2, len(aset.actions) - 1):
        recs.append(StepRecord(aset.features, a, float(log_softmax(aset.features @ w_old)[a]), log_softmax(aset.features @ w_sft)))
    return recs


def test_loss_gradient_matches_finite_differences(task):
    rng = np.random.default_rng(0)
    recs = _records(task, rng)
    cfg = GRPOConfig(clip_eps=0.2, kl_coef=0.3, entropy_coef=0.1, temperature=1.3)
    batch = list(zip(recs, [1.0, -0.7, 0.4], strict=True))
    w = rng.normal(size=N_FEATURES) * 0.1
    _, grad, _ = loss_and_grad(w, batch, cfg)
    eps = 1e-6
    num = np.array(
        [(loss_and_grad(w + eps * e, batch, cfg)[0] - loss_and_grad(w - eps * e, batch, cfg)[0]) / (2 * eps) for e in np.eye(N_FEATURES)]
    )
    assert np.allclose(grad, num, atol=1e-5)


def test_kl_is_zero_at_the_reference(task):
    recs = _records(task, np.random.default_rng(1))
    feats = recs[0].feats
    w = np.random.default_rng(2).normal(size=N_FEATURES)
    rec = StepRecord(feats, 0, float(log_softmax(feats @ w)[0]), log_softmax(feats @ w))
    _, _, stats = loss_and_grad(w, [(rec, 1.0)], GRPOConfig())
    assert stats["kl"] == pytest.approx(0.0, abs=1e-12) and stats["clip_frac"] == 0.0


# ----------------------------------------------------------------------------- a tiny project


def _tiny_project(tmp_path: Path, grpo: dict) -> Path:
    src = tmp_path / "src"
    src.mkdir(parents=True)
    write_jsonl(src / "train.jsonl", tiny_records(24, "t"))
    write_jsonl(src / "dev.jsonl", tiny_records(6, "d"))
    params = {
        "data": {"source": f"local:{src}", "val_size": 4},
        "demos": {"n_demos": 20},
        "train": {"seeds": [0]},
        "sft": {"epochs": 3},
        "grpo": {"steps": 8, "batch_size": 6, "group_size": 48, "eval_every": 4, "temperature": 1.5, "lr": 0.05, **grpo},
        "tracking": {"uri": f"sqlite:///{tmp_path}/mlflow.db"},
    }
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def _run_stages(project: Path, monkeypatch, *stages: str) -> None:
    monkeypatch.chdir(project)
    for stage in stages:
        args = ["data", "build"] if stage == "prepare" else [stage]
        assert cli_main(args) == 0, stage


def _weights(project: Path, name: str = "last.json") -> np.ndarray:
    return load_policy(project / "models/grpo/seed0" / name).weights


def test_resume_in_process_is_bit_identical(tmp_path, monkeypatch):
    project = _tiny_project(tmp_path, {"steps": 6})
    _run_stages(project, monkeypatch, "prepare", "demos", "sft")
    p = load_params()
    train, _ = resolve_tasks("train", p.data)
    val, _ = resolve_tasks("val", p.data)
    init = load_policy("models/sft/seed0/policy.json").weights

    def grpo_run(out: Path, params=p) -> GRPORun:
        learner, parts = grpo_learner(params, 0, Path("models/sft/seed0/policy.json"), train, val)
        return GRPORun(params.grpo, 0, learner, train, val, params.env, params.reward, out, fingerprint(*parts), log=lambda *_: None)

    full = grpo_run(tmp_path / "full")
    full.train(NullRun())
    assert not np.array_equal(full.learner.w, init), "GRPO changed nothing: the test would prove nothing"
    assert not (tmp_path / "full" / "state.json").exists()  # a finished run leaves no resume point...
    assert finished_result(tmp_path / "full", full.fingerprint, RUN_OUTPUTS) is not None  # ...but a done marker with its fingerprint
    half = grpo_run(tmp_path / "half")
    real_step, calls = half.train_step, []

    def crash_on_fourth_step():
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt("simulated crash")  # after 3 steps were checkpointed
        return real_step()

    half.train_step = crash_on_fourth_step
    with pytest.raises(KeyboardInterrupt):
        half.train(NullRun())
    resumed = grpo_run(tmp_path / "half")
    assert resumed.resumed_from == 3
    resumed.train(NullRun())
    assert np.array_equal(resumed.learner.w, full.learner.w)
    assert [s for s, _ in resumed.history] == list(range(7))
    changed = grpo_run(tmp_path / "half", replace(p, grpo=replace(p.grpo, lr=0.5)))
    assert changed.resumed_from is None  # other params: the old state is not resumed


def test_sigkill_and_restart_ends_identical_to_uninterrupted(tmp_path, monkeypatch):
    a = _tiny_project(tmp_path / "a", {})
    b = _tiny_project(tmp_path / "b", {})
    for project in (a, b):
        _run_stages(project, monkeypatch, "prepare", "demos", "sft")
    monkeypatch.chdir(ROOT)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "explorer.cli", "grpo"]
    subprocess.run(cmd, cwd=a, env=env, check=True, capture_output=True)  # uninterrupted

    proc = subprocess.Popen(cmd, cwd=b, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = b / "models/grpo/seed0/state.json"
    deadline = time.time() + 120
    killed_at = None
    while time.time() < deadline and proc.poll() is None:
        if state.exists():
            try:
                step = json.loads(state.read_text())["step"]
            except (json.JSONDecodeError, OSError):
                step = 0  # cannot happen with atomic writes, but never crash the poll
            if step >= 2:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                killed_at = step
                break
        time.sleep(0.005)
    assert killed_at is not None and killed_at < 8, "the run finished before it could be killed"
    out = subprocess.run(cmd, cwd=b, env=env, check=True, capture_output=True, text=True)
    assert f"resuming from models/grpo/seed0/state.json at step {killed_at}" in out.stdout + out.stderr
    assert np.array_equal(_weights(a), _weights(b))
    assert np.array_equal(_weights(a, "best.json"), _weights(b, "best.json"))

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{b}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tinker-explorer").experiment_id], "tags.stage = 'grpo'")
    assert len(runs) == 1  # the restart continued the killed run
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "reward/mean")]
    assert sorted(steps) == list(range(1, 9))  # every step once: none lost, none repeated


def test_a_rerun_keeps_finished_seeds_and_retrains_only_the_unfinished(tmp_path, monkeypatch, capsys):
    # `dvc repro` killed during seed 1: seed 0 is done and must not be trained again.
    project = _tiny_project(tmp_path, {"steps": 2, "group_size": 8})
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["train"]["seeds"] = [0, 1]
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    _run_stages(project, monkeypatch, "prepare", "demos", "sft", "grpo")

    def last(seed):
        return load_policy(project / f"models/grpo/seed{seed}/last.json").weights

    first = {s: last(s) for s in (0, 1)}
    (project / "models/grpo/seed1/done.json").unlink()  # seed 1 "was killed"
    capsys.readouterr()
    _run_stages(project, monkeypatch, "grpo")
    out = capsys.readouterr().out
    assert "grpo seed 0: models/grpo/seed0 already holds a finished run" in out
    assert "grpo seed 1: best val/reward" in out  # trained again
    assert np.array_equal(first[0], last(0)) and np.array_equal(first[1], last(1))  # seeded: retraining is identical

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tinker-explorer").experiment_id], "tags.stage = 'grpo'")
    assert sorted(r.data.tags["seed"] for r in runs) == ["0", "1", "1"]  # no new run for the kept seed

    # Another learning rate is another run: nothing is kept.
    params["grpo"]["lr"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    capsys.readouterr()
    _run_stages(project, monkeypatch, "grpo")
    assert "already holds" not in capsys.readouterr().out
