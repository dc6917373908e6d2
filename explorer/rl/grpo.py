"""GRPO, written once for both backends. One linear loop in the spirit of nanochat's chat_rl.py.

Per step:
1. pick `grpo.batch_size` train questions (seeded), run `grpo.group_size` episodes of each with
   the learner's sampling policy (the local policy at `grpo.temperature`, or the language model);
2. advantage of an episode = (reward - group mean) / (group std + 1e-6) (only centred if
   `normalize_advantages` is false); groups whose rewards are all equal carry no signal and are
   dropped, and `groups/kept` says how many were left;
3. the learner updates on the kept episodes and their advantages (local: `epochs_per_step` Adam
   passes on a clipped importance-sampling loss with an exact KL to the SFT policy; Tinker: one
   forward_backward + optim_step of its importance-sampling or PPO loss);
4. every `eval_every` steps (and at step 0, the SFT start itself): greedy episodes on val; the
   checkpoint with the best val reward (ties go to the later step) is written to best.json;
5. every `checkpoint_every` steps: the learner's snapshot and the run's rng state go into
   state.json, then the step's metrics go to MLflow.
A killed run restarts from state.json at its last saved step, in the same MLflow run. On the local
backend it then ends with bit-identical weights to an uninterrupted run (the rng's draws happen in
a fixed order); on Tinker no step is lost or applied twice in the saved lineage (docs/tinker.md).

How it departs from the paper's GRPO: the local policy's "tokens" are env actions (a log-linear
model over action features, not an LLM) and its KL is exact; the Tinker loss is the service's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from explorer.config import EnvConfig, GRPOConfig
from explorer.data.tasks import task_to_dict
from explorer.env import ExplorerEnv
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_json, atomic_write_text
from explorer.reward import RewardConfig
from explorer.rl.state import STATE_FILE, RunState, mark_done, now_ms
from explorer.rollout import EpisodeJob, run_episodes
from explorer.tracking import TrackingUnavailable, uri_setting
from explorer.types import Policy, PolicyFactory, Task
from explorer.viewer import grpo_page

RUN_OUTPUTS = ("best.json", "last.json", "history.json")


class Learner(Protocol):
    """What the GRPO loop needs of a backend. The policy objects it hands out keep the trace of
    their episode (what the update needs: the local policy's action sets, the LLM's tokens)."""

    name: str  # how its episodes are named
    workers: int  # episodes run on this many threads (1: one after another, in order)

    def rollout_policy(self, rng: np.random.Generator) -> tuple[Policy, Any]:
        """A sampling policy for one training episode, and the rng that episode draws from."""
        ...

    def greedy_factory(self) -> PolicyFactory:
        """The current weights, acting greedily (val evaluation)."""
        ...

    def update(self, kept: list[tuple[Policy, float]]) -> dict[str, float]:
        """One update from the kept episodes' policies (their traces) and advantages; its metrics."""
        ...

    def step_metrics(self) -> dict[str, float]:
        """Backend counters since the last call (e.g. tokens sent to the service)."""
        ...

    def snapshot(self, step: int) -> dict[str, Any]:
        """What `restore` needs to continue from the current weights after `step` (durable:
        whatever lives on a service is saved there first)."""
        ...

    def restore(self, snapshot: dict[str, Any]) -> None: ...

    def write_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        """The current weights as a checkpoint file `explorer eval --policy PATH` can load."""
        ...


def group_advantages(rewards: np.ndarray, normalize: bool) -> np.ndarray | None:
    """Advantages of one group, or None when all rewards are equal (no learning signal)."""
    if np.ptp(rewards) == 0:
        return None
    centred = rewards - rewards.mean()
    return centred / (rewards.std() + 1e-6) if normalize else centred


