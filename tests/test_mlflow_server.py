"""MLflow as users browse it: a real `mlflow server` on 127.0.0.1, queried through MlflowClient
and the REST API for the runs a stage wrote."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from helpers import raw_record, write_jsonl

from explorer.cli import main


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    if not mlflow_bin.exists() and shutil.which("mlflow") is None:
        pytest.skip("mlflow CLI not installed")
    tmp = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    cmd = [str(mlflow_bin if mlflow_bin.exists() else "mlflow"), "server", "--backend-store-uri", f"sqlite:///{tmp}/mlflow.db",
           "--artifacts-destination", str(tmp / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not come up on 127.0.0.1 within 90 s")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_runs_are_listed_by_the_server(mlflow_server, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server)
    tasks = write_jsonl(tmp_path / "t.jsonl", [raw_record(_id="a"), raw_record(_id="b")])
    for policy in ("heuristic", "read_all"):
        assert main(["eval", "--policy", policy, "--tasks", str(tasks), "--out", str(tmp_path / policy), "--quiet"]) == 0

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("tinker-explorer")
    runs = client.search_runs([exp.experiment_id], "tags.stage = 'eval'")
    assert {r.data.params["policy"] for r in runs} == {"heuristic", "read_all"}
    for r in runs:
        assert r.data.metrics["eval/n"] == 2 and "eval/avg_tokens_read" in r.data.metrics
        assert {a.path for a in client.list_artifacts(r.info.run_id)} == {
            "metrics.json",
            "predictions.json",
            "episodes.jsonl",
            "viewer.html",
        }

    # the REST API the UI itself uses
    body = json.dumps({"experiment_ids": [exp.experiment_id]}).encode()
    req = urllib.request.Request(f"{mlflow_server}/api/2.0/mlflow/runs/search", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        listed = json.load(r)["runs"]
    assert len(listed) == 2
    with urllib.request.urlopen(mlflow_server, timeout=10) as r:  # the UI page
        assert r.status == 200

    capsys.readouterr()
    assert main(["runs", "compare", "--stage", "eval"]) == 0
    table = capsys.readouterr().out
    assert "eval-heuristic" in table and "eval-read_all" in table and "| eval/f1 |" in table
