"""The `demos` stage: demonstration episodes on the train split, the SFT warm start's data.

Written in the eval harness's format (`episodes.jsonl` with each task and config, plus
`metrics.json` and `predictions.json`), so `explorer episodes show data/demos/episodes.jsonl
--id ID` replays any demonstration.
"""

from __future__ import annotations

import sys
from pathlib import Path

from explorer import layout
from explorer.config import Params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy, flat_metrics, summary_line, write_outputs
from explorer.policies import baseline_factory
from explorer.stages import run_main
from explorer.tracking import stage_run


def main(params: Params) -> int:
    cfg = params.demos
    tasks, label = resolve_tasks(cfg.split, params.data)
    if cfg.n_demos > len(tasks):
        print(f"warning: demos.n_demos={cfg.n_demos} but the {cfg.split} split has {len(tasks)} tasks; using {len(tasks)}", file=sys.stderr)
    chosen = tasks[: cfg.n_demos]  # the split is already a seeded shuffle of the source
    metrics, episodes = evaluate_policy(chosen, baseline_factory(cfg.policy), cfg.policy, params.env, params.reward, seed=0, progress=True)
    out = Path(cfg.out_dir)
    write_outputs(out, tasks, episodes, {"policy": cfg.policy, "tasks": label, **metrics}, params.env, params.reward)
    print(summary_line(f"{cfg.policy} (demos)", label, metrics, 0.0))
    with stage_run(params.tracking, "demos", {"stage": "demos"}) as run:
        run.log_params({"demos.n_demos": cfg.n_demos, "demos.policy": cfg.policy, "demos.split": cfg.split})
        run.log_metrics(flat_metrics(metrics, "demos"))
        run.log_artifact(layout.demos_file(cfg).with_name("metrics.json"))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
