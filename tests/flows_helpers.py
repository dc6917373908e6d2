"""Helpers of the flow tests (tests/test_flows.py, tests/test_flows_server.py)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import yaml
from helpers import tiny_records, write_jsonl

REPO = Path(__file__).resolve().parents[1]


def make_project(root: Path) -> Path:
    """A throwaway DVC project with this repo's dvc.yaml, params.yaml and code (no commit needed)."""
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "explorer", root / "explorer", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".dvc").mkdir()
    shutil.copy(REPO / ".dvc" / "config", root / ".dvc" / "config")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)  # DVC needs a git repo
    return root


def make_tiny_project(root: Path) -> Path:
    """make_project on 12 made-up train and 4 dev records, with the heuristic as the only baseline:
    prepare and baseline run in a few seconds."""
    make_project(root)
    src = root.parent / f"{root.name}-src"
    src.mkdir()
    write_jsonl(src / "train.jsonl", tiny_records(12, "t"))
    write_jsonl(src / "dev.jsonl", tiny_records(4, "d"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"].update(source=f"local:{src}", val_size=2)
    params["baseline"]["policies"] = ["heuristic"]
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_reports(root: Path) -> None:
    """What the baseline, evaluate and report stages write that the parent run reads."""
    m = {"f1": {"mean": 0.5}, "em": {"mean": 0.4}, "avg_tokens_read": {"mean": 300.0}}
    (root / "reports" / "plots").mkdir(parents=True, exist_ok=True)
    (root / "reports" / "baseline").mkdir(exist_ok=True)
    (root / "reports" / "baseline" / "metrics.json").write_text(json.dumps({"heuristic": {"f1": 0.7, "em": 0.6, "avg_tokens_read": 250.0}}))
    (root / "reports" / "eval").mkdir(exist_ok=True)
    (root / "reports" / "eval" / "metrics.json").write_text(json.dumps({"sft": {"dev": m}, "grpo": {"dev": m | {"f1": {"mean": 0.72}}}}))
    (root / "reports" / "results.md").write_text("# results\n")
    for name in ("frontier.png", "grpo_curves.png"):
        (root / "reports" / "plots" / name).write_bytes(b"\x89PNG\r\n")
