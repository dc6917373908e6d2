"""The rollout viewer in a real browser: the page `explorer eval` writes, and a GRPO step's page,
loaded by headless Chromium (`.ci/run` installs Debian's chromium); the DOM the page's script
builds must hold the episodes, and the URL-hash filters must filter."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import raw_record, write_jsonl

from explorer.cli import main
from explorer.config import DataConfig, EnvConfig
from explorer.data.records import parse_record
from explorer.data.tasks import make_task, task_to_dict
from explorer.harness import evaluate_policy
from explorer.policies import baseline_factory
from explorer.reward import RewardConfig
from explorer.viewer import eval_page, grpo_page


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("EXPLORER_REQUIRE_BROWSER"):  # CI installs it: there a missing browser is a failure
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return path


def _dom(page: Path, tmp_path: Path, fragment: str = "") -> str:
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome-profile'}", "--virtual-time-budget=5000",
           "--dump-dom", page.resolve().as_uri() + fragment]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_the_eval_page_renders_every_episode_and_filters(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    monkeypatch.chdir(tmp_path)
    rows = [raw_record(_id=f"q{i}") for i in range(4)] + [raw_record(_id="wrong", answer="Oslo")]
    tasks = write_jsonl(tmp_path / "t.jsonl", rows)
    assert main(["eval", "--policy", "heuristic", "--tasks", str(tasks), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    page = tmp_path / "out" / "viewer.html"
    text = page.read_text()
    assert "http://" not in text and "https://" not in text and "<script src" not in text  # self-contained: no network
    dom = _dom(page, tmp_path)
    assert len(re.findall(r'<tr class="ep"', dom)) == 5 and "shown 5 of 5" in dom
    assert "Graz" in dom and "Where was the director of film Blue Lake born?" in dom
    wrong = _dom(page, tmp_path, "#result=wrong")
    assert len(re.findall(r'<tr class="ep"', wrong)) == 1 and 'data-id="wrong"' in wrong and "shown 1 of 5" in wrong


def test_a_grpo_step_page_shows_the_groups_side_by_side(tmp_path):
    task = make_task(parse_record(raw_record(), "t", 1), DataConfig())[0]
    _, eps = evaluate_policy([task] * 3, baseline_factory("random"), "random", EnvConfig(), RewardConfig(), seed=1, progress=False)
    groups = [
        {
            "task": task_to_dict(task),
            "episodes": [e.to_dict() for e in eps],
            "rewards": [e.reward for e in eps],
            "advantages": [1.0, -0.5, -0.5],
        },
        {"task": task_to_dict(task), "episodes": [e.to_dict() for e in eps], "rewards": [0.5, 0.5, 0.5], "advantages": None},
    ]
    page = tmp_path / "step0001.html"
    page.write_text(grpo_page("GRPO seed 0, step 1", 1, groups))
    dom = _dom(page, tmp_path)
    assert dom.count('class="group"') == 1 and dom.count('class="group dropped"') == 1 and "shown 2 of 2 groups" in dom
    assert len(re.findall(r'class="rollout', dom)) == 6


def test_the_page_is_a_pure_function_of_its_input():
    lines = [{"task": task_to_dict(make_task(parse_record(raw_record(), "t", 1), DataConfig())[0]), "steps": [], "metrics": {}}]
    assert eval_page("t", lines, {"n": 1}) == eval_page("t", lines, {"n": 1})  # no time stamps: DVC outputs stay reproducible
