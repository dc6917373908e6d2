"""The Tinker backend (`train.backend: tinker`): Qwen3 + LoRA trained through the Tinker SDK, with
the same env, reward, demos, seeds, stages and outputs as the local backend.

Checkpoints are pointer files (models/sft/seed{N}/policy.json, models/grpo/seed{N}/best.json and
last.json) holding the tinker:// paths the service returned; `explorer eval --policy PATH` runs
the LLM policy on a pointer's sampler weights.

SFT (per seed of `train.seeds`): every demo episode is rendered as one multi-turn conversation
(explorer/policies/llm.py `demo_conversation`); the demonstrated actions are the assistant turns.
One Datum per demo, `cross_entropy` with weight 1 on the assistant's action tokens and closing
<|im_end|> (with thinking on, also the empty think block the model must write), 0 on everything
else. `tinker.sft_epochs` passes in batches of `tinker.sft_batch_size` demos, one forward_backward
+ optim_step per batch, `save_state` after every step, then the run's state.json. At the end,
sampler weights are saved and the pointer file records both paths.

GRPO: `TinkerLearner` is the `Learner` of the one GRPO loop (explorer/rl/grpo.py). It starts from
the SFT state's weights with a fresh optimizer. Every training episode is its own sample request
chain with its own seed (drawn from the run's rng), so the episodes of a group differ even where
a service would return identical sequences for one seeded request with num_samples > 1; all
episodes of a step run on threads, so every request of a turn is in flight together. The update
is one Datum per kept episode (its whole token sequence; the advantage and the sampler's logprob
on each sampled token, 0 elsewhere), `forward_backward` with `tinker.loss_fn` and `optim_step` at
`tinker.grpo_lr`, both submitted before waiting; then `save_weights_and_get_sampling_client`
gives the sampler of the new weights without persisting them. Training states are saved on the
service only where the loop asks for a resume point or a best checkpoint. Not used on this
backend (the loss is Tinker's): grpo.lr, kl_coef, entropy_coef, epochs_per_step.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from explorer.backends.tinker_pointer import read_pointer, write_pointer
from explorer.backends.tinker_sdk import TinkerSampler, TokenCounts, rl_datum, sdk_errors, service_label, service_session, sft_datum
from explorer.codedeps import code_hash
from explorer.config import Params
from explorer.io import repr_hash, sha256_file
from explorer.policies.llm import Conversation, LLMPolicy, demo_conversation
from explorer.rl.state import STATE_FILE, RunState, fingerprint, finished_result, mark_done, now_ms
from explorer.tracking import stage_run
from explorer.types import Policy, PolicyFactory, Task

# The Tinker backend takes its learning rate from tinker.grpo_lr and has no KL/entropy term or
# local Adam passes; `out_dir` and `checkpoint_every` change where and how often, not what.
LOCAL_ONLY_GRPO_KEYS = ("lr", "kl_coef", "entropy_coef", "epochs_per_step", "out_dir", "checkpoint_every")


def tinker_params(params: Params) -> dict[str, Any]:
    return {f"tinker.{k}": v for k, v in asdict(params.tinker).items()} | {"train.backend": "tinker"}


# ----------------------------------------------------------------------------- SFT


def sft_schedule(n: int, epochs: int, batch_size: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n).tolist()
        batches += [order[i : i + batch_size] for i in range(0, n, batch_size)]
    return batches


def run_sft(params: Params, lines: list[dict[str, Any]], demo_path: Path, out_paths: dict[int, Path]) -> None:
    """The sft stage on Tinker: one run per seed, each resumable from its state.json."""
    cfg = params.tinker
    with service_session(cfg) as service:
        convs = [demo_conversation(d, cfg.thinking) for d in lines]
        n_tokens = sum(len(c.tokens) for c in convs)
        print(f"sft (tinker, {cfg.base_model} on {service_label(cfg)}): {len(convs)} demo conversations, {n_tokens} tokens, "
              f"{sum(c.n_sampled for c in convs)} with weight 1")  # fmt: skip
        for seed, out in out_paths.items():
            _sft_seed(params, seed, convs, demo_path, service, out)


def _sft_seed(params: Params, seed: int, convs: list[Conversation], demo_path: Path, service: Any, out: Path) -> None:
    from tinker import types

    cfg, run_dir = params.tinker, out.parent
    batches = sft_schedule(len(convs), cfg.sft_epochs, cfg.sft_batch_size, seed)
    fp = fingerprint("sft-tinker", asdict(cfg), seed, sha256_file(demo_path), code_hash(__name__))
    if (done := finished_result(run_dir, fp, (out.name,))) is not None:
        print(f"sft seed {seed}: already complete ({done['step']} steps) -> {out}")
        return
    state = RunState.load(run_dir / STATE_FILE, fp, print) or RunState(fp)
    if state.step > 0:
        print(f"sft seed {seed}: resuming from {run_dir / STATE_FILE} at step {state.step}/{len(batches)}")
    tags = {"stage": "sft", "seed": str(seed), "backend": "tinker"}
    with stage_run(params.tracking, f"sft-seed{seed}", tags, run_id=state.run_id) as run:
        if state.run_id is None:
            run.log_params(tinker_params(params) | {"seed": seed, "sft.demos": len(convs), "sft.steps": len(batches)})
        state.run_id = run.run_id
        state.flush(run)
        with sdk_errors("creating the training client", cfg):
            if state.learner.get("state_path"):
                tc = service.create_training_client_from_state_with_optimizer(state.learner["state_path"]).result()
            else:
                tc = service.create_lora_training_client(cfg.base_model, rank=cfg.lora_rank, seed=seed).result()
        while state.step < len(batches):
            t0 = time.perf_counter()
            batch = [convs[i] for i in batches[state.step]]
            with sdk_errors("forward_backward", cfg):
                fb_future = tc.forward_backward([sft_datum(c) for c in batch], "cross_entropy")
            with sdk_errors("optim_step", cfg):  # submitted before waiting: the service runs it right after
                optim_future = tc.optim_step(types.AdamParams(learning_rate=cfg.sft_lr))
                fb = fb_future.result()
                optim_future.result()
            step = state.step + 1
            with sdk_errors("save_state", cfg):
                state_path = tc.save_state(f"sft-s{seed}-step{step:05d}").result().path
            m = {"sft/loss": fb.metrics["loss:sum"] / max(1, sum(c.n_sampled for c in batch)),
                 "tinker/train_tokens": float(sum(len(c.training_arrays()[0]) for c in batch)), "time/step_seconds": time.perf_counter() - t0}  # fmt: skip
            state.step, state.learner = step, {"state_path": state_path}
            state.add_metrics(step, m, now_ms())
            state.save(run_dir / STATE_FILE)
            state.flush(run)
            print(f"sft seed {seed} step {step}/{len(batches)}: loss/token {m['sft/loss']:.4f} [{m['time/step_seconds']:.2f}s]")
        with sdk_errors("save_state", cfg):
            state_path = state.learner.get("state_path") or tc.save_state(f"sft-s{seed}-init").result().path  # no steps: the start
        with sdk_errors("save_weights_for_sampler", cfg):
            sampler_path = tc.save_weights_for_sampler(f"sft-s{seed}-final").result().path
        write_pointer(out, cfg, stage="sft", seed=seed, state_path=state_path, sampler_path=sampler_path, step=state.step)
        mark_done(run_dir, fp, {"step": state.step, "state_path": state_path, "sampler_path": sampler_path})
        run.set_tags({"checkpoint": str(out), "tinker.state_path": state_path, "tinker.sampler_path": sampler_path})
        print(f"sft seed {seed}: {state.step} steps -> {out} ({sampler_path})")


# ----------------------------------------------------------------------------- GRPO


class TinkerLearner:
    """The GRPO `Learner` on Tinker: a training client on the service and a sampler of its
    current weights. `version` counts optimizer steps; a training state or sampler weights are
    persisted only when a resume point or a checkpoint file needs them."""

    name = "tinker"

    def __init__(self, params: Params, seed: int, init: dict[str, Any], service: Any):
        self.params, self.cfg, self.tcfg, self.seed, self.init, self.service = params, params.grpo, params.tinker, seed, init, service
        self.workers = self.cfg.batch_size * self.cfg.group_size
        self.counts = TokenCounts()
        self.tc: Any = None
        self.version = 0  # optimizer steps on top of the SFT start
        self.saved: dict[str, tuple[int, str]] = {}  # kind -> (version, tinker:// path) of the last persisted copy
        self.sampler = TinkerSampler.from_path(service, init["sampler_path"], self.tcfg.max_tokens, self.tcfg, self.counts)
        self.pending_train_tokens = 0

    def training_client(self) -> Any:
        if self.tc is None:
            own = self.saved.get("state")
            with sdk_errors("creating the training client", self.tcfg):
                if own is not None:  # our own saved state: weights and optimizer
                    self.tc = self.service.create_training_client_from_state_with_optimizer(own[1]).result()
                else:  # the SFT state: its weights, a fresh optimizer for this stage
                    self.tc = self.service.create_training_client_from_state(self.init["state_path"]).result()
        return self.tc

    def rollout_policy(self, rng: np.random.Generator) -> tuple[Policy, Any]:
        episode_seed = int(rng.integers(2**31 - 1))  # drawn in job order: the same seeds on a redone step
        return LLMPolicy(self.sampler, thinking=self.tcfg.thinking, temperature=self.cfg.temperature, name=self.name), random.Random(
            episode_seed
        )

    def greedy_factory(self) -> PolicyFactory:
        sampler, thinking = self.sampler, self.tcfg.thinking
        return lambda task: LLMPolicy(sampler, thinking=thinking, temperature=0.0, name=self.name)

    def update(self, kept: list[tuple[Policy, float]]) -> dict[str, float]:
        from tinker import types

        convs = [(p.conv, adv) for p, adv in kept if p.conv is not None and p.conv.n_sampled > 0]  # type: ignore[attr-defined]
        if not convs:
            return {}
        tc = self.training_client()
        config = (
            {"clip_low_threshold": 1 - self.cfg.clip_eps, "clip_high_threshold": 1 + self.cfg.clip_eps}
            if self.tcfg.loss_fn == "ppo"
            else None
        )
        with sdk_errors("forward_backward", self.tcfg):
            fb_future = tc.forward_backward([rl_datum(conv, adv) for conv, adv in convs], self.tcfg.loss_fn, config)
        with sdk_errors("optim_step", self.tcfg):  # submitted before waiting on forward_backward: one round trip less
            optim_future = tc.optim_step(types.AdamParams(learning_rate=self.tcfg.grpo_lr))
        with sdk_errors("forward_backward", self.tcfg):
            fb = fb_future.result()
        with sdk_errors("optim_step", self.tcfg):
            optim_future.result()
        self.version += 1
        with sdk_errors("save_weights_and_get_sampling_client", self.tcfg):  # a new client: the old one samples the old weights
            client = tc.save_weights_and_get_sampling_client().result()
        self.sampler = TinkerSampler(client, self.tcfg.max_tokens, None, self.tcfg, self.counts)
        q, p = [], []  # sampler vs learner logprobs of the sampled tokens
        for (conv, _), out in zip(convs, fb.loss_fn_outputs, strict=True):
            _, _, w, lp = conv.training_arrays()
            mask = np.array(w) > 0
            q.append(np.array(lp)[mask])
            p.append(out["logprobs"].to_numpy()[mask])
        qa, pa = np.concatenate(q), np.concatenate(p)
        ratio = np.exp(pa - qa)  # learner / sampler probability of each sampled token
        return {
            "loss": fb.metrics["loss:sum"] / max(1, len(qa)), "policy/entropy": float(-qa.mean()),
            "policy/kl_sampler_learner": float((qa - pa).mean()), "policy/is_ratio_mean": float(ratio.mean()),
            "policy/is_ratio_max": float(ratio.max()), "tinker/optim_steps": 1.0,
            "tinker/train_tokens": float(sum(len(conv.training_arrays()[0]) for conv, _ in convs)),
        }  # fmt: skip

    def step_metrics(self) -> dict[str, float]:
        c = self.counts.take()
        return {"tinker/prompt_tokens": float(c["prompt"]), "tinker/cached_prompt_tokens": float(c["cached"]),
                "tinker/sampled_tokens": float(c["sampled"]), "tinker/sample_requests": float(c["requests"])}  # fmt: skip

    def _persisted(self, kind: str, step: int) -> str:
        """A tinker:// path holding the current weights: a training state (kind "state") or
        sampler weights ("sampler"), saved now unless the current version is saved already."""
        if self.version == 0:
            return self.init["state_path" if kind == "state" else "sampler_path"]
        if self.saved.get(kind, (-1, ""))[0] != self.version:
            name = f"grpo-s{self.seed}-step{step:05d}"
            tc = self.training_client()
            with sdk_errors(f"save_{kind}", self.tcfg):
                future = tc.save_state(name) if kind == "state" else tc.save_weights_for_sampler(name)
                self.saved[kind] = (self.version, future.result().path)
        return self.saved[kind][1]

    def snapshot(self, step: int) -> dict[str, Any]:
        return {"version": self.version, "state_path": self._persisted("state", step) if self.version else None}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.version, self.tc = int(snapshot["version"]), None
        if snapshot["state_path"]:
            self.saved = {"state": (self.version, snapshot["state_path"])}
            with sdk_errors("save_weights_and_get_sampling_client", self.tcfg):
                client = self.training_client().save_weights_and_get_sampling_client().result()
            self.sampler = TinkerSampler(client, self.tcfg.max_tokens, None, self.tcfg, self.counts)

    def write_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        step = int(meta["step"])
        extra = {k: v for k, v in meta.items() if k.startswith("val/")}
        write_pointer(path, self.tcfg, stage="grpo", seed=self.seed, state_path=self._persisted("state", step),
                      sampler_path=self._persisted("sampler", step), step=step, **extra)  # fmt: skip


def grpo_learner(
    params: Params, seed: int, init_path: Path, train: list[Task], val: list[Task], service: Any
) -> tuple[TinkerLearner, list[Any]]:
    """The learner for one seed and its fingerprint's parts. grpo keys only the local backend
    reads (lr, kl_coef, ...) are left out: changing them must not invalidate a paid run."""
    init = read_pointer(init_path)
    used = {k: v for k, v in asdict(params.grpo).items() if k not in LOCAL_ONLY_GRPO_KEYS}
    parts = ["grpo-tinker", used, asdict(params.tinker), seed, asdict(params.env), asdict(params.reward), init["state_path"],
             repr_hash((train, val)), code_hash(__name__, "explorer.rl.grpo")]  # fmt: skip
    return TinkerLearner(params, seed, init, service), parts
