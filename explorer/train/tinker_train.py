"""The `sft` and `grpo` stages on the Tinker backend (`train.backend: tinker`): Qwen3 + LoRA,
trained through the Tinker SDK, with the same env, reward, demos, seeds and outputs as the local
backend. `explorer sft` / `explorer grpo` (and `dvc repro`) come here when the backend is tinker.

SFT (per seed of `train.seeds`): every demo episode (data/demos/episodes.jsonl) is replayed through
the env and rendered as one multi-turn conversation (explorer/policies/llm.py); the demonstrated
actions are the assistant turns. One Datum per demo, `cross_entropy` with weight 1 on the
assistant's action tokens and closing <|im_end|> (with thinking on, also the empty think block
the model must write), 0 on everything else. `tinker.sft_epochs` passes in batches of
`tinker.sft_batch_size` demos, one forward_backward + optim_step per batch, `save_state` after
every step. At the end, sampler weights are saved and the pointer file
models/sft/seed{N}/policy.json records both tinker:// paths.

GRPO (per seed), starting from the SFT state (weights only; a fresh optimizer). Per step:
1. `grpo.batch_size` train questions (seeded), `grpo.group_size` episodes each, sampled from the
   latest sampler weights at `grpo.temperature`. The first turn of a group is one sample request
   with num_samples = group size; later turns are one request per live episode; all requests of a
   turn are in flight together. Sampling seeds come from the run's rng, so a redone step samples
   the same tokens.
2. advantage = (reward - group mean) / (group std + 1e-6) (only centred if
   `grpo.normalize_advantages` is false); groups with all-equal rewards are dropped.
3. one Datum per kept episode (its whole token sequence; the advantage and the sampler's logprob
   on each sampled token, 0 elsewhere), one `forward_backward` with `tinker.loss_fn`
   (importance_sampling, or ppo clipped at 1 -/+ `grpo.clip_eps`), one `optim_step` at
   `tinker.grpo_lr`. A step whose groups were all dropped makes no optimizer step.
4. `save_weights_for_sampler` and a new sampling client on those weights (a stale client would
   sample old weights); every `grpo.checkpoint_every` steps `save_state` and then the atomic
   write of models/grpo/seed{N}/tinker_state.json; then the step's metrics go to MLflow.
5. every `grpo.eval_every` steps (and at step 0, the SFT policy): greedy episodes on the val
   split; the pointer of the best val reward is models/grpo/seed{N}/best.json (ties: later).
Not used on this backend (the loss is Tinker's): grpo.lr (tinker.grpo_lr is), kl_coef,
entropy_coef, epochs_per_step (one optimizer step per GRPO step).

Resume. tinker_state.json (the last `save_state` path, its sampler path, the step, the numpy
rng state, the best pointer, the MLflow run id and metrics not yet flushed) only ever advances
after the step's `optim_step` AND `save_state` have completed. A rerun of a killed or failed
stage calls `create_training_client_from_state_with_optimizer(state_path)` and continues at the
next step, in the same MLflow run. The guarantee, exactly: the chain of saved states the run
continues from has every optimizer step exactly once, in order, and a redone step repeats the
same computation (same questions, same sampling seeds, same weights and optimizer state), so the
result matches an uninterrupted run. What it cannot prevent: a process killed after a step's
`optim_step` ran on the service but before its `save_state` completed leaves that one executed
step on the killed process's training client; the rerun does not use that client, so the
service executed the step twice (once discarded). That is at most one discarded optimizer step
per kill (with checkpoint_every 1), and it is never in the saved lineage.
A state written under other params, data or SFT start is not resumed: the stage says so and
starts fresh.

Tokens (what Tinker bills by): per step, `tinker/prompt_tokens` (the prompt tokens of every
sample request: the first turn once per group, each later turn per live episode),
`tinker/sampled_tokens` and `tinker/train_tokens` (the forward_backward input tokens) go to
MLflow; `python -m explorer.train.tinker_train cost` computes them for the default config from
the demos (docs/tinker.md).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from explorer import tokens
from explorer.backends.tinker import (
    TinkerSampler,
    TinkerServiceError,
    check_access,
    close,
    connect,
    rl_datum,
    sdk_errors,
    service_label,
    sft_datum,
)
from explorer.config import EnvConfig, Params
from explorer.data import task_from_dict
from explorer.env import ExplorerEnv
from explorer.io import atomic_write_json, repr_hash, sha256_file, source_hash
from explorer.policies.llm import END_THINK, THINK, TINKER_POINTER_FORMAT, Conversation, Sample, initial_prompt_ids, read_pointer
from explorer.render import render_action
from explorer.reward import RewardConfig
from explorer.train.grpo import group_advantages  # the same group advantages as the local backend
from explorer.types import Episode, Task

STATE_FORMAT = "tinker-explorer/tinker-run-state/v1"
STATE_FILE = "tinker_state.json"


# The code that decides what the model sees and how it is scored or trained: a change to it
# makes a finished or half-done Tinker run stale (edits elsewhere, e.g. logging, do not).
SFT_CODE = ("policies/llm.py", "render.py", "tokens.py", "types.py")
# The Tinker backend takes its learning rate from tinker.grpo_lr and has no KL/entropy term or
# local Adam passes; `out_dir` and `checkpoint_every` change where and how often, not what.
LOCAL_ONLY_GRPO_KEYS = ("lr", "kl_coef", "entropy_coef", "epochs_per_step", "out_dir")
GRPO_CODE = (*SFT_CODE, "env.py", "reward.py")


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def now_ms() -> float:
    return float(int(time.time() * 1000))


# ----------------------------------------------------------------------------- files


def write_pointer(
    path: Path, params: Params, *, stage: str, seed: int, state_path: str, sampler_path: str, step: int, **extra: Any
) -> dict:
    """A DVC-tracked pointer to Tinker weights: what `explorer eval --policy PATH` loads. It holds
    the tinker:// paths the service returned, never the key."""
    cfg = params.tinker
    doc = {
        "format": TINKER_POINTER_FORMAT, "stage": stage, "seed": seed, "base_model": cfg.base_model, "lora_rank": cfg.lora_rank,
        "state_path": state_path, "sampler_path": sampler_path, "step": step, "thinking": cfg.thinking, "max_tokens": cfg.max_tokens,
        **extra,
    }  # fmt: skip
    atomic_write_json(path, doc)
    return doc


