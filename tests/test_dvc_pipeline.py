"""`dvc repro` of the whole pipeline on tiny params, in a temporary copy of the repo."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import tiny_records, write_jsonl

ROOT = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    if not DVC.exists() or shutil.which("git") is None:
        pytest.skip("dvc (in the venv) and git are needed")
    tmp = tmp_path_factory.mktemp("pipeline")
    repo = tmp / "repo"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for f in files:  # the working tree's tracked files, as they are on disk
        if (ROOT / f).is_file():
            (repo / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, repo / f)
    src = tmp / "src"
    src.mkdir()
    write_jsonl(src / "train.jsonl", tiny_records(20, "t"))
    write_jsonl(src / "dev.jsonl", tiny_records(6, "d"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["data"].update(source=f"local:{src}", val_size=4)
    params["demos"]["n_demos"] = 12
    params["train"]["seeds"] = [0, 1]
    params["sft"]["epochs"] = 2
    params["grpo"].update(steps=2, batch_size=2, group_size=4, eval_every=1)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db", "DVC_SITE_CACHE_DIR": str(tmp / "dvc-site"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "EXPLORER_PROJECT_ROOT": str(repo)}  # fmt: skip
    env.pop("EXPLORER_2WIKI_DIR", None)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"]):
        _run(cmd, repo, env)
    _run([str(DVC), "repro"], repo, env)
    return repo, env, tmp


def test_repro_builds_every_output(project):
    repo, _, tmp = project
    for path in ("data/prepared/manifest.json", "reports/baseline/table.md", "data/demos/episodes.jsonl", "models/sft/seed1/policy.json",
                 "models/grpo/seed1/best.json", "reports/eval/metrics.json", "reports/results.md", "reports/plots/frontier.png",
                 "reports/plots/comparison.png", "reports/plots/grpo_curves.png"):  # fmt: skip
        assert (repo / path).exists(), path
    learned = json.loads((repo / "reports/eval/metrics.json").read_text())
    assert learned["grpo"]["dev"]["seeds"] == [0, 1] and "std" in learned["grpo"]["dev"]["f1"]
    assert "| grpo |" in (repo / "reports/results.md").read_text()
    assert json.loads((repo / "data/prepared/manifest.json").read_text())["source"]["kind"] == "local"


def test_second_repro_does_nothing_and_a_grpo_param_reruns_only_downstream(project):
    repo, env, _ = project
    assert "Data and pipelines are up to date" in _run([str(DVC), "status"], repo, env)
    out = _run([str(DVC), "repro"], repo, env)
    assert "Running stage" not in out
    params = yaml.safe_load((repo / "params.yaml").read_text())
    params["grpo"]["lr"] = 0.03
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    status = json.loads(_run([str(DVC), "status", "--json"], repo, env).splitlines()[-1])
    assert set(status) == {"grpo"}  # dvc status lists the stage whose own deps changed
    out = _run([str(DVC), "repro"], repo, env)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert {"grpo", "evaluate"} <= ran and not ran & {"prepare", "baseline", "demos", "sft"}
    # (report reruns too when evaluate's metrics change; with these tiny params they may not)
