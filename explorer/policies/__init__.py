"""Policies map an Observation (and a seeded rng) to an Action.

Baselines (all rules, nothing learned):
- random:    opens unopened chunks in random order, stopping after each open with probability
             1/4 (about 4 opens on average), then answers with the heuristic answerer on what
             it read. It isolates what chunk *selection* is worth at a fixed answerer.
- heuristic: ranks unopened chunks by lexical overlap of title and preview with the question and
             with bridge entities named in what it has read; opens the best until the answerer
             judges the reading sufficient (or `MAX_OPENS`), then always answers.
- read_all:  opens every chunk that fits in the budget, then answers with the heuristic answerer.
- oracle:    opens exactly the gold chunks and answers the gold answer: the upper bound and the
             minimum reading cost. It is the only policy that reads the task's labels.

A path to a local-policy checkpoint (`models/grpo/best.json`, ...) is a policy too: the learned
log-linear policy of explorer/policies/local.py, acting greedily.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from explorer.policies.baselines import heuristic_act, oracle_policy, random_act, read_all_act
from explorer.types import Action, Observation, Task

Policy = Callable[[Observation, random.Random], Action]
BASELINES = ("random", "heuristic", "read_all", "oracle")


def make_policy(name: str, task: Task) -> Policy:
    """The policy to run on `task`. Only the oracle is given the task's labels."""
    if name == "random":
        return random_act
    if name == "heuristic":
        return heuristic_act
    if name == "read_all":
        return read_all_act
    if name == "oracle":
        return oracle_policy(task)
    path = Path(name)
    if path.suffix == ".json" and path.exists():
        return _load_checkpoint(str(path.resolve()), path.stat().st_mtime_ns)
    raise ValueError(f"unknown policy {name!r}: not one of {', '.join(BASELINES)} and not an existing checkpoint .json")


@lru_cache(maxsize=8)
def _load_checkpoint(path: str, mtime_ns: int) -> Policy:
    from explorer.policies.llm import is_tinker_pointer

    if is_tinker_pointer(path):
        # a Tinker pointer file (models/sft/seed0/policy.json with train.backend: tinker, ...):
        # the LLM policy, sampling the pointer's weights through Tinker, greedy
        from explorer.policies.llm import load_tinker_policy

        return load_tinker_policy(path)
    from explorer.policies.local import load_policy

    return load_policy(path, greedy=True)
