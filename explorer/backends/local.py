"""The local backend: the numpy log-linear policy (explorer/policies/local.py) trained on this CPU.

SFT (behaviour cloning): each demo episode is replayed through the env to rebuild the observation
the demonstrator saw at every step; the policy's action set for that observation is listed, and the
demonstrated action is the target of a softmax cross-entropy over that set. Minibatch Adam with
weight decay, seeded shuffles.

GRPO (the `Learner` of explorer/rl/grpo.py): rollouts sample softmax(phi . w / temperature) and
record, per step, the action set's features, the chosen action, its log-probability under the
sampling weights and the SFT policy's log-probabilities. The update is `epochs_per_step`
full-batch Adam passes on
    -min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A)  +  kl_coef * KL(pi || pi_sft)  -  entropy_coef * H(pi),
averaged over all kept steps (so a longer episode weighs more), with ratio = pi(a|s) /
pi_sampling(a|s). The action sets are small and explicit, so KL and entropy are exact sums over
each state's actions, not sampled estimates. The KL reference is taken at the sampling
temperature, so a temperature alone adds no KL.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from explorer.backends.adam import Adam
from explorer.codedeps import code_hash
from explorer.config import EnvConfig, GRPOConfig, LocalPolicyConfig, Params, SFTConfig
from explorer.data.tasks import task_from_dict
from explorer.env import ExplorerEnv
from explorer.io import repr_hash
from explorer.policies.features import N_FEATURES, NO_STOP_RULES, action_set
from explorer.policies.local import LocalPolicy, load_policy, log_softmax, sample_index, save_policy
from explorer.types import Action, Episode, Observation, Open, Policy, PolicyFactory, Task

# ----------------------------------------------------------------------------- SFT

# (features of the action set [A, D], indices of the target actions). One target: the demo's
# action. Demos of gold_reading (which reads the labels) have a target *set* for each open: every
# unopened gold chunk, since which of them it opened first is its own arbitrary order; the loss is
# then -log of the probability of opening some gold chunk.
Example = tuple[np.ndarray, tuple[int, ...]]


def examples_from_demos(lines: list[dict], stop: LocalPolicyConfig = NO_STOP_RULES) -> tuple[list[Example], int]:
    """(features, targets) for every demonstrated step, and how many steps had no match in the
    policy's action set (e.g. an answer text the candidate list does not hold). A state with one
    legal action gives no example: there is no choice to learn (under `stop` rules, a state where
    they answer has only the rules answer; a demo that reads on there counts as unmatched)."""
    examples: list[Example] = []
    unmatched = 0
    for d in lines:
        task = task_from_dict(d["task"])
        ep = Episode.from_dict(d)
        env = ExplorerEnv(task, EnvConfig(**d["env_config"]))
        obs = env.initial_observation()
        for t in ep.transitions:
            aset = action_set(obs, stop)
            idx = aset.index_of(t.action)
            if len(aset.actions) == 1 and idx is not None:
                pass  # a single legal action (the rules answer where stop rules hold): nothing to learn
            elif idx is None:
                unmatched += 1
            elif d["policy"] == "gold_reading" and isinstance(t.action, Open):
                opened = {c.id for c in obs.chunks if c.opened}
                gold = [aset.index_of(Open(g)) for g in task.gold_chunk_ids if g not in opened]
                examples.append((aset.features, tuple(sorted(i for i in gold if i is not None))))
            else:
                examples.append((aset.features, (idx,)))
            obs = env.step(t.action).observation
    return examples, unmatched


def nll_and_grad(w: np.ndarray, batch: list[Example]) -> tuple[float, np.ndarray, float]:
    """Mean negative log-likelihood of the targets (of the target set: -log sum of its
    probabilities), its gradient, and how often the argmax is a target."""
    loss, grad, correct = 0.0, np.zeros_like(w), 0
    for feats, targets in batch:
        lp = log_softmax(feats @ w)
        p = np.exp(lp)
        if len(targets) == 1:
            loss -= lp[targets[0]]
            grad += feats.T @ (p - np.eye(len(p))[targets[0]])
        else:
            t = np.array(targets)
            top = lp[t].max()
            log_mass = top + np.log(np.exp(lp[t] - top).sum())
            q = np.zeros_like(p)
            q[t] = np.exp(lp[t] - log_mass)  # the policy's distribution within the target set
            loss -= log_mass
            grad += feats.T @ (p - q)
        correct += int(int(np.argmax(lp)) in targets)
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


# ----------------------------------------------------------------------------- GRPO


@dataclass
class StepRecord:
    feats: np.ndarray  # [A, D] features of the state's action set
    action: int
    old_logprob: float  # log pi_sampling(action | state)
    sft_logprobs: np.ndarray  # log pi_sft(. | state), for the exact KL


@dataclass
class SamplingPolicy:
    """The local policy sampling at `temperature`, keeping the trace the update needs."""

    w: np.ndarray
    w_sft: np.ndarray
    temperature: float
    stop: LocalPolicyConfig = NO_STOP_RULES
    trace: list[StepRecord] = field(default_factory=list)

    def __call__(self, obs: Observation, rng: Any) -> Action:
        aset = action_set(obs, self.stop)
        lp = log_softmax(aset.features @ self.w / self.temperature)
        a = sample_index(lp, rng)
        self.trace.append(StepRecord(aset.features, a, float(lp[a]), log_softmax(aset.features @ self.w_sft / self.temperature)))
        return aset.actions[a]


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


class LocalLearner:
    """The GRPO `Learner` of the local backend: weights and Adam state in this process."""

    name = "LocalPolicy"
    workers = 1  # in order: every episode draws from the run's one rng, so resume is bit-identical

    def __init__(self, cfg: GRPOConfig, init_weights: np.ndarray, stop: LocalPolicyConfig = NO_STOP_RULES):
        self.cfg = cfg
        self.stop = stop
        self.w_sft = init_weights.copy()
        self.w = init_weights.copy()
        self.opt = Adam(cfg.lr)

    def rollout_policy(self, rng: np.random.Generator) -> tuple[Policy, Any]:
        return SamplingPolicy(self.w, self.w_sft, self.cfg.temperature, self.stop), rng

    def greedy_factory(self) -> PolicyFactory:
        policy = LocalPolicy(self.w, greedy=True, stop=self.stop)  # stateless: one object serves every task
        return lambda task: policy

    def update(self, kept: list[tuple[Policy, float]]) -> dict[str, float]:
        batch = [(rec, adv) for policy, adv in kept for rec in policy.trace]  # type: ignore[attr-defined]
        for _ in range(self.cfg.epochs_per_step):
            loss, grad, stats = loss_and_grad(self.w, batch, self.cfg)
            self.w = self.opt.step(self.w, grad)
        return {"policy/entropy": stats["entropy"], "policy/kl_to_sft": stats["kl"], "policy/clip_frac": stats["clip_frac"], "loss": loss}

    def step_metrics(self) -> dict[str, float]:
        return {}

    def snapshot(self, step: int) -> dict[str, Any]:
        return {"weights": self.w.tolist(), "adam": self.opt.state()}

    def restore(self, snapshot: dict[str, Any]) -> None:
        self.w = np.array(snapshot["weights"])
        self.opt.load_state(snapshot["adam"])

    def write_checkpoint(self, path: Path, meta: dict[str, Any]) -> None:
        save_policy(path, self.w, meta, self.stop)


def grpo_learner(params: Params, seed: int, init_path: Path, train: list[Task], val: list[Task]) -> tuple[LocalLearner, list[Any]]:
    """The learner for one seed, starting from the SFT checkpoint, and what its run's fingerprint
    is made of: everything that shapes the run (params, seed, SFT weights, the tasks, the code)."""
    sft = load_policy(init_path)
    if sft.stop != params.local_policy:
        raise ValueError(
            f"{init_path}: SFT checkpoint has stop rules {asdict(sft.stop)}, params.yaml local_policy says {asdict(params.local_policy)}: rerun sft"
        )
    init = sft.weights
    run_cfg = {k: v for k, v in asdict(params.grpo).items() if k not in ("out_dir", "checkpoint_every", "viewer_every")}  # change no result
    parts = ["grpo-local", run_cfg, seed, asdict(params.env), asdict(params.reward), *([asdict(params.local_policy)] if params.local_policy.active else []),
             init.tolist(), repr_hash((train, val)),
             code_hash(__name__, "explorer.rl.grpo")]  # fmt: skip
    return LocalLearner(params.grpo, init, params.local_policy), parts
