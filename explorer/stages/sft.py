"""The `sft` stage: the warm start. One checkpoint per seed of `train.seeds`, from the demos.

Local backend: behaviour cloning of the demonstrated actions into the log-linear policy
(explorer/backends/local.py). Tinker backend: cross-entropy on the demos rendered as
conversations, resumable per seed (explorer/backends/tinker.py).
"""

from __future__ import annotations

import sys
from dataclasses import asdict

from explorer import layout
from explorer.backends import local, tinker
from explorer.config import Params
from explorer.harness import read_episodes
from explorer.policies.local import save_policy
from explorer.stages import run_main
from explorer.tracking import stage_run


def main(params: Params) -> int:
    demo_path = layout.demos_file(params.demos)
    if not demo_path.exists():
        raise FileNotFoundError(f"no demos at {demo_path}: run `dvc repro demos` (or `explorer demos`) first")
    lines = read_episodes(demo_path)
    outs = {seed: layout.sft_checkpoint(params.sft, seed) for seed in params.train.seeds}
    if params.train.backend == "tinker":
        tinker.run_sft(params, lines, demo_path, outs)
        return 0
    cfg = params.sft
    stop = params.local_policy
    examples, unmatched = local.examples_from_demos(lines, stop)
    rules = f"; stop rules {asdict(stop)}" if stop.active else ""
    print(f"sft: {len(examples)} demonstrated steps from {len(lines)} demos ({unmatched} with no matching action, skipped{rules})")
    for seed, out in outs.items():
        with stage_run(params.tracking, f"sft-seed{seed}", {"stage": "sft", "seed": str(seed), "backend": "local"}) as run:
            run.log_params(
                {f"sft.{k}": v for k, v in asdict(cfg).items()}
                | {f"local_policy.{k}": v for k, v in asdict(stop).items()}
                | {"seed": seed, "sft.examples": len(examples), "sft.unmatched": unmatched}
            )
            w, history = local.train_sft(examples, cfg, seed)
            run.log_metrics_history([(h["epoch"], {k: v for k, v in h.items() if k != "epoch"}) for h in history])
            # No run id in the file: the checkpoint stays a pure function of its inputs, so a rerun
            # that changes nothing leaves DVC nothing to redo downstream. MLflow links to it instead.
            save_policy(out, w, {"stage": "sft", "seed": seed, "params": asdict(cfg), "final": history[-1] if history else {}}, stop)
            run.set_tags({"checkpoint": str(out)})  # project-relative; the file itself is the artifact
            run.log_artifact(out, "checkpoint")
            print(f"sft seed {seed}: loss {history[-1]['sft/loss']:.4f} accuracy {history[-1]['sft/accuracy']:.3f} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
