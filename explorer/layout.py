"""Where every stage reads and writes: the project's paths, in one place.

Folders come from params.yaml (`data.out_dir`, `sft.out_dir`, ...); the file names inside them are
fixed here. dvc.yaml names the same paths as stage outputs (tests/test_layout.py checks they agree).
All paths are relative to the project root, which is the working folder of every stage.
"""

from __future__ import annotations

from pathlib import Path

from explorer.config import BaselineConfig, DataConfig, DemosConfig, EvaluateConfig, GRPOConfig, SFTConfig

SPLITS = ("train", "val", "dev")
REPORTS_DIR = Path("reports")
PLOTS_DIR = REPORTS_DIR / "plots"
RESULTS_MD = REPORTS_DIR / "results.md"
GRPO_CURVES_PNG = PLOTS_DIR / "grpo_curves.png"
FRONTIER_PNG = PLOTS_DIR / "frontier.png"
COMPARISON_PNG = PLOTS_DIR / "comparison.png"


def split_file(cfg: DataConfig, split: str) -> Path:
    """A prepared split: data/prepared/{train,val,dev}.jsonl."""
    return Path(cfg.out_dir) / f"{split}.jsonl"


def manifest_file(cfg: DataConfig) -> Path:
    return Path(cfg.out_dir) / "manifest.json"


def demos_file(cfg: DemosConfig) -> Path:
    """The demonstrations (episodes in the eval harness's format)."""
    return Path(cfg.out_dir) / "episodes.jsonl"


def baseline_dir(cfg: BaselineConfig, policy: str) -> Path:
    return Path(cfg.out_dir) / "runs" / policy


def baseline_metrics(cfg: BaselineConfig) -> Path:
    return Path(cfg.out_dir) / "metrics.json"


def sft_checkpoint(cfg: SFTConfig, seed: int) -> Path:
    """One seed's SFT checkpoint: a local policy file, or a Tinker pointer file."""
    return Path(cfg.out_dir) / f"seed{seed}" / "policy.json"


def grpo_dir(cfg: GRPOConfig, seed: int) -> Path:
    """One seed's GRPO run: best.json, last.json, history.json, curves.png, and while it runs
    state.json (the resume point), replaced by done.json when it finishes."""
    return Path(cfg.out_dir) / f"seed{seed}"


def grpo_best(cfg: GRPOConfig, seed: int) -> Path:
    return grpo_dir(cfg, seed) / "best.json"


def eval_dir(cfg: EvaluateConfig, name: str, seed: int, split: str) -> Path:
    """Where the evaluate stage writes one checkpoint's outputs on one split."""
    return Path(cfg.out_dir) / name / f"seed{seed}" / split


def eval_metrics(cfg: EvaluateConfig) -> Path:
    return Path(cfg.out_dir) / "metrics.json"


def budgets_metrics(cfg: EvaluateConfig) -> Path:
    """F1 and tokens of heuristic, read-all and GRPO under each of `evaluate.budgets`."""
    return Path(cfg.out_dir) / "budgets.json"
