"""The `grpo` stage: GRPO from each seed's SFT checkpoint, on either backend, with the one loop
of explorer/rl/grpo.py. Each seed is one run in models/grpo/seed{N}/; a killed stage resumes
from its state.json, and a seed that already finished with the same fingerprint is kept."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from explorer import layout
from explorer.backends import local, tinker
from explorer.backends.tinker_sdk import service_session
from explorer.config import GRPOConfig, Params
from explorer.data.tasks import resolve_tasks
from explorer.plots import plot_grpo_curves
from explorer.rl.grpo import RUN_OUTPUTS, GRPORun, Learner
from explorer.rl.state import fingerprint, finished_result
from explorer.stages import run_main
from explorer.tracking import stage_run
from explorer.types import Task

MakeLearner = Callable[[int, Path, list[Task], list[Task]], tuple[Learner, list[Any]]]


def main(params: Params) -> int:
    if params.train.backend == "tinker":
        # first: a bad key, a billing block or a rank the model does not take fails before any work.
        # Resume points every tinker.grpo_save_every steps (each is a training state on the service).
        cfg = replace(params.grpo, checkpoint_every=params.tinker.grpo_save_every)
        with service_session(params.tinker, params.tinker.lora_rank) as session:
            return train_seeds(params, lambda seed, init, tr, va: tinker.grpo_learner(params, seed, init, tr, va, session), cfg)
    return train_seeds(params, lambda seed, init, tr, va: local.grpo_learner(params, seed, init, tr, va), params.grpo)


def train_seeds(params: Params, make_learner: MakeLearner, cfg: GRPOConfig) -> int:
    train, _ = resolve_tasks("train", params.data)
    val, _ = resolve_tasks("val", params.data)
    histories: dict[str, list[tuple[int, dict[str, float]]]] = {}
    for seed in params.train.seeds:
        init_path = layout.sft_checkpoint(params.sft, seed)
        if not init_path.exists():
            raise FileNotFoundError(f"no SFT checkpoint at {init_path}: run `dvc repro sft` first")
        out = layout.grpo_dir(cfg, seed)
        learner, parts = make_learner(seed, init_path, train, val)
        fp = fingerprint(*parts)
        if (done := finished_result(out, fp, RUN_OUTPUTS)) is not None:
            best = done["best"]
            print(f"grpo seed {seed}: {out} already holds a finished run with these params, data and code (best val/f1 "
                  f"{best['val/f1']:.3f} at step {best['step']}); kept. Delete {out / 'done.json'} to retrain.")  # fmt: skip
            histories[f"seed {seed}"] = [(h.pop("step"), h) for h in json.loads((out / "history.json").read_text())]
            continue
        run = GRPORun(cfg, seed, learner, train, val, params.env, params.reward, out, fp)
        tags = {"stage": "grpo", "seed": str(seed), "backend": params.train.backend}
        # a resumed run knows the MLflow run of the killed process, which then continues
        with stage_run(params.tracking, f"grpo-seed{seed}", tags, run_id=run.state.run_id) as mlrun:
            run.state.run_id = mlrun.run_id
            if run.resumed_from is None:
                mlrun.log_params({f"grpo.{k}": v for k, v in asdict(params.grpo).items()}
                                 | {"seed": seed, "grpo.init": str(init_path), "reward.variant": params.reward.variant, "train.backend": params.train.backend}
                                 | (tinker.tinker_params(params) if params.train.backend == "tinker" else
                                    {f"local_policy.{k}": v for k, v in asdict(params.local_policy).items()}))  # fmt: skip
            result = run.train(mlrun)
            mlrun.log_artifact(plot_grpo_curves({f"seed {seed}": run.history}, out / "curves.png"))
            best = result["best"]
            # project-relative paths (never this machine's absolute ones); the files themselves as
            # artifacts (local weights), or the tinker:// paths they point at (Tinker)
            tags = {"checkpoint.best": str(out / "best.json"), "checkpoint.last": str(out / "last.json"), "best_step": str(best["step"])}
            mlrun.log_metrics({"best/step": float(best["step"]), "best/val_reward": best["val/reward"], "best/val_f1": best["val/f1"]})
            if params.train.backend == "tinker":
                for name in ("best", "last"):
                    doc = json.loads((out / f"{name}.json").read_text())
                    tags |= {f"tinker.{name}_sampler_path": doc["sampler_path"], f"tinker.{name}_state_path": doc["state_path"]}
            else:
                for name in ("best.json", "last.json"):
                    mlrun.log_artifact(out / name, "checkpoint")
            for page in sorted((out / "rollouts").glob("*.html")):
                mlrun.log_artifact(page, "rollouts")
            mlrun.set_tags(tags)
        histories[f"seed {seed}"] = run.history
        print(
            f"grpo seed {seed}: best val/reward {best['val/reward']:.3f} (val/f1 {best['val/f1']:.3f}) at step {best['step']} -> {out}/best.json"
        )
    plot_grpo_curves(histories, layout.GRPO_CURVES_PNG)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
