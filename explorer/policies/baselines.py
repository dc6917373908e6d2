"""The four baseline policies (see explorer/policies/__init__.py for what each does)."""

from __future__ import annotations

import random
from collections.abc import Callable

from explorer.reader import answer_question, is_sufficient, relevance
from explorer.types import Action, Answer, Observation, Open, Task

MAX_OPENS = 6  # the heuristic's reading cap: gold evidence is 2 paragraphs (4 for bridge_comparison)
RANDOM_STOP_PROB = 0.25


def read_passages(obs: Observation) -> list[tuple[str, str]]:
    """(title, text) of every chunk the agent has in its context, in opening order."""
    titles = {c.id: c.title for c in obs.chunks}
    return [(titles[cid], text) for cid, text in obs.opened]


def _answer(obs: Observation) -> Answer:
    return Answer(answer_question(obs.question, read_passages(obs)))


def _affordable(obs: Observation) -> list[int]:
    return [c.id for c in obs.chunks if not c.opened and c.n_tokens <= obs.budget_left]


def _steps_left(obs: Observation) -> int:
    return obs.max_steps - obs.step


def random_act(obs: Observation, rng: random.Random) -> Action:
    candidates = _affordable(obs)
    n_opened = sum(c.opened for c in obs.chunks)
    stop = n_opened > 0 and rng.random() < RANDOM_STOP_PROB
    if not candidates or stop or _steps_left(obs) <= 1:
        return _answer(obs)
    return Open(rng.choice(candidates))


def heuristic_act(obs: Observation, rng: random.Random) -> Action:
    read = read_passages(obs)
    n_opened = sum(c.opened for c in obs.chunks)
    candidates = _affordable(obs)
    if not candidates or n_opened >= MAX_OPENS or _steps_left(obs) <= 1 or (read and is_sufficient(obs.question, read)):
        return _answer(obs)
    views = {c.id: c for c in obs.chunks}
    # max() keeps the first of equal scores, so ties go to the lower chunk id: deterministic.
    best = max(candidates, key=lambda cid: relevance(obs.question, views[cid].title, views[cid].preview, read))
    return Open(best)


def read_all_act(obs: Observation, rng: random.Random) -> Action:
    candidates = _affordable(obs)
    if not candidates or _steps_left(obs) <= 1:
        return _answer(obs)
    return Open(candidates[0])


def oracle_policy(task: Task) -> Callable[[Observation, random.Random], Action]:
    def act(obs: Observation, rng: random.Random) -> Action:
        opened = {c.id for c in obs.chunks if c.opened}
        todo = [i for i in task.gold_chunk_ids if i not in opened]
        return Open(todo[0]) if todo else Answer(task.answer)

    return act
