"""A tracking server that dies in the middle of a GRPO run loses no metrics: the run trains on,
keeps the metrics it could not send in state.json, and sends them when the server is back (in
the same process, or at the rerun that resumes). A real `mlflow server` on 127.0.0.1, killed
and restarted by the test."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import tiny_project

ROOT = Path(__file__).resolve().parents[1]
STEPS = 14


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(store: Path, port: int) -> subprocess.Popen:
    mlflow = Path(sys.executable).parent / "mlflow"
    if not mlflow.exists() and shutil.which("mlflow") is None:
        pytest.skip("mlflow CLI not installed")
    cmd = [str(mlflow if mlflow.exists() else "mlflow"), "server", "--backend-store-uri", f"sqlite:///{store}/mlflow.db",
           "--artifacts-destination", str(store / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail("mlflow server did not come up within 120 s")


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the server and its worker: it dies, it does not shut down
    proc.wait(timeout=30)


def _step(state: Path) -> int:
    try:
        return int(json.loads(state.read_text())["step"])
    except (OSError, ValueError, KeyError):
        return -1


def test_metrics_survive_a_tracking_server_that_dies_mid_run(tmp_path):
    params = {"data": {"val_size": 4}, "demos": {"n_demos": 20}, "train": {"seeds": [0]}, "sft": {"epochs": 3},
              "grpo": {"steps": STEPS, "batch_size": 6, "group_size": 24, "eval_every": 5, "temperature": 1.5}}  # fmt: skip
    project = tiny_project(tmp_path, 24, 6, params)
    store, port = tmp_path / "store", _free_port()
    store.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"}
    for var in ("EXPLORER_PROJECT_ROOT", "EXPLORER_PARENT_RUN_ID"):
        env.pop(var, None)
    server = _start_server(store, port)
    try:
        for stage in ("prepare", "demos", "sft"):
            subprocess.run([sys.executable, "-m", f"explorer.stages.{stage}"], cwd=project, env=env, check=True, capture_output=True)
        grpo = subprocess.Popen(
            [sys.executable, "-m", "explorer.stages.grpo"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        state = project / "models/grpo/seed0/state.json"
        deadline = time.time() + 120
        while _step(state) < 2 and time.time() < deadline and grpo.poll() is None:
            time.sleep(0.02)
        _stop(server)  # dies with the run in progress
        killed_at = _step(state)
        while _step(state) < killed_at + 3 and time.time() < deadline and grpo.poll() is None:
            time.sleep(0.05)
        pending = len(json.loads(state.read_text())["pending"]) if state.exists() else 0
        server = _start_server(store, port)  # back, same store
        out = grpo.communicate(timeout=300)[0]
        print(f"killed at step {killed_at}, {pending} steps pending in state.json, grpo exit {grpo.returncode}")
        assert 2 <= killed_at < STEPS, out
        assert "warning: MLflow did not take the metrics" in out, out
        assert pending >= 2, "the steps trained while the server was down were not kept"
        if grpo.returncode == 2:  # it finished before the server was back: the metrics wait in state.json
            assert "kept in models/grpo/seed0/state.json" in out, out
            again = subprocess.run(
                [sys.executable, "-m", "explorer.stages.grpo"], cwd=project, env=env, capture_output=True, text=True, timeout=300
            )
            assert again.returncode == 0, again.stdout + again.stderr
        else:
            assert grpo.returncode == 0, out
        assert not state.exists() and (project / "models/grpo/seed0/done.json").exists()

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"http://127.0.0.1:{port}")
        exp = client.get_experiment_by_name("tinker-explorer").experiment_id
        (run,) = client.search_runs([exp], "tags.stage = 'grpo'")
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "reward/mean"))
        assert steps == list(range(1, STEPS + 1))  # every step once: none lost while the server was down, none twice
        assert [m.step for m in client.get_metric_history(run.info.run_id, "val/reward")][:1] == [0]
    finally:
        _stop(server)
