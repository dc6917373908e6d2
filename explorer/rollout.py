"""The one episode loop: a policy acts in an env until the episode ends.

Training rollouts (explorer/rl/grpo.py), the evaluation harness (explorer/harness.py), the demos
and `explorer inspect` all run episodes through `run_episode` (in the spirit of tinker-cookbook's
`do_single_rollout(policy, env)`). `run_episodes` runs many: one after another by default, which
keeps a shared rng's draws in a fixed order (the local backend's bit-identical resume rests on
it), or on `workers` threads for policies that wait on a remote sampler, so that the requests of
every episode are in flight together (the Tinker backend).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from explorer.env import ExplorerEnv
from explorer.types import Episode, Policy


def episode_rng(seed: int, task_id: str) -> random.Random:
    """The eval harness's per-episode randomness: seeded from (seed, task id), so a result does
    not depend on the order or the subset of tasks."""
    return random.Random(f"{seed}:{task_id}")


def run_episode(env: ExplorerEnv, policy: Policy, rng: Any, name: str) -> Episode:
    obs = env.initial_observation()
    while not env.done:
        obs = env.step(policy(obs, rng)).observation
    return env.to_episode(name)


@dataclass(frozen=True)
class EpisodeJob:
    """One episode to run: a fresh env, the policy that acts in it, its rng, and the policy's name
    as the episode records it."""

    env: ExplorerEnv
    policy: Policy
    rng: Any
    name: str


def run_episodes(jobs: list[EpisodeJob], workers: int = 1, progress: str | None = None) -> list[Episode]:
    """Every job's episode, in the order of `jobs`. `progress`: a label for a progress bar on
    stderr (shown only on a terminal)."""

    def bar(it: Iterable[Episode]) -> Iterable[Episode]:
        if progress is None:
            return it
        from tqdm import tqdm  # a slow import, only for interactive use

        return tqdm(it, total=len(jobs), desc=progress, unit="q", file=sys.stderr, leave=False, disable=None)

    if workers <= 1 or len(jobs) <= 1:
        return list(bar(run_episode(j.env, j.policy, j.rng, j.name) for j in jobs))
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        return list(bar(pool.map(lambda j: run_episode(j.env, j.policy, j.rng, j.name), jobs)))
