"""The Tinker backend (`train.backend: tinker`): Qwen3 + LoRA trained through the Tinker SDK, with
the same env, reward, demos, seeds, stages and outputs as the local backend (docs/tinker.md).

Checkpoints are pointer files (models/sft/seed{N}/policy.json, models/grpo/seed{N}/best.json and
last.json) holding the tinker:// paths the service returned; `explorer eval --policy PATH` runs
the LLM policy on a pointer's sampler weights. Every checkpoint is saved with
`tinker.checkpoint_ttl_seconds` and, unless `tinker.keep_old_checkpoints`, deleted once no file
points at it (explorer/backends/tinker_store.py).

SFT (per seed of `train.seeds`): every demo episode is rendered as one multi-turn conversation
(explorer/policies/llm.py `demo_conversation`); the demonstrated actions are the assistant turns.
One Datum per demo, `cross_entropy` with weight 1 on the assistant's action tokens and closing
<|im_end|> (with thinking on, also the empty think block the model must write), 0 on everything
else. `tinker.sft_epochs` passes in batches of `tinker.sft_batch_size` demos, one forward_backward
+ optim_step per batch; every `tinker.sft_save_every` steps and at the end a training state and
the run's state.json (the resume point). At the end, sampler weights; the pointer file records both.

GRPO: `TinkerLearner` is the `Learner` of the one GRPO loop (explorer/rl/grpo.py). It starts from
the SFT state's weights with a fresh optimizer. Every training episode is its own sample request
chain with its own seed (drawn from the run's rng), so the episodes of a group differ even where
a service would return identical sequences for one seeded request with num_samples > 1; all
episodes of a step run on threads, so every request of a turn is in flight together. The update
is one Datum per kept episode (its whole token sequence; the advantage and the sampler's logprob
on each sampled token, 0 elsewhere), `forward_backward` with `tinker.loss_fn` and `optim_step` at
`tinker.grpo_lr`, both submitted before waiting; then `save_weights_and_get_sampling_client`
gives the sampler of the new weights without persisting them. Training states are saved on the
service only for a resume point (every `tinker.grpo_save_every` steps) or a checkpoint file.
Not used on this backend (the loss is Tinker's): grpo.lr, kl_coef, entropy_coef, epochs_per_step.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from explorer import layout
from explorer.backends.tinker_pointer import read_pointer, write_pointer
from explorer.backends.tinker_sdk import (
    TinkerSampler,
    TinkerSession,
    TinkerUserError,
    TokenCounts,
    rl_datum,
    sdk_errors,
    service_label,
    service_session,
    sft_datum,
)
from explorer.backends.tinker_store import CheckpointStore, RunCost
from explorer.codedeps import code_hash
from explorer.config import Params, TinkerConfig
from explorer.io import repr_hash, sha256_file
from explorer.policies.llm import Conversation, LLMPolicy, demo_conversation
from explorer.rl.state import STATE_FILE, RunState, fingerprint, finished_result, mark_done, now_ms
from explorer.tracking import stage_run
from explorer.types import Policy, PolicyFactory, Task

# The Tinker backend takes its learning rate from tinker.grpo_lr and has no KL/entropy term or
# local Adam passes; `out_dir` and `checkpoint_every` change where and how often, not what.
LOCAL_ONLY_GRPO_KEYS = ("lr", "kl_coef", "entropy_coef", "epochs_per_step", "out_dir", "checkpoint_every", "viewer_every")
# tinker keys that change where a run talks to, how often it saves, what it keeps and how it is
# priced, but not what it trains: changing them must not invalidate a paid run.
NOT_SHAPING_KEYS = ("base_url", "sft_save_every", "grpo_save_every", "checkpoint_ttl_seconds", "keep_old_checkpoints", "prices")
SFT_KEYS = ("base_model", "lora_rank", "sft_lr", "max_tokens", "thinking", "sft_epochs", "sft_batch_size")


def tinker_params(params: Params) -> dict[str, Any]:
    flat = {f"tinker.{k}": v for k, v in asdict(params.tinker).items() if k != "prices"}
    return flat | {f"tinker.prices.{k}": v for k, v in asdict(params.tinker.prices).items()} | {"train.backend": "tinker"}


def shaping(cfg: TinkerConfig, keys: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The tinker settings that shape what a run trains (its fingerprint's part)."""
    return {k: v for k, v in asdict(cfg).items() if k not in NOT_SHAPING_KEYS and (keys is None or k in keys)}


