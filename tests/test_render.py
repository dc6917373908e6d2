from __future__ import annotations

import pytest

from explorer.config import EnvConfig
from explorer.env import ExplorerEnv
from explorer.render import parse_action, render_action, render_observation
from explorer.types import Answer, Open, Summarize, Unparsable

ACTIONS = [Open(0), Open(17), Summarize("Blue Lake was directed by Max Huber."), Answer("Graz"),
           Answer("9 April 1765"), Answer("yes"), Answer("Aurora, Ohio"), Summarize("(born 1906) — Graz, Austria")]  # fmt: skip


@pytest.mark.parametrize("action", ACTIONS)
def test_round_trip(action):
    assert parse_action(render_action(action)) == action


@pytest.mark.parametrize(
    "text, expected",
    [("open 3", Open(3)), ("OPEN [3]", Open(3)), ("Open(3)", Open(3)), ("OPEN: 3", Open(3)),
     ("answer: Graz", Answer("Graz")), ("<think>I should open 2.\nOPEN 1</think>\nANSWER  Graz ", Answer("Graz")),
     ("\n\n  SUMMARIZE   two   words\nANSWER x", Summarize("two words"))],
)  # fmt: skip
def test_tolerant_parsing(text, expected):
    assert parse_action(text) == expected


@pytest.mark.parametrize("text", ["", "I think the answer is Graz", "OPEN three", "ANSWER", "<think>unfinished", "OPEN 1 2"])
def test_garbage_is_unparsable_not_an_exception(text):
    a = parse_action(text)
    assert isinstance(a, Unparsable) and a.raw == text and a.error


def test_observation_text_shows_everything_the_agent_needs(task):
    env = ExplorerEnv(task)
    env.step(Open(1))
    env.step(Open(99))
    text = render_observation(env.observation())
    assert task.question in text
    assert f"{env.budget_left} of 2000 tokens left" in text
    # one preview per paragraph; the paragraph's chunk ids and costs, * = opened
    assert f"Blue Lake: {task.chunks[1].preview}" in text and f"[1] {task.chunks[1].n_tokens}*" in text
    chunk_mode = render_observation(ExplorerEnv(task, EnvConfig(previews="chunk")).initial_observation())
    assert f"[1] Blue Lake ({task.chunks[1].n_tokens} tok):" in chunk_mode
    assert task.chunks[1].text in text
    assert "refused: unknown chunk id 99" in text
    assert "OPEN <id>" in text and "ANSWER <answer>" in text
    assert task.chunks[2].text not in text or task.chunks[2].text == task.chunks[2].preview
    assert task.answer not in text.split("Question:")[0]
