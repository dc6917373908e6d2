"""The `grpo` stage: group-relative policy optimisation of the local policy.

One linear script, in the spirit of nanochat's chat_rl.py. Per step:
1. pick `batch_size` train questions (seeded), sample `group_size` episodes of each with the
   current policy (temperature `temperature`), recording each step's action set, chosen action
   and its log-probability under the sampling policy;
2. advantage of an episode = (reward - group mean) / (group std + 1e-6) (only centred if
   `normalize_advantages` is false); groups whose rewards are all equal carry no signal and are
   dropped;
3. `epochs_per_step` full-batch passes of Adam on the loss, averaged over all kept steps:
       -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)  +  kl_coef * KL(pi || pi_sft)
       - entropy_coef * H(pi),        ratio = pi(a|s) / pi_sampling(a|s)
   Because the action sets are small and explicit, KL and entropy are exact sums over each
   state's actions, not sampled estimates.
4. every `eval_every` steps: greedy eval on val; the checkpoint with the best val reward (ties go
   to the later step) is kept as `best.json`.
Each seed of `train.seeds` is one run: models/grpo/seed{N}/, starting from models/sft/seed{N}.

How it departs from the paper's GRPO: the "tokens" are env actions (the policy is a log-linear
model over action features, not an LLM), the KL is exact, and the loss is averaged over steps.

Resume: `state.json` (weights, Adam moments, step, the numpy rng state, best score, the MLflow run
id and the metrics of steps not yet flushed to MLflow) is written atomically every
`checkpoint_every` steps. A run killed at any moment restarts from it and, with the same seed,
ends with bit-identical weights to an uninterrupted run. A finished run replaces it with
`done.json`, so a `dvc repro` killed during a later seed keeps the seeds already done. Both carry
a fingerprint of the params, the SFT weights, the train/val tasks and the training code; a state or
done marker with another fingerprint is ignored (the stage says so and trains afresh).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.config import EnvConfig, GRPOConfig, Params, load_params
from explorer.env import ExplorerEnv
from explorer.evaluate import evaluate
from explorer.io import atomic_write_json, repr_hash, source_hash
from explorer.policies.local import ActionSet, LocalPolicy, action_set, load_policy, log_softmax, sample_index, save_policy
from explorer.reward import RewardConfig
from explorer.train.adam import Adam
from explorer.types import Task


@dataclass
class StepRecord:
    feats: np.ndarray  # [A, D] features of the state's action set
    action: int
    old_logprob: float  # log pi_sampling(action | state)
    sft_logprobs: np.ndarray  # log pi_sft(. | state), for the exact KL


@dataclass
class Rollout:
    steps: list[StepRecord]
    reward: float
    metrics: dict[str, float]


def sample_episode(task: Task, w: np.ndarray, w_sft: np.ndarray, env_cfg: EnvConfig, reward_cfg: RewardConfig,
                   temperature: float, rng: np.random.Generator) -> Rollout:  # fmt: skip
    env = ExplorerEnv(task, env_cfg, reward_cfg)
    obs = env.initial_observation()
    steps: list[StepRecord] = []
    while not env.done:
        aset: ActionSet = action_set(obs)
        lp = log_softmax(aset.features @ w / temperature)
        a = sample_index(lp, rng)
        # The KL reference at the same temperature as the policy, so a temperature alone adds no KL.
        steps.append(StepRecord(aset.features, a, float(lp[a]), log_softmax(aset.features @ w_sft / temperature)))
        obs = env.step(aset.actions[a]).observation
    return Rollout(steps, env.final_metrics["reward"], dict(env.final_metrics))


def group_advantages(rewards: np.ndarray, normalize: bool) -> np.ndarray | None:
    """Advantages of one group, or None when all rewards are equal (no learning signal)."""
    if np.ptp(rewards) == 0:
        return None
    centred = rewards - rewards.mean()
    return centred / (rewards.std() + 1e-6) if normalize else centred


def loss_and_grad(w: np.ndarray, batch: list[tuple[StepRecord, float]], cfg: GRPOConfig) -> tuple[float, np.ndarray, dict[str, float]]:
    """The clipped importance-sampling loss (+ KL, - entropy), averaged over steps, and its
    exact gradient with respect to the weights."""
    grad = np.zeros_like(w)
    total = kl_sum = ent_sum = clipped = 0.0
    for rec, adv in batch:
        lp = log_softmax(rec.feats @ w / cfg.temperature)
        p = np.exp(lp)
        ratio = float(np.exp(lp[rec.action] - rec.old_logprob))
        clipped_ratio = float(np.clip(ratio, 1 - cfg.clip_eps, 1 + cfg.clip_eps))
        surrogate = min(ratio * adv, clipped_ratio * adv)
        d_logits = np.zeros_like(p)
        if ratio * adv <= clipped_ratio * adv:  # the unclipped term is the min: it has a gradient
            d_logits -= adv * ratio * (np.eye(len(p))[rec.action] - p)
        else:
            clipped += 1
        kl = float(np.sum(p * (lp - rec.sft_logprobs)))
        entropy = float(-np.sum(p * lp))
        d_logits += cfg.kl_coef * p * (lp - rec.sft_logprobs - kl)
        d_logits += cfg.entropy_coef * p * (lp + entropy)
        grad += rec.feats.T @ d_logits / cfg.temperature
        total += -surrogate + cfg.kl_coef * kl - cfg.entropy_coef * entropy
        kl_sum += kl
        ent_sum += entropy
    n = max(1, len(batch))
    return total / n, grad / n, {"kl": kl_sum / n, "entropy": ent_sum / n, "clip_frac": clipped / n}


# The modules whose code shapes a GRPO run (the grpo stage's code deps in dvc.yaml, less plots).
TRAINING_CODE = ("reader/__init__.py", "reader/attributes.py", "reader/countries.py", "reader/countries.tsv", "reader/dates.py",
                 "reader/names.py", "reader/paragraphs.py", "reader/places.py", "reader/questions.py", "reader/ranking.py",
                 "reader/relations.py", "reader/solve.py", "reader/text.py",
                 "env.py", "evaluate.py", "reward.py", "types.py", "policies/baselines.py", "policies/local.py",
                 "train/adam.py", "train/grpo.py")  # fmt: skip


def params_fingerprint(cfg: GRPOConfig, seed: int, env_cfg: EnvConfig, reward_cfg: RewardConfig, init_weights: np.ndarray,
                       train: list[Task], val: list[Task]) -> str:  # fmt: skip
    """What a saved state (or a finished run's done.json) must match to be reused: everything that
    shapes the run — params, seed, SFT weights, the train and val tasks' full content, the code."""
    run_cfg = {k: v for k, v in asdict(cfg).items() if k not in ("out_dir", "checkpoint_every")}  # change no result
    blob = json.dumps(
        [run_cfg, seed, asdict(env_cfg), asdict(reward_cfg), init_weights.tolist(), repr_hash((train, val)), source_hash(*TRAINING_CODE)],
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _rng_from_state(state: dict[str, Any]) -> np.random.Generator:
    rng = np.random.default_rng()
    rng.bit_generator.state = state
    return rng


class GRPOTrainer:
    """Holds the training state; `run()` is the loop. Separate from `main()` so tests drive it."""

    def __init__(self, cfg: GRPOConfig, seed: int, env_cfg: EnvConfig, reward_cfg: RewardConfig, train: list[Task], val: list[Task],
                 init_weights: np.ndarray, out_dir: Path, tracker: Any = None, log=print):  # fmt: skip
        self.cfg, self.env_cfg, self.reward_cfg = cfg, env_cfg, reward_cfg
        self.train, self.val = train, val
        self.w_sft = init_weights.copy()
        self.out_dir = Path(out_dir)
        self.tracker = tracker
        self.log = log
        self.seed = seed
        self.fingerprint = params_fingerprint(cfg, seed, env_cfg, reward_cfg, init_weights, train, val)
        self.w = init_weights.copy()
        self.opt = Adam(cfg.lr)
        self.rng = np.random.default_rng(seed)
        self.step = 0
        self.best: dict[str, float] = {}
        self.history: list[tuple[int, dict[str, float]]] = []  # every step's metrics (curves, plots)
        self.pending: list[tuple[int, dict[str, float]]] = []  # metrics not yet flushed to MLflow
        self.run_id: str | None = None
        self.resumed_from: int | None = None
        self.try_resume()  # resuming is the default: a killed run picks up where it stopped

    # -------------------------------------------------------------- checkpoints
    @property
    def state_path(self) -> Path:
        return self.out_dir / "state.json"

    @property
    def done_path(self) -> Path:
        return self.out_dir / "done.json"

    def finished_before(self) -> dict[str, Any] | None:
        """The result of an identical run (same fingerprint) that already finished here, if its
        outputs are all present: a `dvc repro` killed during a later seed does not retrain it."""
        if not self.done_path.exists() or not all((self.out_dir / f).exists() for f in ("best.json", "last.json", "history.json")):
            return None
        done = json.loads(self.done_path.read_text())
        return done["result"] if done.get("fingerprint") == self.fingerprint else None

    def save_state(self) -> None:
        atomic_write_json(self.state_path, {
            "fingerprint": self.fingerprint, "step": self.step, "weights": self.w.tolist(), "adam": self.opt.state(),
            "rng": self.rng.bit_generator.state, "best": self.best, "history": self.history, "pending": self.pending,
            "run_id": self.run_id,
        })  # fmt: skip

    def try_resume(self) -> bool:
        if not self.state_path.exists():
            return False
        s = json.loads(self.state_path.read_text())
        if s["fingerprint"] != self.fingerprint:
            self.log(f"grpo: {self.state_path} was written with other params, data or code; starting fresh")
            return False
        self.step, self.w = s["step"], np.array(s["weights"])
        self.opt.load_state(s["adam"])
        self.rng = _rng_from_state(s["rng"])
        self.best, self.run_id = s["best"], s["run_id"]
        self.pending = [(int(k), m) for k, m in s["pending"]]
        self.history = [(int(k), m) for k, m in s["history"]]
        self.resumed_from = self.step
        self.log(f"grpo: resuming from {self.state_path} at step {self.step}/{self.cfg.steps}")
        return True

    def flush_metrics(self) -> None:
        # Written to MLflow only after the state that produced them is on disk; re-flushing the
        # same (key, step, timestamp, value) after a crash adds no duplicate rows.
        if self.tracker is not None:
            for step, m in self.pending:
                self.tracker.log_metrics({k: v for k, v in m.items() if k != "timestamp"}, step=step, timestamp=int(m["timestamp"]))
        self.pending = []

    # -------------------------------------------------------------- one step
    def train_step(self) -> dict[str, float]:
        cfg = self.cfg
        t0 = time.perf_counter()
        idx = self.rng.choice(len(self.train), size=min(cfg.batch_size, len(self.train)), replace=False)
        batch: list[tuple[StepRecord, float]] = []
        rewards_all, metrics_all, kept = [], [], 0
        for i in idx:
            group = [sample_episode(self.train[i], self.w, self.w_sft, self.env_cfg, self.reward_cfg, cfg.temperature, self.rng)
                     for _ in range(cfg.group_size)]  # fmt: skip
            rewards_G = np.array([r.reward for r in group])
            rewards_all.extend(rewards_G)
            metrics_all.extend(r.metrics for r in group)
            adv_G = group_advantages(rewards_G, cfg.normalize_advantages)
            if adv_G is None:
                continue
            kept += 1
            batch.extend((rec, float(adv)) for r, adv in zip(group, adv_G, strict=True) for rec in r.steps)
        update: dict[str, float] = {}  # no kept group, no update: log no loss/KL rather than zeros
        if batch:
            for _ in range(cfg.epochs_per_step):
                loss, grad, stats = loss_and_grad(self.w, batch, cfg)
                self.w = self.opt.step(self.w, grad)
            update = {
                "policy/entropy": stats["entropy"],
                "policy/kl_to_sft": stats["kl"],
                "policy/clip_frac": stats["clip_frac"],
                "loss": loss,
            }

        def mean(key: str) -> float:
            return float(np.mean([m[key] for m in metrics_all]))

        return {
            "reward/mean": float(np.mean(rewards_all)), "reward/std": float(np.std(rewards_all)),
            "train/f1": mean("f1"), "train/em": mean("em"), "budget/tokens_read": mean("tokens_read"),
            "train/opens": mean("opens"), "train/answer_rate": mean("answered"), **update,
            "groups/kept": float(kept), "groups/total": float(len(idx)), "time/step_seconds": time.perf_counter() - t0,
        }  # fmt: skip

    def eval_val(self) -> dict[str, float]:
        m, _ = evaluate(self.val, LocalPolicy(self.w, greedy=True), self.env_cfg, self.reward_cfg, progress=False)
        return {
            "val/reward": m["avg_reward"],
            "val/f1": m["f1"],
            "val/em": m["em"],
            "val/tokens_read": m["avg_tokens_read"],
            "val/opens": m["avg_opens"],
        }

    # -------------------------------------------------------------- the loop
    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.flush_metrics()  # anything a killed run had checkpointed but not yet flushed
        if not self.best:  # step 0: the SFT policy itself is the first candidate for best
            m = self.eval_val()
            self.best = {"step": 0, **m}
            save_policy(self.out_dir / "best.json", self.w, {"stage": "grpo", "seed": self.seed, **self.best})
            self.history.append((0, m))
            self.pending.append((0, {**m, "timestamp": float(int(time.time() * 1000))}))
        while self.step < cfg.steps:
            m = self.train_step()
            self.step += 1
            if self.step % cfg.eval_every == 0 or self.step == cfg.steps:
                m.update(self.eval_val())
                if m["val/reward"] >= self.best["val/reward"]:
                    self.best = {"step": self.step, **{k: v for k, v in m.items() if k.startswith("val/")}}
                    save_policy(self.out_dir / "best.json", self.w, {"stage": "grpo", "seed": self.seed, **self.best})
            self.history.append((self.step, m))
            self.pending.append((self.step, {**m, "timestamp": float(int(time.time() * 1000))}))
            val = f" val/f1 {m['val/f1']:.3f}" if "val/f1" in m else ""
            upd = f"kl {m['policy/kl_to_sft']:.4f} ent {m['policy/entropy']:.3f}" if "loss" in m else "no update (all groups dropped)"
            self.log(f"grpo step {self.step}/{cfg.steps}: reward {m['reward/mean']:.3f} f1 {m['train/f1']:.3f} "
                     f"tokens {m['budget/tokens_read']:.0f} kept {m['groups/kept']:.0f}/{m['groups/total']:.0f} "
                     f"{upd}{val} [{m['time/step_seconds']:.2f}s]")  # fmt: skip
            if self.step % cfg.checkpoint_every == 0 or self.step == cfg.steps:
                self.save_state()
                self.flush_metrics()
        save_policy(self.out_dir / "last.json", self.w, {"stage": "grpo", "seed": self.seed, "step": self.step})
        atomic_write_json(self.out_dir / "history.json", [{"step": k, **m} for k, m in self.history])
        result = {"best": self.best, "steps": self.step, "resumed_from": self.resumed_from}
        # done.json before state.json goes: a kill in between leaves one of the two, never neither.
        atomic_write_json(self.done_path, {"fingerprint": self.fingerprint, "run_id": self.run_id, "result": result})
        self.state_path.unlink(missing_ok=True)
        return result


def run_dir(cfg: GRPOConfig, seed: int) -> Path:
    return Path(cfg.out_dir) / f"seed{seed}"


def main(params: Params | None = None) -> int:
    from explorer.cli import resolve_tasks
    from explorer.plots import plot_grpo_curves
    from explorer.tracking import stage_run
    from explorer.train.sft import checkpoint_path

    params = params or load_params()
    if params.train.backend == "tinker":
        from explorer.train.tinker_train import grpo_main

        return grpo_main(params)
    cfg = params.grpo
    train, _ = resolve_tasks("train", params)
    val, _ = resolve_tasks("val", params)
    histories = {}
    for seed in params.train.seeds:
        init_path = checkpoint_path(params.sft, seed)
        if not init_path.exists():
            raise FileNotFoundError(f"no SFT checkpoint at {init_path}: run `dvc repro sft` first")
        out = run_dir(cfg, seed)
        trainer = GRPOTrainer(cfg, seed, params.env, params.reward, train, val, load_policy(init_path).weights, out)
        if (done := trainer.finished_before()) is not None:
            print(
                f"grpo seed {seed}: {out} already holds a finished run with these params, data and code (best val/f1 "
                f"{done['best']['val/f1']:.3f} at step {done['best']['step']}); kept. Delete {trainer.done_path} to retrain."
            )
            histories[f"seed {seed}"] = [(h.pop("step"), h) for h in json.loads((out / "history.json").read_text())]
            continue
        # a resumed trainer knows the MLflow run of the killed process, which then continues
        with stage_run(params.tracking, f"grpo-seed{seed}", {"stage": "grpo", "seed": str(seed)}, run_id=trainer.run_id) as run:
            trainer.run_id, trainer.tracker = run.run_id, run
            if trainer.resumed_from is None:
                run.log_params(
                    {f"grpo.{k}": v for k, v in asdict(cfg).items()}
                    | {"seed": seed, "grpo.init": str(init_path), "reward.variant": params.reward.variant}
                )
            result = trainer.run()
            plot = plot_grpo_curves({f"seed {seed}": trainer.history}, out / "curves.png")
            run.log_artifact(plot)
            run.set_tags(
                {
                    "checkpoint.best": str((out / "best.json").resolve()),
                    "checkpoint.last": str((out / "last.json").resolve()),
                    "best_step": str(result["best"]["step"]),
                }
            )
        histories[f"seed {seed}"] = trainer.history
        print(
            f"grpo seed {seed}: best val/reward {result['best']['val/reward']:.3f} (val/f1 {result['best']['val/f1']:.3f}) at step {result['best']['step']} -> {out}/best.json"
        )
    plot_grpo_curves(histories, Path("reports/plots/grpo_curves.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
