"""Policies map an Observation (and a seeded rng) to an Action.

Baselines (all rules, nothing learned; explorer/policies/baselines.py):
- random:    opens unopened chunks in random order, stopping after each open with probability
             1/4 (about 4 opens on average), then answers with the rules reader on what it read.
             It isolates what chunk *selection* is worth at a fixed answerer.
- heuristic: ranks unopened chunks by lexical overlap of title and preview with the question and
             with bridge entities named in what it has read; opens the best until the reader
             judges the reading sufficient (or `MAX_OPENS`), then always answers.
- read_all:  opens every chunk that fits in the budget, then answers with the rules reader.
- gold_reading: opens exactly the gold chunks (those holding supporting facts) in an order a
             reader could discover them, then answers with the rules reader: what perfect reading
             is worth at this answerer, and the demonstrator for SFT (`demos.policy`).
- oracle:    opens exactly the gold chunks and answers the gold answer: the upper bound and the
             minimum reading cost.
gold_reading and oracle read the task's labels; no other policy does.

Learned policies: explorer/policies/local.py (the log-linear policy over the features of
explorer/policies/features.py) and explorer/policies/llm.py (a language model through a sampler).
A checkpoint file becomes a policy in explorer/checkpoints.py.
"""

from __future__ import annotations

from explorer.policies.baselines import gold_reading_policy, heuristic_act, oracle_policy, random_act, read_all_act
from explorer.types import PolicyFactory

BASELINES = ("random", "heuristic", "read_all", "gold_reading", "oracle")


def baseline_factory(name: str) -> PolicyFactory:
    """The named baseline, as a factory of one policy per task. Only the oracle reads the task."""
    if name == "random":
        return lambda task: random_act
    if name == "heuristic":
        return lambda task: heuristic_act
    if name == "read_all":
        return lambda task: read_all_act
    if name == "gold_reading":
        return gold_reading_policy
    if name == "oracle":
        return oracle_policy
    raise ValueError(f"unknown baseline policy {name!r}: not one of {', '.join(BASELINES)}")
