"""The `sft` stage: behaviour cloning of the demos into the local policy.

Each demo episode is replayed through the env to rebuild the observation the heuristic saw at
every step; the policy's action set for that observation is listed, and the demonstrated action
is the target of a softmax cross-entropy over that set. Minibatch Adam, seeded shuffles.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from explorer.config import EnvConfig, Params, SFTConfig, load_params
from explorer.data import task_from_dict
from explorer.env import ExplorerEnv
from explorer.policies.local import N_FEATURES, action_set, log_softmax, save_policy
from explorer.train.adam import Adam
from explorer.types import Episode

Example = tuple[np.ndarray, int]  # (features of the action set [A, D], index of the demo action)


def examples_from_demos(lines: list[dict]) -> tuple[list[Example], int]:
    """(features, target) for every demonstrated step, and how many steps had no match in the
    policy's action set (e.g. an answer text the candidate list does not hold)."""
    examples: list[Example] = []
    unmatched = 0
    for d in lines:
        task = task_from_dict(d["task"])
        ep = Episode.from_dict(d)
        env = ExplorerEnv(task, EnvConfig(**d["env_config"]))
        obs = env.initial_observation()
        for t in ep.transitions:
            aset = action_set(obs)
            idx = aset.index_of(t.action)
            if idx is None:
                unmatched += 1
            else:
                examples.append((aset.features, idx))
            obs = env.step(t.action).observation
    return examples, unmatched


def nll_and_grad(w: np.ndarray, batch: list[Example]) -> tuple[float, np.ndarray, float]:
    """Mean negative log-likelihood of the targets, its gradient, and argmax accuracy."""
    loss, grad, correct = 0.0, np.zeros_like(w), 0
    for feats, target in batch:
        lp = log_softmax(feats @ w)
        p = np.exp(lp)
        loss -= lp[target]
        grad += feats.T @ (p - np.eye(len(p))[target])
        correct += int(np.argmax(lp) == target)
    n = max(1, len(batch))
    return loss / n, grad / n, correct / n


def train_sft(examples: list[Example], cfg: SFTConfig, seed: int, log=print) -> tuple[np.ndarray, list[dict]]:
    rng = np.random.default_rng(seed)
    w = np.zeros(N_FEATURES)
    opt = Adam(cfg.lr, weight_decay=cfg.weight_decay)
    history = []
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(examples))
        for start in range(0, len(order), cfg.batch_size):
            _, grad, _ = nll_and_grad(w, [examples[i] for i in order[start : start + cfg.batch_size]])
            w = opt.step(w, grad)
        loss, _, acc = nll_and_grad(w, examples)
        history.append({"epoch": epoch + 1, "sft/loss": loss, "sft/accuracy": acc})
        log(f"sft seed {seed} epoch {epoch + 1}/{cfg.epochs}: loss {loss:.4f} accuracy {acc:.3f}")
    return w, history


def checkpoint_path(cfg: SFTConfig, seed: int) -> Path:
    return Path(cfg.out_dir) / f"seed{seed}" / "policy.json"


def main(params: Params | None = None) -> int:
    from explorer.tracking import stage_run

    params = params or load_params()
    if params.train.backend == "tinker":
        from explorer.train.tinker_train import sft_main

        return sft_main(params)
    cfg = params.sft
    demo_path = Path(params.demos.out_dir) / "episodes.jsonl"
    if not demo_path.exists():
        raise FileNotFoundError(f"no demos at {demo_path}: run `dvc repro demos` (or `explorer demos`) first")
    lines = [json.loads(ln) for ln in demo_path.read_text().splitlines() if ln.strip()]
    examples, unmatched = examples_from_demos(lines)
    print(f"sft: {len(examples)} demonstrated steps from {len(lines)} demos ({unmatched} with no matching action, skipped)")
    for seed in params.train.seeds:
        with stage_run(params.tracking, f"sft-seed{seed}", {"stage": "sft", "seed": str(seed)}) as run:
            run.log_params(
                {f"sft.{k}": v for k, v in asdict(cfg).items()} | {"seed": seed, "sft.examples": len(examples), "sft.unmatched": unmatched}
            )
            w, history = train_sft(examples, cfg, seed)
            run.log_metrics_history([(h["epoch"], {k: v for k, v in h.items() if k != "epoch"}) for h in history])
            out = checkpoint_path(cfg, seed)
            # No run id in the file: the checkpoint stays a pure function of its inputs, so a rerun
            # that changes nothing leaves DVC nothing to redo downstream. MLflow links to it instead.
            save_policy(out, w, {"stage": "sft", "seed": seed, "params": asdict(cfg), "final": history[-1] if history else {}})
            run.set_tags({"checkpoint": str(out.resolve())})
            print(f"sft seed {seed}: loss {history[-1]['sft/loss']:.4f} accuracy {history[-1]['sft/accuracy']:.3f} -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
