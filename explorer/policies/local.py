"""The local CPU policy: a log-linear (softmax) policy over the env's actions, in numpy.

At every step the policy lists its legal actions — `Open(i)` for each unopened chunk that fits in
the budget, and `Answer(c)` for each answer candidate — describes each by a feature vector
phi(s, a), and samples a ~ softmax(phi(s, a) . w / temperature). At evaluation it takes the argmax.

What is learned and what is rules, plainly:
- learned: the weight vector `w` (one weight per feature of explorer/policies/features.py), fitted by behaviour cloning on
  demonstrations (SFT; `demos.policy`) and then by GRPO on the episode reward. Through `w` the policy
  learns which chunk to open next, when to stop reading, and which candidate to answer.
- rules: the features and the candidate list. Features include the heuristic's `relevance` score
  of a chunk, whether the rules reader judges the reading sufficient, and whether a candidate is
  the rules reader's answer (explorer/reader/). Candidates are the rules answer, yes / no,
  the options named in the question ("A or B"), and the titles of the chunks read.
The policy sees only the observation: question, previews, what it opened, budget. `Summarize` is
not in its action set (notes do not help a policy that keeps all it read in its features).
With params.yaml `local_policy` stop rules, when to stop is partly rules too: the heuristic's
"answer once the reader is sufficient" and its cap on opens (explorer/policies/features.py); they
are saved in the checkpoint, so evaluation applies the rules the policy was trained under.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explorer.config import ConfigError, LocalPolicyConfig, from_dict
from explorer.io import atomic_write_text, read_json_object
from explorer.policies.features import FEATURES, NO_STOP_RULES, ActionSet, action_set
from explorer.types import Action, Observation


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max()
    return z - np.log(np.exp(z).sum())


@dataclass
class LocalPolicy:
    """Weights + how to act. `greedy=True` (evaluation) takes the most likely action."""

    weights: np.ndarray
    temperature: float = 1.0
    greedy: bool = False
    stop: LocalPolicyConfig = NO_STOP_RULES

    def logprobs(self, aset: ActionSet) -> np.ndarray:
        return log_softmax(aset.features @ self.weights / self.temperature)

    def __call__(self, obs: Observation, rng: Any) -> Action:
        aset = action_set(obs, self.stop)
        lp = self.logprobs(aset)
        if self.greedy:
            return aset.actions[int(np.argmax(lp))]
        return aset.actions[sample_index(lp, rng)]


def sample_index(lp: np.ndarray, rng: Any) -> int:
    """Sample an index from log-probs. `rng` is anything with `.random()` (random.Random, as the
    eval harness uses, or numpy's Generator)."""
    cdf = np.cumsum(np.exp(lp))
    return int(min(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"), len(lp) - 1))


# ----------------------------------------------------------------------------- checkpoints

CHECKPOINT_FORMAT = "tinker-explorer/local-policy/v1"


def save_policy(path: Path | str, weights: np.ndarray, meta: dict[str, Any], stop: LocalPolicyConfig = NO_STOP_RULES) -> None:
    """A policy checkpoint: one JSON file, weights by feature name (readable, diffable), and the
    stop rules it acts under (only when set: a checkpoint without them has none)."""
    rules = {"stop_rules": asdict(stop)} if stop.active else {}
    doc = {"format": CHECKPOINT_FORMAT, "weights": dict(zip(FEATURES, map(float, weights), strict=True)), **rules, **meta}
    atomic_write_text(path, json.dumps(doc, indent=1) + "\n")


def load_policy(path: Path | str, greedy: bool = True) -> LocalPolicy:
    path = Path(path)
    doc = read_json_object(path, "local policy checkpoint")
    if doc.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a local policy checkpoint (format {doc.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    weights = doc.get("weights")
    if not isinstance(weights, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v) for v in weights.values()
    ):
        raise ValueError(f"{path}: field 'weights': expected an object of finite numbers by feature name")
    unknown = set(weights) - set(FEATURES)
    if unknown:
        raise ValueError(f"{path}: field 'weights': unknown features {sorted(unknown)} (checkpoint from another version?)")
    w = np.array([float(weights.get(name, 0.0)) for name in FEATURES])
    try:
        stop = from_dict(LocalPolicyConfig, doc.get("stop_rules"), "stop_rules")
    except ConfigError as e:
        raise ValueError(f"{path}: field {e}") from e
    return LocalPolicy(w, greedy=greedy, stop=stop)
