from __future__ import annotations

from dataclasses import replace

import pytest

from explorer import tokens
from explorer.config import EnvConfig
from explorer.env import ExplorerEnv
from explorer.reward import RewardConfig
from explorer.types import Answer, Open, StopReason, Summarize, Unparsable


def test_initial_observation_shows_question_previews_and_budget(task):
    obs = ExplorerEnv(task).initial_observation()
    assert obs.question == task.question
    assert [c.preview for c in obs.chunks] == [c.preview for c in task.chunks]
    assert obs.budget == obs.budget_left == 2000 and obs.step == 0
    assert obs.opened == () and obs.notes == () and obs.last_error is None


def test_open_charges_the_chunk_tokens_and_shows_its_text(task):
    env = ExplorerEnv(task)
    r = env.step(Open(1))
    assert r.cost == task.chunks[1].n_tokens and not r.done and r.invalid is None
    assert r.observation.budget_left == 2000 - task.chunks[1].n_tokens
    assert r.observation.opened == ((1, task.chunks[1].text),)
    assert r.observation.chunks[1].opened and not r.observation.chunks[0].opened
    assert env.tokens_read == task.chunks[1].n_tokens


@pytest.mark.parametrize(
    "action, why",
    [(Open(99), "unknown chunk id 99"), (Open(-1), "unknown chunk id"), (Summarize("  "), "empty note"),
     (Answer(" "), "empty answer"), (Unparsable("hmm", "no keyword"), "unparsable action: no keyword")],
)  # fmt: skip
def test_refused_actions_change_nothing_but_use_a_step(task, action, why):
    env = ExplorerEnv(task)
    r = env.step(action)
    assert why in r.invalid and not r.done and r.cost == 0
    assert r.observation.budget_left == 2000 and r.observation.step == 1
    assert r.observation.last_error == r.invalid


def test_reopening_is_refused(task):
    env = ExplorerEnv(task)
    env.step(Open(2))
    r = env.step(Open(2))
    assert r.invalid == "chunk 2 is already open" and r.cost == 0


def test_over_budget_open_ends_the_episode_unanswered(task):
    cost = task.chunks[1].n_tokens
    env = ExplorerEnv(task, EnvConfig(budget=cost + 5), RewardConfig(variant="f1"))
    env.step(Open(1))
    r = env.step(Open(2))  # costs more than the 5 tokens left
    assert r.done and r.stop_reason == StopReason.BUDGET_EXHAUSTED
    assert r.metrics["answered"] == 0.0 and r.metrics["f1"] == 0.0 and r.reward == 0.0
    assert r.observation.budget_left == 5 and env.tokens_read == cost


def test_step_cap_truncates(task):
    env = ExplorerEnv(task, EnvConfig(max_steps=3))
    for cid in range(2):
        assert not env.step(Open(cid)).done
    r = env.step(Open(2))
    assert r.done and r.stop_reason == StopReason.STEP_CAP and r.metrics["steps"] == 3


def test_answer_ends_and_scores(task):
    env = ExplorerEnv(task)  # the default reward: F1 - 0.5 x tokens read / the pool's tokens
    env.step(Open(1))
    env.step(Open(2))
    r = env.step(Answer("graz"))
    assert r.done and r.stop_reason == StopReason.ANSWERED
    read = task.chunks[1].n_tokens + task.chunks[2].n_tokens
    assert r.metrics["f1"] == 1.0 and r.metrics["em"] == 1.0 and r.reward == pytest.approx(1.0 - 0.5 * read / task.all_reading_cost)
    assert r.metrics["gold_recall"] == 1.0 and r.metrics["opens"] == 2
    with pytest.raises(RuntimeError, match="single-use"):
        env.step(Answer("again"))
    ep = env.to_episode("test")
    assert ep.answer == "graz" and len(ep.transitions) == 3 and ep.stop_reason == StopReason.ANSWERED


def test_summarize_charges_note_tokens_and_folds_the_context(task):
    env = ExplorerEnv(task)
    env.step(Open(1))
    note = "Blue Lake was directed by Max Huber."
    r = env.step(Summarize(note))
    assert r.cost == tokens.count(note)
    assert r.observation.notes == (note,) and r.observation.opened == ()
    assert r.observation.chunks[1].opened  # still opened: cannot be re-read for free
    assert env.step(Open(1)).invalid == "chunk 1 is already open"
    assert env.tokens_read == task.chunks[1].n_tokens  # notes are not reading


def test_overlong_note_is_refused(task):
    env = ExplorerEnv(task, EnvConfig(max_note_tokens=4))
    r = env.step(Summarize("this note is certainly longer than four tokens"))
    assert "limit is 4" in r.invalid and r.observation.notes == ()


def test_cost_penalised_reward(task):
    env = ExplorerEnv(task, EnvConfig(budget=1000), RewardConfig(variant="f1_cost", cost_coef=0.5))
    env.step(Open(1))
    r = env.step(Answer("Graz"))
    assert r.reward == pytest.approx(1.0 - 0.5 * task.chunks[1].n_tokens / 1000)


def test_an_alias_of_the_answer_scores_as_the_answer(task):
    # The official 2Wiki evaluation takes the max over the answer and its aliases.
    aliased = replace(task, answer="Galac", answer_aliases=("Galați", "Galati"))
    env = ExplorerEnv(aliased)
    r = env.step(Answer("Galați"))
    assert r.metrics["f1"] == 1.0 and r.metrics["em"] == 1.0
    r = ExplorerEnv(aliased).step(Answer("Galați city"))
    assert r.metrics["f1"] == pytest.approx(2 / 3) and r.metrics["em"] == 0.0  # best alias, not the first