def gone_hint(path: str, cfg: TinkerConfig, remedy: str) -> str:
    days = cfg.checkpoint_ttl_seconds / 86400
    return f"If {path} is gone from the service (checkpoints expire {days:g} days after they are saved, tinker.checkpoint_ttl_seconds, or were deleted): {remedy}"


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
    with service_session(cfg, cfg.lora_rank) as session:
        convs = [demo_conversation(d, cfg.thinking) for d in lines]
        n_tokens = sum(len(c.tokens) for c in convs)
        context = session.limits.max_context_length
        longest = max((len(c.training_arrays()[0]) for c in convs), default=0)
        if context is not None and longest > context:  # checked before any request: the service would answer 400
            raise TinkerUserError(f"a demo conversation is {longest} tokens, longer than {cfg.base_model}'s context of {context}")
        print(f"sft (tinker, {cfg.base_model} on {service_label(cfg)}): {len(convs)} demo conversations, {n_tokens} tokens, "
              f"{sum(c.n_sampled for c in convs)} with weight 1")  # fmt: skip
        for seed, out in out_paths.items():
            _sft_seed(params, seed, convs, demo_path, session, out)


def _sft_seed(params: Params, seed: int, convs: list[Conversation], demo_path: Path, session: TinkerSession, out: Path) -> None:
    from tinker import types

    cfg, run_dir, service = params.tinker, out.parent, session.service
    batches = sft_schedule(len(convs), cfg.sft_epochs, cfg.sft_batch_size, seed)
    fp = fingerprint("sft-tinker", shaping(cfg, SFT_KEYS), seed, sha256_file(demo_path), code_hash(__name__))
    if (done := finished_result(run_dir, fp, (out.name,))) is not None:
        print(f"sft seed {seed}: already complete ({done['step']} steps) -> {out}")
        return
    state = RunState.load(run_dir / STATE_FILE, fp, print) or RunState(fp)
    if state.step > 0:
        print(f"sft seed {seed}: resuming from {run_dir / STATE_FILE} at step {state.step}/{len(batches)}")
    cost = RunCost(cfg, state.learner.get("totals"))
    store = CheckpointStore(session, cost)
    tags = {"stage": "sft", "seed": str(seed), "backend": "tinker"}
    with stage_run(params.tracking, f"sft-seed{seed}", tags, run_id=state.run_id) as run:
        if state.run_id is None:
            run.log_params(tinker_params(params) | {"seed": seed, "sft.demos": len(convs), "sft.steps": len(batches)})
        state.run_id = run.run_id
        state.flush(run)
        resume = state.learner.get("state_path")
        remedy = f"delete {run_dir / STATE_FILE} to train this seed afresh"
        with sdk_errors("creating the training client", cfg, gone_hint(resume, cfg, remedy) if resume else ""):
            if resume:
                tc = service.create_training_client_from_state_with_optimizer(resume).result()
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
            state.step += 1
            train_tokens = sum(len(c.training_arrays()[0]) for c in batch)
            cost.add(train=train_tokens)
            save = state.step % cfg.sft_save_every == 0 or state.step == len(batches)
            if save:
                state.learner = {"state_path": store.save(tc, "state", f"sft-s{seed}-step{state.step:05d}"), "totals": dict(cost.totals)}
            m = {"sft/loss": fb.metrics["loss:sum"] / max(1, sum(c.n_sampled for c in batch)), "tinker/train_tokens": float(train_tokens),
                 "time/step_seconds": time.perf_counter() - t0, **cost.metrics(store.live_bytes())}  # fmt: skip
            state.add_metrics(state.step, m, now_ms())
            if save:  # the resume point advances only here; unsaved steps are redone after a kill
                state.save(run_dir / STATE_FILE)
                state.flush(run)
                store.collect({state.learner["state_path"]})
            print(f"sft seed {seed} step {state.step}/{len(batches)}: loss/token {m['sft/loss']:.4f} [{m['time/step_seconds']:.2f}s]")
        state_path = state.learner.get("state_path") or store.save(tc, "state", f"sft-s{seed}-init")  # no steps: the start
        sampler_path = store.save(tc, "sampler", f"sft-s{seed}-final")
        write_pointer(out, cfg, stage="sft", seed=seed, state_path=state_path, sampler_path=sampler_path, step=state.step)
        mark_done(run_dir, fp, {"step": state.step, "state_path": state_path, "sampler_path": sampler_path})
        store.collect({state_path, sampler_path})
        run.set_tags({"checkpoint": str(out), "tinker.state_path": state_path, "tinker.sampler_path": sampler_path})
        print(
            f"sft seed {seed}: {state.step} steps -> {out} ({sampler_path}); cost so far ${cost.metrics(0)['cost/dollars']:.2f} at list prices"
        )


