"""The baseline policies (see explorer/policies/__init__.py for what each does)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from explorer.reader import answer_question, is_sufficient, relevance
from explorer.reader.ranking import needed_cues
from explorer.reward import normalize_answer
from explorer.types import Action, Answer, Observation, Open, Task

MAX_OPENS = 6  # the heuristic's reading cap: gold evidence is 2 paragraphs (4 for bridge_comparison)
RANDOM_STOP_PROB = 0.25


def read_passages(obs: Observation) -> list[tuple[str, str]]:
    """(title, text) of every chunk the agent has in its context, in opening order."""
    titles = {c.id: c.title for c in obs.chunks}
    return [(titles[cid], text) for cid, text in obs.opened]


def _answer(obs: Observation) -> Answer:
    return Answer(answer_question(obs.question, read_passages(obs)))


def affordable(obs: Observation) -> list[int]:
    return [c.id for c in obs.chunks if not c.opened and c.n_tokens <= obs.budget_left]


def _steps_left(obs: Observation) -> int:
    return obs.max_steps - obs.step


def random_act(obs: Observation, rng: random.Random) -> Action:
    candidates = affordable(obs)
    n_opened = sum(c.opened for c in obs.chunks)
    stop = n_opened > 0 and rng.random() < RANDOM_STOP_PROB
    if not candidates or stop or _steps_left(obs) <= 1:
        return _answer(obs)
    return Open(rng.choice(candidates))


def stop_rules_answer(n_opened: int, sufficient: bool, max_opens: int, when_sufficient: bool = True) -> bool:
    """The heuristic's two stop rules, which the local policy can take on too (params.yaml
    `local_policy`): answer once the reader judges the reading sufficient (if `when_sufficient`),
    or once `max_opens` chunks are open (0: no cap)."""
    return (when_sufficient and sufficient) or 0 < max_opens <= n_opened


def heuristic_act(obs: Observation, rng: random.Random) -> Action:
    read = read_passages(obs)
    n_opened = sum(c.opened for c in obs.chunks)
    candidates = affordable(obs)
    # besides its stop rules it answers when nothing more fits or one step is left
    if not candidates or _steps_left(obs) <= 1 or stop_rules_answer(n_opened, bool(read) and is_sufficient(obs.question, read), MAX_OPENS):
        return _answer(obs)
    return most_relevant(obs, read, candidates)


def most_relevant(obs: Observation, read: list[tuple[str, str]], candidates: list[int]) -> Open:
    """The heuristic's next open: the candidate chunk whose title and preview are most relevant to
    the question given what was read; among equally relevant chunks (a paragraph's chunks share
    its preview) one whose cue marks (env.previews paragraph+cues) name a fact the question needs."""
    views = {c.id: c for c in obs.chunks}
    need = needed_cues(obs.question, tuple(read))

    def key(cid: int) -> tuple[float, bool]:
        v = views[cid]
        return relevance(obs.question, v.title, v.preview, read), bool(need.intersection(v.cues))

    # max() keeps the first of equal keys, so ties go to the lower chunk id: deterministic.
    return Open(max(candidates, key=key))


def read_all_act(obs: Observation, rng: random.Random) -> Action:
    candidates = affordable(obs)
    if not candidates or _steps_left(obs) <= 1:
        return _answer(obs)
    return Open(candidates[0])


def oracle_policy(task: Task) -> Callable[[Observation, random.Random], Action]:
    def act(obs: Observation, rng: random.Random) -> Action:
        opened = {c.id for c in obs.chunks if c.opened}
        todo = [i for i in task.gold_chunk_ids if i not in opened]
        return Open(todo[0]) if todo else Answer(task.answer)

    return act


def _title_key(title: str) -> str:
    """A title as it would be named in text: normalised, without a trailing "(disambiguation)"."""
    return normalize_answer(re.sub(r"\s*\(.*?\)\s*$", "", title))


def gold_reading_policy(task: Task) -> Callable[[Observation, random.Random], Action]:
    """Opens exactly the chunks that hold supporting facts, in an order a reader could discover
    them: chunks of paragraphs the question names (or already opened) first, then those whose
    title is named in what was read (bridge entities), then the rest, a paragraph's chunks in
    order; then answers with the rules reader. It reads the task's gold labels: a demonstrator on
    the train split and a reference point on dev, never a learned result."""

    def act(obs: Observation, rng: random.Random) -> Action:
        views = {c.id: c for c in obs.chunks}
        todo = [i for i in task.gold_chunk_ids if not views[i].opened]
        if not todo or _steps_left(obs) <= 1:
            return _answer(obs)
        question = f" {normalize_answer(obs.question)} "
        read = normalize_answer(" ".join(text for _, text in read_passages(obs)))
        opened_paragraphs = {c.paragraph for c in obs.chunks if c.opened}

        def tier(i: int) -> tuple[int, int, int]:
            c, key = views[i], _title_key(views[i].title)
            named = c.paragraph in opened_paragraphs or (bool(key) and f" {key} " in question)
            return (0 if named else 1 if key and key in read else 2, c.position, i)

        nxt = min(todo, key=tier)
        return Open(nxt) if views[nxt].n_tokens <= obs.budget_left else _answer(obs)

    return act
