"""dvc.yaml agrees with the code: each stage runs its own module, lists exactly the source files
that module imports (explorer.codedeps, the same list a run's fingerprint hashes), and names the
outputs explorer/layout.py says the stage writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from explorer import layout
from explorer.codedeps import closure, source_files
from explorer.config import Params

ROOT = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", sorted(DVC))
def test_stage_code_deps_are_exactly_what_its_module_imports(stage):
    spec = DVC[stage]
    assert spec["cmd"] == f"python -m explorer.stages.{stage}"
    listed = sorted(d for d in spec["deps"] if str(d).startswith("explorer/"))
    assert listed == source_files(f"explorer.stages.{stage}"), (
        "dvc.yaml deps differ from the stage module's imports; run: python -m explorer.codedeps --sync"
    )


def test_the_closure_follows_imports_and_only_explorer_modules():
    mods = closure("explorer.stages.report")
    assert {"explorer.stages.report", "explorer.plots", "explorer.report", "explorer.stages", "explorer"} <= mods
    assert not any(m.startswith("explorer.rl") or m in ("explorer.backends.local", "explorer.backends.tinker") for m in mods)  # no trainer
    assert not any(m.startswith(("explorer.rl", "explorer.backends.tinker ")) for m in closure("explorer.harness"))  # nor the harness


def _outs(stage: str) -> set[str]:
    return {next(iter(o)) if isinstance(o, dict) else o for key in ("outs", "metrics", "plots") for o in DVC[stage].get(key, [])}


def test_dvc_outputs_are_the_layout_paths():
    p = Params()
    assert {str(layout.split_file(p.data, s)) for s in layout.SPLITS} | {str(layout.manifest_file(p.data))} == _outs("prepare")
    assert {str(layout.demos_file(p.demos)), str(layout.demos_file(p.demos).with_name("predictions.json")),
            str(layout.demos_file(p.demos).with_name("metrics.json"))} == _outs("demos")  # fmt: skip
    assert str(layout.baseline_metrics(p.baseline)) in _outs("baseline")
    assert str(layout.sft_checkpoint(p.sft, 0).parent.parent) in _outs("sft")
    assert {str(layout.grpo_dir(p.grpo, 0).parent), str(layout.GRPO_CURVES_PNG)} == _outs("grpo")
    assert str(layout.eval_metrics(p.evaluate)) in _outs("evaluate")
    assert {str(layout.RESULTS_MD), str(layout.FRONTIER_PNG), str(layout.COMPARISON_PNG)} == _outs("report")