# ----------------------------------------------------------------------------- GRPO


class TinkerLearner:
    """The GRPO `Learner` on Tinker: a training client on the service and a sampler of its
    current weights. `version` counts optimizer steps; a training state or sampler weights are
    persisted only when a resume point or a checkpoint file needs them, and what no file points at
    any more is deleted (tinker_store.CheckpointStore)."""

    name = "tinker"

    def __init__(self, params: Params, seed: int, init: dict[str, Any], session: TinkerSession, hints: dict[str, str]):
        self.params, self.cfg, self.tcfg, self.seed, self.init, self.session = params, params.grpo, params.tinker, seed, init, session
        self.workers = self.cfg.batch_size * self.cfg.group_size
        self.counts, self.cost, self.hints = TokenCounts(), RunCost(self.tcfg), hints
        self.store = CheckpointStore(session, self.cost)
        self.tc: Any = None
        self._sampler: TinkerSampler | None = None  # made on first use: a finished seed needs none
        self.version = 0  # optimizer steps on top of the SFT start
        self.saved: dict[str, tuple[int, str]] = {}  # kind -> (version, tinker:// path) of the last persisted copy
        self.pointed: dict[str, set[str]] = {}  # checkpoint file name -> the paths it holds
        self.resume_path: str | None = None  # the training state of the latest resume point
        self.pending_train_tokens = 0

    @property
    def sampler(self) -> TinkerSampler:
        if self._sampler is None:
            self._sampler = self.session.sampler(self.init["sampler_path"], self.tcfg.max_tokens, self.counts, self.hints["init"])
        return self._sampler

    def _use_client(self, client: Any) -> None:
        self._sampler = TinkerSampler(client, self.tcfg.max_tokens, None, self.tcfg, self.counts, self.session.limits.max_context_length)

    def training_client(self) -> Any:
        if self.tc is None:
            own = self.saved.get("state")
            with sdk_errors("creating the training client", self.tcfg, self.hints["own" if own else "init"]):
                if own is not None:  # our own saved state: weights and optimizer
                    self.tc = self.session.service.create_training_client_from_state_with_optimizer(own[1]).result()
                else:  # the SFT state: its weights, a fresh optimizer for this stage
                    self.tc = self.session.service.create_training_client_from_state(self.init["state_path"]).result()
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
            self._use_client(tc.save_weights_and_get_sampling_client().result())
        q, p = [], []  # sampler vs learner logprobs of the sampled tokens
        for (conv, _), out in zip(convs, fb.loss_fn_outputs, strict=True):
            _, _, w, lp = conv.training_arrays()
            mask = np.array(w) > 0
            q.append(np.array(lp)[mask])
            p.append(out["logprobs"].to_numpy()[mask])
        qa, pa = np.concatenate(q), np.concatenate(p)
        ratio = np.exp(pa - qa)  # learner / sampler probability of each sampled token
        train_tokens = sum(len(conv.training_arrays()[0]) for conv, _ in convs)
        self.pending_train_tokens += train_tokens
        return {
            "loss": fb.metrics["loss:sum"] / max(1, len(qa)), "policy/entropy": float(-qa.mean()),
            "policy/kl_sampler_learner": float((qa - pa).mean()), "policy/is_ratio_mean": float(ratio.mean()),
            "policy/is_ratio_max": float(ratio.max()), "policy/is_ratio_min": float(ratio.min()),
            "tinker/optim_steps": 1.0, "tinker/train_tokens": float(train_tokens),
        }  # fmt: skip

    def step_metrics(self) -> dict[str, float]:
        c = self.counts.take()
        self.cost.add(
            prefill=c["prompt"], cached=c["cached"], sampled=c["sampled"], requests=c["requests"], train=self.pending_train_tokens
        )
        self.pending_train_tokens = 0
        return {"tinker/prompt_tokens": float(c["prompt"]), "tinker/cached_prompt_tokens": float(c["cached"]),
                "tinker/sampled_tokens": float(c["sampled"]), "tinker/sample_requests": float(c["requests"]),
                **self.cost.metrics(self.store.live_bytes())}  # fmt: skip

    def _persisted(self, kind: str, step: int) -> str:
        """A tinker:// path holding the current weights: a training state (kind "state") or
        sampler weights ("sampler"), saved now unless the current version is saved already."""
        if self.version == 0:
            return self.init["state_path" if kind == "state" else "sampler_path"]
        if self.saved.get(kind, (-1, ""))[0] != self.version:
            self.saved[kind] = (self.version, self.store.save(self.training_client(), kind, f"grpo-s{self.seed}-step{step:05d}"))
        return self.saved[kind][1]

    def _keep(self, *extra: str | None) -> set[str]:
        """What must stay: what checkpoint files hold, the resume point, the current weights."""
        current = {p for v, p in self.saved.values() if v == self.version}
        return set().union(*self.pointed.values()) | current | {p for p in (self.resume_path, *extra) if p}

    def snapshot(self, step: int) -> dict[str, Any]:
        path = self._persisted("state", step) if self.version else None
        # state.json names the previous resume point until the caller has written this one: keep both
        self.store.collect(self._keep(path))
        self.resume_path = path or self.resume_path
        return {"version": self.version, "state_path": path, "totals": dict(self.cost.totals)}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.version, self.tc = int(snapshot["version"]), None
        self.cost.totals.update({k: float(v) for k, v in snapshot.get("totals", {}).items() if k in self.cost.totals})
        if snapshot["state_path"]:
            self.saved = {"state": (self.version, snapshot["state_path"])}
            self.resume_path = snapshot["state_path"]
            with sdk_errors("save_weights_and_get_sampling_client", self.tcfg):
                self._use_client(self.training_client().save_weights_and_get_sampling_client().result())

    def write_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        step = int(meta["step"])
        extra = {k: v for k, v in meta.items() if k.startswith("val/")}
        state, sampler = self._persisted("state", step), self._persisted("sampler", step)
        write_pointer(path, self.tcfg, stage="grpo", seed=self.seed, state_path=state, sampler_path=sampler, step=step, **extra)
        self.pointed[path.name] = {state, sampler}
        self.store.collect(self._keep())  # e.g. the best checkpoint this one replaces