@dataclass
class GRPORun:
    """One seed's GRPO run in `out_dir`. `train(tracker)` is the loop; it resumes from
    `out_dir/state.json` when one with this run's fingerprint is there."""

    cfg: GRPOConfig
    seed: int
    learner: Learner
    train_tasks: list[Task]
    val_tasks: list[Task]
    env_cfg: EnvConfig
    reward_cfg: RewardConfig
    out_dir: Path
    fingerprint: str
    log: Callable[[str], None] = print

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.state = RunState.load(self.state_path, self.fingerprint, self.log) or RunState(self.fingerprint)
        self.resumed_from: int | None = None
        if self.state.rng is not None:  # a saved state: continue from it
            self.rng.bit_generator.state = self.state.rng
            self.learner.restore(self.state.learner)
            self.resumed_from = self.state.step
            self.log(f"grpo: resuming from {self.state_path} at step {self.state.step}/{self.cfg.steps}")

    @property
    def state_path(self) -> Path:
        return self.out_dir / STATE_FILE

    # -------------------------------------------------------------- one step
    def train_step(self) -> dict[str, float]:
        cfg, t0 = self.cfg, time.perf_counter()
        idx = self.rng.choice(len(self.train_tasks), size=min(cfg.batch_size, len(self.train_tasks)), replace=False)
        jobs, policies = [], []
        for i in idx:
            for _ in range(cfg.group_size):
                policy, rng = self.learner.rollout_policy(self.rng)
                jobs.append(EpisodeJob(ExplorerEnv(self.train_tasks[i], self.env_cfg, self.reward_cfg), policy, rng, self.learner.name))
                policies.append(policy)
        episodes = run_episodes(jobs, self.learner.workers)
        kept: list[tuple[Policy, float]] = []
        n_kept, page = 0, []
        for g, i in enumerate(idx):
            group = slice(g * cfg.group_size, (g + 1) * cfg.group_size)
            rewards_G = np.array([e.reward for e in episodes[group]])
            adv_G = group_advantages(rewards_G, cfg.normalize_advantages)
            page.append({"task": task_to_dict(self.train_tasks[i]), "episodes": [e.to_dict() for e in episodes[group]],
                         "rewards": rewards_G.tolist(), "advantages": None if adv_G is None else adv_G.tolist()})  # fmt: skip
            if adv_G is None:
                continue
            n_kept += 1
            kept.extend(zip(policies[group], map(float, adv_G), strict=True))
        step = self.state.step + 1
        if cfg.viewer_every and (step % cfg.viewer_every == 0 or step == 1):  # the groups side by side, in the browser
            atomic_write_text(
                self.out_dir / "rollouts" / f"step{step:04d}.html",
                grpo_page(f"GRPO seed {self.seed}, step {step}", step, page, self.env_cfg.previews),
            )
        update = self.learner.update(kept) if kept else {}  # no kept group, no update: no loss/KL logged rather than zeros

        def mean(key: str) -> float:
            return float(np.mean([e.metrics[key] for e in episodes]))

        rewards = [e.reward for e in episodes]
        return {
            "reward/mean": float(np.mean(rewards)), "reward/std": float(np.std(rewards)),
            "train/f1": mean("f1"), "train/em": mean("em"), "budget/tokens_read": mean("tokens_read"),
            "train/opens": mean("opens"), "train/answer_rate": mean("answered"), **update,
            "groups/kept": float(n_kept), "groups/total": float(len(idx)), "time/step_seconds": time.perf_counter() - t0,
        }  # fmt: skip

    def eval_val(self) -> dict[str, float]:
        m, _ = evaluate_policy(self.val_tasks, self.learner.greedy_factory(), self.learner.name, self.env_cfg, self.reward_cfg,
                               progress=False, workers=self.learner.workers)  # fmt: skip
        return {
            "val/reward": m["avg_reward"],
            "val/f1": m["f1"],
            "val/em": m["em"],
            "val/tokens_read": m["avg_tokens_read"],
            "val/opens": m["avg_opens"],
        }

    def write_best(self, step: int, metrics: dict[str, float]) -> None:
        self.state.best = {"step": step, **{k: v for k, v in metrics.items() if k.startswith("val/")}}
        self.learner.write_checkpoint(self.out_dir / "best.json", {"stage": "grpo", "seed": self.seed, **self.state.best})

    def save(self, tracker: Any) -> None:
        """The resume point advances here only, then the metrics it holds go to MLflow."""
        st = self.state
        st.learner, st.rng = self.learner.snapshot(st.step), self.rng.bit_generator.state
        st.save(self.state_path)
        st.flush(tracker, self.log)

    # -------------------------------------------------------------- the loop
    def train(self, tracker: Any) -> dict[str, Any]:
        cfg, st = self.cfg, self.state
        self.out_dir.mkdir(parents=True, exist_ok=True)
        st.flush(tracker, self.log)  # anything a killed run (or a dead tracking server) left unsent
        if not st.best:  # step 0: the SFT policy itself is the first candidate for best
            m = self.eval_val() | self.learner.step_metrics()
            self.write_best(0, m)
            st.add_metrics(0, m, now_ms())
            self.save(tracker)
            self.log(f"grpo step 0/{cfg.steps}: val/reward {m['val/reward']:.3f} val/f1 {m['val/f1']:.3f} (the SFT start)")
        while st.step < cfg.steps:
            m = self.train_step()
            st.step += 1
            if st.step % cfg.eval_every == 0 or st.step == cfg.steps:
                m.update(self.eval_val())
                if m["val/reward"] >= st.best["val/reward"]:
                    self.write_best(st.step, m)
            m.update(self.learner.step_metrics())
            st.add_metrics(st.step, m, now_ms())
            self.log(step_line(st.step, cfg.steps, m))
            if st.step % cfg.checkpoint_every == 0 or st.step == cfg.steps:
                self.save(tracker)
        self.learner.write_checkpoint(self.out_dir / "last.json", {"stage": "grpo", "seed": self.seed, "step": st.step})
        # wall-clock timings go to MLflow only: history.json is a DVC output and must be the same on every machine
        atomic_write_json(
            self.out_dir / "history.json", [{"step": k, **{n: v for n, v in m.items() if not n.startswith("time/")}} for k, m in st.history]
        )
        result = {"best": st.best, "steps": st.step, "resumed_from": self.resumed_from}
        if st.pending and not st.flush(tracker, self.log):  # keep state.json: the metrics live there until sent
            raise TrackingUnavailable(
                f"{len(st.pending)} step(s) of GRPO metrics could not be sent to MLflow ({uri_setting()}); they are kept in "
                f"{self.state_path}. Training is done and kept: rerun the stage when the tracking server answers to send them"
            )
        mark_done(self.out_dir, self.fingerprint, result)
        return result

    @property
    def history(self) -> list[tuple[int, dict[str, float]]]:
        return [(int(k), m) for k, m in self.state.history]


def step_line(step: int, steps: int, m: dict[str, float]) -> str:
    """The progress line of one step."""
    val = f" val/f1 {m['val/f1']:.3f}" if "val/f1" in m else ""
    if "loss" not in m:
        upd = "no update (all groups dropped)"
    elif "policy/kl_to_sft" in m:
        upd = f"kl {m['policy/kl_to_sft']:.4f} ent {m['policy/entropy']:.3f}"
    else:
        upd = f"loss {m['loss']:.4f}"
    tokens = f" sent {m['tinker/prompt_tokens']:.0f}+{m['tinker/sampled_tokens']:.0f} tok" if "tinker/prompt_tokens" in m else ""
    return (f"grpo step {step}/{steps}: reward {m['reward/mean']:.3f} f1 {m['train/f1']:.3f} tokens {m['budget/tokens_read']:.0f} "
            f"kept {m['groups/kept']:.0f}/{m['groups/total']:.0f} {upd}{val}{tokens} [{m['time/step_seconds']:.2f}s]")  # fmt: skip
