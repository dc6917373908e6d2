"""A policy named on the command line or by a stage: a baseline's name, or a checkpoint file
(a local policy's weights, or a Tinker pointer), turned into what the eval harness runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from explorer.backends.tinker_pointer import is_tinker_pointer, pointer_policy
from explorer.config import Params
from explorer.policies import BASELINES, baseline_factory
from explorer.policies.local import load_policy
from explorer.types import PolicyFactory


@contextmanager
def open_policy(spec: str, params: Params) -> Iterator[tuple[PolicyFactory, int]]:
    """(a factory of one policy per task, how many episodes to run at once). A Tinker pointer
    holds a service session open while the context lasts; checkpoints act greedily."""
    if spec in BASELINES:
        yield baseline_factory(spec), 1
        return
    path = Path(spec)
    if path.suffix != ".json" or not path.exists():
        raise ValueError(f"unknown policy {spec!r}: not one of {', '.join(BASELINES)} and not an existing checkpoint .json")
    if is_tinker_pointer(path):
        with pointer_policy(path, params.tinker) as (factory, workers):
            yield factory, workers
        return
    policy = load_policy(path, greedy=True)  # stateless: one object serves every task
    yield (lambda task: policy), 1