def grpo_learner(
    params: Params, seed: int, init_path: Path, train: list[Task], val: list[Task], session: TinkerSession
) -> tuple[TinkerLearner, list[Any]]:
    """The learner for one seed and its fingerprint's parts. grpo keys only the local backend
    reads (lr, kl_coef, ...) and tinker keys that shape nothing (NOT_SHAPING_KEYS) are left out:
    changing them must not invalidate a paid run."""
    init = read_pointer(init_path)
    used = {k: v for k, v in asdict(params.grpo).items() if k not in LOCAL_ONLY_GRPO_KEYS}
    parts = ["grpo-tinker", used, shaping(params.tinker), seed, asdict(params.env), asdict(params.reward), init["state_path"],
             repr_hash((train, val)), code_hash(__name__, "explorer.rl.grpo")]  # fmt: skip
    run_dir = layout.grpo_dir(params.grpo, seed)
    hints = {
        "init": gone_hint(f"the SFT checkpoint in {init_path}", params.tinker,
                          f"train SFT again (delete {init_path.parent / 'done.json'} and run `explorer sft`, or `dvc repro -f sft`)"),
        "own": gone_hint(f"the resume point in {run_dir / STATE_FILE}", params.tinker, f"delete {run_dir / STATE_FILE} to train this seed afresh"),
    }  # fmt: skip
    return TinkerLearner(params, seed, init, session, hints), parts
