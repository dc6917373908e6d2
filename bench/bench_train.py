"""Benchmark of the local training chain (run by hand; results go in the README / issue notes).

    python bench/bench_train.py

In a temporary copy of the project (prepared data copied in, MLflow to a temporary store), on
default params: wall time of demos -> sft -> grpo -> evaluate (each stage in its own process,
as `dvc repro` runs them), the mean GRPO step, rollout episodes per second, and the peak
memory (max RSS) of every stage process.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("demos", "sft", "grpo", "evaluate")


def main() -> None:
    if not (ROOT / "data/prepared/train.jsonl").exists():
        sys.exit("run `dvc repro prepare baseline` first")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(ROOT / "params.yaml", work)
        shutil.copytree(ROOT / "data/prepared", work / "data/prepared")
        shutil.copytree(ROOT / "reports/baseline", work / "reports/baseline")
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work}/mlflow.db", "EXPLORER_PROJECT_ROOT": str(work)}
        total = 0.0
        for stage in STAGES:
            t0 = time.perf_counter()
            # /usr/bin/time is not everywhere; measure max RSS of the child with resource.
            code = f"import resource,sys,runpy; sys.argv=['explorer','{stage}']; rc=0\ntry:\n runpy.run_module('explorer.cli', run_name='__main__')\nexcept SystemExit as e: rc=e.code or 0\nprint('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
            out = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(f"{stage} failed:\n{out.stderr[-3000:]}")
            secs = time.perf_counter() - t0
            total += secs
            rss = int(re.search(r"MAXRSS_KB (\d+)", out.stderr).group(1)) / 1024
            print(f"{stage:9s} {secs:6.1f}s  peak RSS {rss:6.0f} MiB")
            if stage == "grpo":
                # history.json keeps no timings (its bytes must reproduce); the stage's own time,
                # spread over its steps, includes the val evals and MLflow logging
                import yaml

                g = yaml.safe_load((work / "params.yaml").read_text())["grpo"]
                eps, n_steps = g["batch_size"] * g["group_size"], g["steps"] * 3
                mean = secs / n_steps
                print(f"          GRPO step: {mean:.2f}s on average over {n_steps} steps ({eps} episodes each, with update and val evals)")
        print(f"whole demos -> sft -> grpo -> evaluate: {total:.1f}s")


if __name__ == "__main__":
    main()
