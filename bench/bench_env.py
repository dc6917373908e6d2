"""Benchmarks for the foundation (run by hand; results go in the README / issue notes).

    python bench/bench_env.py [--tasks dev]

1. env steps per second: every dev task, driven by read-all (the longest episodes: ~14 steps).
2. time to evaluate the dev questions with the heuristic, in process (harness only) and as a
   whole `explorer eval` command (imports, loading, writing outputs, MLflow run).
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time

from explorer.config import load_params
from explorer.data.tasks import resolve_tasks
from explorer.env import ExplorerEnv
from explorer.harness import evaluate_policy
from explorer.policies import baseline_factory


def bench_steps(tasks, params, repeats: int = 5) -> tuple[int, float]:
    n_steps = 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        for task in tasks:
            policy = baseline_factory("read_all")(task)
            env = ExplorerEnv(task, params.env, params.reward)
            obs = env.initial_observation()
            rng = random.Random(0)
            while not env.done:
                obs = env.step(policy(obs, rng)).observation
                n_steps += 1
    return n_steps, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", default="dev")
    args = ap.parse_args()
    params = load_params()
    tasks, label = resolve_tasks(args.tasks, params.data)

    n, secs = bench_steps(tasks, params)
    print(f"env steps: {n} in {secs:.2f}s = {n / secs:,.0f} steps/s (read-all over {len(tasks)} {label} tasks x5)")

    for policy in ("heuristic", "read_all"):
        t0 = time.perf_counter()
        m, _ = evaluate_policy(tasks, baseline_factory(policy), policy, params.env, params.reward, seed=0, progress=False)
        print(f"evaluate {policy} in process: {len(tasks)} questions in {time.perf_counter() - t0:.2f}s (f1 {m['f1']:.3f})")

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db"}
        cmd = [
            sys.executable,
            "-m",
            "explorer.cli",
            "eval",
            "--policy",
            "heuristic",
            "--tasks",
            args.tasks,
            "--out",
            f"{tmp}/out",
            "--quiet",
        ]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        print(
            f"`explorer eval --policy heuristic --tasks {args.tasks}` wall time (new process, MLflow run, outputs): {time.perf_counter() - t0:.2f}s"
        )


if __name__ == "__main__":
    main()