class RunState:
    """tinker_state.json: where a stage resumes from. Written atomically, only after the state it
    names was saved on the service."""

    def __init__(self, path: Path, fp: str, log: Callable[[str], None]):
        self.path, self.fp, self.log = path, fp, log
        self.doc: dict[str, Any] = {"format": STATE_FORMAT, "fingerprint": fp, "step": 0, "state_path": None, "sampler_path": None,
                                    "run_id": None, "pending": [], "history": []}  # fmt: skip
        self.resumed_from: int | None = None
        if path.exists():
            old = json.loads(path.read_text())
            if old.get("fingerprint") != fp:
                log(f"{path} was written with other params, data, start checkpoint or code; starting fresh")
            else:
                self.doc = old
                self.resumed_from = int(old["step"])

    def __getitem__(self, key: str) -> Any:
        return self.doc[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.doc[key] = value

    def save(self) -> None:
        atomic_write_json(self.path, self.doc)

    def add_metrics(self, step: int, metrics: dict[str, float]) -> None:
        self.doc["history"].append([step, metrics])
        self.doc["pending"].append([step, {**metrics, "timestamp": now_ms()}])

    def flush(self, run: Any) -> None:
        """Metrics go to MLflow only after the state that produced them is saved; re-sending the
        same (key, step, timestamp, value) after a crash adds no duplicate."""
        for step, m in self.doc["pending"]:
            run.log_metrics({k: v for k, v in m.items() if k != "timestamp"}, step=int(step), timestamp=int(m["timestamp"]))
        if self.doc["pending"]:
            self.doc["pending"] = []
            self.save()


def tinker_params(params: Params) -> dict[str, Any]:
    return {f"tinker.{k}": v for k, v in asdict(params.tinker).items()} | {"train.backend": "tinker"}


# ----------------------------------------------------------------------------- rollouts


@dataclass
class Rollout:
    task: Task
    env: ExplorerEnv
    conv: Conversation


@dataclass
class TokenCounts:
    prompt: int = 0  # prompt tokens of every sample request
    sampled: int = 0
    requests: int = 0


def run_rollouts(tasks: list[Task], group_size: int, sampler: Any, thinking: bool, temperature: float, next_seed: Callable[[], int],
                 env_cfg: EnvConfig, reward_cfg: RewardConfig) -> tuple[list[list[Rollout]], TokenCounts]:  # fmt: skip
    """`group_size` episodes of each task, all advancing turn by turn with every sample request
    of a turn in flight at once. A group's first turn (the same prompt) is one request."""
    counts = TokenCounts()
    groups: list[list[Rollout]] = []
    in_flight: list[tuple[list[Rollout], Any]] = []
    for task in tasks:
        group = [Rollout(task, ExplorerEnv(task, env_cfg, reward_cfg), Conversation(thinking)) for _ in range(group_size)]
        prompt = initial_prompt_ids(group[0].env.initial_observation(), thinking)
        for r in group:
            r.conv.add_context(prompt)
        groups.append(group)
        in_flight.append((group, sampler.submit(prompt, group_size, temperature, next_seed())))
        counts.prompt += len(prompt)
        counts.requests += 1
    while in_flight:
        for rollouts, future in in_flight:
            samples = future.result()
            if len(samples) != len(rollouts):
                raise TinkerServiceError(f"asked for {len(rollouts)} samples, got {len(samples)}")
            for r, sample in zip(rollouts, samples, strict=True):
                counts.sampled += len(sample.tokens)
                action = r.conv.add_reply(sample)
                result = r.env.step(action)
                if not result.done:
                    r.conv.add_feedback(action, result.observation)
        in_flight = []
        for r in (r for g in groups for r in g if not r.env.done):
            prompt = list(r.conv.tokens)
            in_flight.append(([r], sampler.submit(prompt, 1, temperature, next_seed())))
            counts.prompt += len(prompt)
            counts.requests += 1
    return groups, counts


def greedy_eval(tasks: list[Task], sampler: Any, params: Params) -> tuple[dict[str, Any], TokenCounts]:
    """The val metrics GRPO selects on: one greedy episode per task (what `explorer eval` of the
    same pointer does, batched)."""
    from explorer.evaluate import aggregate

    groups, counts = run_rollouts(tasks, 1, sampler, params.tinker.thinking, 0.0, lambda: 0, params.env, params.reward)
    return aggregate([g[0].env.to_episode("tinker") for g in groups]), counts


def evaluate_pointer(tasks: list[Task], path: Path | str, params: Params) -> tuple[dict[str, Any], list[Episode]]:
    """What `explorer.evaluate.evaluate(tasks, str(path), ...)` returns for a Tinker pointer (the
    same greedy episodes, named by the path), with every task's requests in flight together
    instead of one request at a time: for an evaluate stage that should not take hours."""
    from explorer.evaluate import summarize

    doc = read_pointer(path)
    # fail at once on a rejected key or a service without the pointer's base model, as the
    # training stages do, instead of after the first batch of requests
    check_access(replace(params.tinker, base_model=str(doc.get("base_model", params.tinker.base_model))))
    service = connect(params.tinker)
    try:
        sampler = TinkerSampler.from_path(service, doc["sampler_path"], int(doc.get("max_tokens", params.tinker.max_tokens)), params.tinker)
        thinking = bool(doc.get("thinking", params.tinker.thinking))
        groups, _ = run_rollouts(tasks, 1, sampler, thinking, 0.0, lambda: 0, params.env, params.reward)
    except BaseException:
        close(service, ok=False)
        raise
    close(service, ok=True)
    episodes = [g[0].env.to_episode(str(path)) for g in groups]
    return summarize(tasks, episodes), episodes


# ----------------------------------------------------------------------------- SFT


def demo_conversation(line: dict[str, Any], thinking: bool) -> Conversation:
    """A demo episode as the conversation the LLM policy would have had, with the demonstrated
    actions as its (weight 1) replies."""
    task = task_from_dict(line["task"])
    env = ExplorerEnv(task, EnvConfig(**line["env_config"]))
    conv = Conversation.start(env.initial_observation(), thinking)
    think = [THINK, *tokens.encode("\n\n"), END_THINK, *tokens.encode("\n\n")] if thinking else []
    for t in Episode.from_dict(line).transitions:
        reply = think + tokens.encode(render_action(t.action)) + [tokens.IM_END]
        conv.add_reply(Sample(reply, [0.0] * len(reply)))
        result = env.step(t.action)
        if result.done:
            break
        conv.add_feedback(t.action, result.observation)
    return conv


def sft_schedule(n: int, epochs: int, batch_size: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(epochs):
        order = rng.permutation(n).tolist()
        batches += [order[i : i + batch_size] for i in range(0, n, batch_size)]
    return batches


def sft_main(params: Params) -> int:
    from explorer.tracking import stage_run
    from explorer.train.sft import checkpoint_path

    cfg = params.tinker
    service = connect(cfg)  # first: a missing, malformed or rejected key fails before any work
    check_access(cfg)
    demo_path = Path(params.demos.out_dir) / "episodes.jsonl"
    if not demo_path.exists():
        raise FileNotFoundError(f"no demos at {demo_path}: run `dvc repro demos` (or `explorer demos`) first")
    lines = [json.loads(ln) for ln in demo_path.read_text().splitlines() if ln.strip()]
    convs = [demo_conversation(d, cfg.thinking) for d in lines]
    n_tokens = sum(len(c.tokens) for c in convs)
    print(f"sft (tinker, {cfg.base_model} on {service_label(cfg)}): {len(convs)} demo conversations, {n_tokens} tokens, "
          f"{sum(c.n_sampled for c in convs)} with weight 1")  # fmt: skip
    try:
        for seed in params.train.seeds:
            _sft_seed(params, seed, convs, demo_path, service, checkpoint_path(params.sft, seed), stage_run)
    except BaseException:
        close(service, ok=False)
        raise
    close(service, ok=True)
    return 0


def _sft_seed(params: Params, seed: int, convs: list[Conversation], demo_path: Path, service: Any, out: Path, stage_run: Any) -> None:
    cfg = params.tinker
    batches = sft_schedule(len(convs), cfg.sft_epochs, cfg.sft_batch_size, seed)
    fp = fingerprint("sft", asdict(cfg), seed, sha256_file(demo_path), source_hash(*SFT_CODE))
    state = RunState(out.parent / STATE_FILE, fp, print)
    if state.resumed_from is not None:
        print(f"sft seed {seed}: resuming from {state.path} at step {state['step']}/{len(batches)}")
    tags = {"stage": "sft", "seed": str(seed), "backend": "tinker"}
    with stage_run(params.tracking, f"sft-seed{seed}", tags, run_id=state["run_id"]) as run:
        if state["run_id"] is None:
            state["run_id"] = run.run_id
            run.log_params(tinker_params(params) | {"seed": seed, "sft.demos": len(convs), "sft.steps": len(batches)})
        state.flush(run)
        if state.doc.get("done"):
            print(f"sft seed {seed}: already complete ({state['step']} steps)")
        else:
            with sdk_errors("creating the training client", cfg):
                if state["state_path"]:
                    tc = service.create_training_client_from_state_with_optimizer(state["state_path"]).result()
                else:
                    tc = service.create_lora_training_client(cfg.base_model, rank=cfg.lora_rank, seed=seed).result()
            from tinker import types

            while state["step"] < len(batches):
                t0 = time.perf_counter()
                batch = [convs[i] for i in batches[state["step"]]]
                data = [sft_datum(c) for c in batch]
                with sdk_errors("forward_backward", cfg):
                    fb = tc.forward_backward(data, "cross_entropy").result()
                with sdk_errors("optim_step", cfg):
                    tc.optim_step(types.AdamParams(learning_rate=cfg.sft_lr)).result()
                step = state["step"] + 1
                with sdk_errors("save_state", cfg):
                    state_path = tc.save_state(f"sft-s{seed}-step{step:05d}").result().path
                n_weighted = sum(c.n_sampled for c in batch)
                m = {"sft/loss": fb.metrics["loss:sum"] / max(1, n_weighted), "tinker/train_tokens": float(sum(len(c.training_arrays()[0]) for c in batch)),
                     "time/step_seconds": time.perf_counter() - t0}  # fmt: skip
                state["step"], state["state_path"] = step, state_path
                state.add_metrics(step, m)
                state.save()
                state.flush(run)
                print(f"sft seed {seed} step {step}/{len(batches)}: loss/token {m['sft/loss']:.4f} [{m['time/step_seconds']:.2f}s]")
            with sdk_errors("save_state", cfg):
                if state["state_path"] is None:  # no demos or sft_epochs 0: the start itself
                    state["state_path"] = tc.save_state(f"sft-s{seed}-init").result().path
            with sdk_errors("save_weights_for_sampler", cfg):
                state["sampler_path"] = tc.save_weights_for_sampler(f"sft-s{seed}-final").result().path
            state["done"] = True
            state.save()
        write_pointer(out, params, stage="sft", seed=seed, state_path=state["state_path"], sampler_path=state["sampler_path"],
                      step=state["step"], mlflow_run_id=run.run_id)  # fmt: skip
        run.set_tags(
            {"checkpoint": str(out.resolve()), "tinker.state_path": state["state_path"], "tinker.sampler_path": state["sampler_path"]}
        )
        print(f"sft seed {seed}: {state['step']} steps -> {out} ({state['sampler_path']})")


# ----------------------------------------------------------------------------- GRPO


class TinkerGRPO:
    """One seed's GRPO run. `run()` is the loop; everything it needs to resume is in RunState."""

    def __init__(self, params: Params, seed: int, train: list[Task], val: list[Task], init: dict[str, Any], out_dir: Path, service: Any,
                 log: Callable[[str], None] = print):  # fmt: skip
        self.params, self.cfg, self.tcfg = params, params.grpo, params.tinker
        self.seed, self.train, self.val, self.init, self.out_dir, self.service, self.log = seed, train, val, init, out_dir, service, log
        # grpo keys only the local backend reads (lr, kl_coef, ...) must not invalidate a paid run
        used = {k: v for k, v in asdict(self.cfg).items() if k not in LOCAL_ONLY_GRPO_KEYS}
        fp = fingerprint("grpo", used, asdict(self.tcfg), seed, asdict(params.env), asdict(params.reward), init["state_path"],
                         repr_hash((train, val)), source_hash(*GRPO_CODE))  # fmt: skip
        self.state = RunState(out_dir / STATE_FILE, fp, log)
        self.rng = np.random.default_rng(seed)
        if self.state.resumed_from is not None:
            self.rng.bit_generator.state = self.state["rng"]
            log(f"grpo: resuming from {self.state.path} at step {self.state['step']}/{self.cfg.steps}")
        self.tc: Any = None
        self.sampler: TinkerSampler | None = None

    # -------------------------------------------------------------- service objects
    def training_client(self) -> Any:
        if self.tc is None:
            path = self.state["state_path"]
            with sdk_errors("creating the training client", self.tcfg):
                if path:  # our own saved state: weights and optimizer
                    self.tc = self.service.create_training_client_from_state_with_optimizer(path).result()
                else:  # the SFT state: its weights, a fresh optimizer for this stage
                    self.tc = self.service.create_training_client_from_state(self.init["state_path"]).result()
        return self.tc

    def use_sampler(self, path: str) -> None:
        self.sampler = TinkerSampler.from_path(self.service, path, self.tcfg.max_tokens, self.tcfg)

    def next_seed(self) -> int:
        return int(self.rng.integers(2**31 - 1))

    # -------------------------------------------------------------- one step
    def train_step(self, step: int) -> tuple[dict[str, float], bool]:
        from tinker import types

        cfg, t0 = self.cfg, time.perf_counter()
        idx = self.rng.choice(len(self.train), size=min(cfg.batch_size, len(self.train)), replace=False)
        groups, counts = run_rollouts([self.train[i] for i in idx], cfg.group_size, self.sampler, self.tcfg.thinking, cfg.temperature,
                                      self.next_seed, self.params.env, self.params.reward)  # fmt: skip
        kept: list[tuple[Conversation, float]] = []
        kept_groups = 0
        for group in groups:
            adv = group_advantages(np.array([r.env.final_metrics["reward"] for r in group]), cfg.normalize_advantages)
            if adv is not None:
                kept_groups += 1
                kept += [(r.conv, float(a)) for r, a in zip(group, adv, strict=True) if r.conv.n_sampled > 0]
        episodes = [r.env.final_metrics for g in groups for r in g]
        m: dict[str, float] = {}
        stepped = False
        if kept:
            data = [rl_datum(conv, adv) for conv, adv in kept]
            config = (
                {"clip_low_threshold": 1 - cfg.clip_eps, "clip_high_threshold": 1 + cfg.clip_eps} if self.tcfg.loss_fn == "ppo" else None
            )
            tc = self.training_client()
            with sdk_errors("forward_backward", self.tcfg):
                fb = tc.forward_backward(data, self.tcfg.loss_fn, config).result()
            with sdk_errors("optim_step", self.tcfg):
                tc.optim_step(types.AdamParams(learning_rate=self.tcfg.grpo_lr)).result()
            stepped = True
            q, p = [], []  # sampler vs learner logprobs of the sampled tokens
            for (conv, _), out in zip(kept, fb.loss_fn_outputs, strict=True):
                _, _, w, lp = conv.training_arrays()
                mask = np.array(w) > 0
                q.append(np.array(lp)[mask])
                p.append(out["logprobs"].to_numpy()[mask])
            qa, pa = np.concatenate(q), np.concatenate(p)
            m |= {
                "loss": fb.metrics["loss:sum"] / max(1, len(qa)),
                "policy/entropy": float(-qa.mean()),
                "policy/kl_sampler_learner": float((qa - pa).mean()),
            }
        train_tokens = sum(len(conv.training_arrays()[0]) for conv, _ in kept)  # model input tokens of the datums

        def mean(key: str) -> float:
            return float(np.mean([e[key] for e in episodes]))

        rewards = [e["reward"] for e in episodes]
        m |= {
            "reward/mean": float(np.mean(rewards)), "reward/std": float(np.std(rewards)), "train/f1": mean("f1"), "train/em": mean("em"),
            "budget/tokens_read": mean("tokens_read"), "train/opens": mean("opens"), "train/answer_rate": mean("answered"),
            "train/invalid": mean("invalid"), "train/steps": mean("steps"), "groups/kept": float(kept_groups), "groups/total": float(len(groups)),
            "tinker/prompt_tokens": float(counts.prompt), "tinker/sampled_tokens": float(counts.sampled),
            "tinker/train_tokens": float(train_tokens), "tinker/sample_requests": float(counts.requests),
            "tinker/optim_steps": float(stepped), "time/step_seconds": time.perf_counter() - t0,
        }  # fmt: skip
        return m, stepped

    def eval_val(self) -> dict[str, float]:
        assert self.sampler is not None
        m, counts = greedy_eval(self.val, self.sampler, self.params)
        return {"val/reward": m["avg_reward"], "val/f1": m["f1"], "val/em": m["em"], "val/tokens_read": m["avg_tokens_read"],
                "val/opens": m["avg_opens"], "tinker/eval_prompt_tokens": float(counts.prompt), "tinker/eval_sampled_tokens": float(counts.sampled)}  # fmt: skip

    def write_best(self, step: int, metrics: dict[str, float], state_path: str, sampler_path: str) -> None:
        best = {
            "step": step,
            "state_path": state_path,
            "sampler_path": sampler_path,
            **{k: v for k, v in metrics.items() if k.startswith("val/")},
        }
        self.state["best"] = best
        self.write_pointer("best.json", best)

    def write_pointer(self, name: str, best: dict[str, Any]) -> None:
        write_pointer(self.out_dir / name, self.params, stage="grpo", seed=self.seed, state_path=best["state_path"], sampler_path=best["sampler_path"],
                      step=best["step"], **{k: v for k, v in best.items() if k.startswith("val/")}, mlflow_run_id=self.state["run_id"])  # fmt: skip

    # -------------------------------------------------------------- the loop
    def run(self, run: Any) -> dict[str, Any]:
        cfg, st, init = self.cfg, self.state, self.init
        self.out_dir.mkdir(parents=True, exist_ok=True)
        st.flush(run)  # what a killed run had saved but not yet sent
        # The weights the sampler holds, and the saved state they belong to; None = the SFT start
        # (whose optimizer state is not used: this stage starts a fresh one).
        sampler_path, state_path = st["sampler_path"], st["state_path"]
        dirty = False  # optimizer steps since `state_path` was saved (checkpoint_every > 1)
        if not st.doc.get("best") or st["step"] < cfg.steps:
            self.use_sampler(sampler_path or init["sampler_path"])
        if not st.doc.get("best"):  # step 0: the SFT policy is the first candidate for best
            m = self.eval_val()
            self.write_best(0, m, init["state_path"], init["sampler_path"])
            st["rng"] = self.rng.bit_generator.state
            st.add_metrics(0, m)
            st.save()
            st.flush(run)
            self.log(f"grpo step 0/{cfg.steps}: val/reward {m['val/reward']:.3f} val/f1 {m['val/f1']:.3f} (the SFT start)")
        while st["step"] < cfg.steps:
            step = st["step"] + 1
            m, stepped = self.train_step(step)
            if stepped:
                dirty = True
                with sdk_errors("save_weights_for_sampler", self.tcfg):
                    sampler_path = self.training_client().save_weights_for_sampler(f"grpo-s{self.seed}-step{step:05d}").result().path
                self.use_sampler(sampler_path)  # a new client: the old one samples the old weights
            if step % cfg.eval_every == 0 or step == cfg.steps:
                m.update(self.eval_val())
            is_best = "val/reward" in m and m["val/reward"] >= st["best"]["val/reward"]
            saving = step % cfg.checkpoint_every == 0 or step == cfg.steps
            if dirty and (saving or is_best):
                with sdk_errors("save_state", self.tcfg):
                    state_path = self.training_client().save_state(f"grpo-s{self.seed}-step{step:05d}").result().path
                dirty = False
            if is_best:
                self.write_best(step, m, state_path or init["state_path"], sampler_path or init["sampler_path"])
            val = f" val/f1 {m['val/f1']:.3f}" if "val/f1" in m else ""
            self.log(f"grpo step {step}/{cfg.steps}: reward {m['reward/mean']:.3f} f1 {m['train/f1']:.3f} kept {m['groups/kept']:.0f}/{m['groups/total']:.0f} "
                     f"tokens prompt {m['tinker/prompt_tokens']:.0f} sampled {m['tinker/sampled_tokens']:.0f} train {m['tinker/train_tokens']:.0f}{val} "
                     f"[{m['time/step_seconds']:.2f}s]")  # fmt: skip
            st.add_metrics(step, m)
            st["step"] = step
            if saving:
                st["state_path"], st["sampler_path"], st["rng"] = state_path, sampler_path, self.rng.bit_generator.state
                st.save()  # the resume point advances only here, after optim_step and save_state
                st.flush(run)
            # else: in memory only; a crash before the next save redoes this step from the last one
        last = {
            "step": st["step"],
            "state_path": st["state_path"] or init["state_path"],
            "sampler_path": st["sampler_path"] or init["sampler_path"],
        }
        self.write_pointer("last.json", last)
        return {"best": st["best"], "steps": st["step"], "resumed_from": st.resumed_from}


def grpo_main(params: Params) -> int:
    from explorer.cli import resolve_tasks
    from explorer.plots import plot_grpo_curves
    from explorer.tracking import stage_run
    from explorer.train.grpo import run_dir
    from explorer.train.sft import checkpoint_path

    service = connect(params.tinker)  # first: a missing, malformed or rejected key fails before any work
    check_access(params.tinker)
    train, _ = resolve_tasks("train", params)
    val, _ = resolve_tasks("val", params)
    histories = {}
    try:
        for seed in params.train.seeds:
            init_path = checkpoint_path(params.sft, seed)
            if not init_path.exists():
                raise FileNotFoundError(f"no SFT checkpoint at {init_path}: run `dvc repro sft` first")
            init = read_pointer(init_path)
            out = run_dir(params.grpo, seed)
            trainer = TinkerGRPO(params, seed, train, val, init, out, service)
            tags = {"stage": "grpo", "seed": str(seed), "backend": "tinker"}
            with stage_run(params.tracking, f"grpo-seed{seed}", tags, run_id=trainer.state["run_id"]) as run:
                if trainer.state["run_id"] is None:
                    trainer.state["run_id"] = run.run_id
                    run.log_params(tinker_params(params) | {f"grpo.{k}": v for k, v in asdict(params.grpo).items()}
                                   | {"seed": seed, "grpo.init": str(init_path), "grpo.init_state_path": init["state_path"], "reward.variant": params.reward.variant})  # fmt: skip
                result = trainer.run(run)
                history = [(int(k), m) for k, m in trainer.state["history"]]
                run.log_artifact(plot_grpo_curves({f"seed {seed}": history}, out / "curves.png"))
                best = result["best"]
                run.set_tags({"checkpoint.best": str((out / "best.json").resolve()), "checkpoint.last": str((out / "last.json").resolve()),
                              "best_step": str(best["step"]), "tinker.best_sampler_path": best["sampler_path"]})  # fmt: skip
            atomic_write_json(out / "history.json", [{"step": k, **m} for k, m in history])
            histories[f"seed {seed}"] = history
            print(
                f"grpo seed {seed}: best val/reward {best['val/reward']:.3f} (val/f1 {best['val/f1']:.3f}) at step {best['step']} -> {out}/best.json"
            )
    except BaseException:
        close(service, ok=False)
        raise
    close(service, ok=True)
    plot_grpo_curves(histories, Path("reports/plots/grpo_curves.png"))
    return 0


# ----------------------------------------------------------------------------- cost


@dataclass
class EpisodeTokens:
    turns: list[tuple[int, int]] = field(default_factory=list)  # (prompt tokens, sampled tokens) per turn

    @property
    def train(self) -> int:  # forward_backward input tokens of the episode's datum
        return self.turns[-1][0] + self.turns[-1][1] - 1


def episode_tokens(line: dict[str, Any], thinking: bool, reply_tokens: int | None = None) -> EpisodeTokens:
    """The token counts the GRPO loop would see for a demo episode's actions: the prompt of every
    turn and the reply (the action + <|im_end|>, with thinking on the empty think block too), or
    replies of a fixed `reply_tokens` each (e.g. max_tokens: replies cut at the limit)."""
    conv = demo_conversation(line, thinking)
    runs: list[tuple[int, int]] = []  # (start, length) of each reply in the token sequence
    for i, s in enumerate(conv.sampled):
        if s and (i == 0 or not conv.sampled[i - 1]):
            runs.append((i, 0))
        if s:
            runs[-1] = (runs[-1][0], runs[-1][1] + 1)
    out, shift = EpisodeTokens(), 0
    for start, n in runs:
        r = n if reply_tokens is None else reply_tokens
        out.turns.append((start + shift, r))
        shift += r - n
    return out


def step_tokens(episodes: list[EpisodeTokens], batch_size: int, group_size: int) -> dict[str, float]:
    """Expected tokens of one GRPO step if every episode looked like a random one of `episodes`:
    the first turn's prompt is sent once per group (num_samples = group size), every later turn
    once per episode; training sends every episode of the kept groups (all kept here)."""
    first = np.mean([e.turns[0][0] for e in episodes])
    later = np.mean([sum(p for p, _ in e.turns[1:]) for e in episodes])
    sampled = np.mean([sum(n for _, n in e.turns) for e in episodes])
    train = np.mean([e.train for e in episodes])
    prompt = batch_size * (first + group_size * later)
    return {"turns": float(np.mean([len(e.turns) for e in episodes])), "first_prompt": float(first), "later_prompts": float(later),
            "sampled_per_episode": float(sampled), "train_per_episode": float(train), "prompt": float(prompt),
            "sampled": float(batch_size * group_size * sampled), "train": float(batch_size * group_size * train)}  # fmt: skip


def cost_main(argv: list[str] | None = None) -> int:
    """python -m explorer.train.tinker_train cost [--demos FILE]: tokens per GRPO step for the
    params.yaml config, from the demo episodes' actions rendered exactly as the GRPO loop does."""
    import argparse

    from explorer.config import load_params

    ap = argparse.ArgumentParser(prog="python -m explorer.train.tinker_train cost")
    ap.add_argument("--demos", default=None, help="episodes.jsonl (default: demos.out_dir/episodes.jsonl)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    params = load_params(args.params)
    path = Path(args.demos or Path(params.demos.out_dir) / "episodes.jsonl")
    lines = [json.loads(ln) for ln in path.read_text().splitlines() if ln.strip()]
    g, t = params.grpo, params.tinker
    print(f"{len(lines)} episodes from {path}; batch_size {g.batch_size} x group_size {g.group_size}; max_tokens {t.max_tokens}\n")
    print("Per GRPO step (all groups kept):\n")
    print(
        "| replies | thinking | turns / ep | 1st prompt | later prompts / ep | sampled / ep | train / ep | prompt / step | sampled / step | train / step |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for thinking in (False, True):
        for label, reply in (("the action", None), (f"max_tokens ({t.max_tokens})", t.max_tokens)):
            c = step_tokens([episode_tokens(d, thinking, reply) for d in lines], g.batch_size, g.group_size)
            print(f"| {label} | {'on' if thinking else 'off'} | {c['turns']:.2f} | {c['first_prompt']:.0f} | {c['later_prompts']:.0f} | "
                  f"{c['sampled_per_episode']:.0f} | {c['train_per_episode']:.0f} | {c['prompt']:,.0f} | {c['sampled']:,.0f} | {c['train']:,.0f} |")  # fmt: skip
    eps = [episode_tokens(d, t.thinking) for d in lines]
    n_val = params.data.val_size
    ev = step_tokens(eps, n_val, 1)
    n_evals = g.steps // g.eval_every + (g.steps % g.eval_every != 0) + 1  # + step 0 (the SFT start)
    print(f"\nGreedy val eval ({n_val} questions, every {g.eval_every} steps and at step 0: {n_evals} evals), each: "
          f"prompt {ev['prompt']:,.0f}, sampled {ev['sampled']:,.0f}")  # fmt: skip
    sft = sum(e.train for e in eps)
    print(f"SFT per seed ({len(lines)} demos x {t.sft_epochs} epochs): train {sft * t.sft_epochs:,.0f} tokens")
    c = step_tokens(eps, g.batch_size, g.group_size)
    total = g.steps * (c["prompt"] + c["sampled"]) + n_evals * (ev["prompt"] + ev["sampled"])
    print(f"One seed, {g.steps} GRPO steps (replies as the demos): sampling (prompt + sampled) {total:,.0f}, "
          f"train {g.steps * c['train']:,.0f} tokens")  # fmt: skip
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["cost"]:
        sys.exit(cost_main(sys.argv[2:]))
    sys.exit("usage: python -m explorer.train.tinker_train cost [--demos FILE] [--params FILE]")
