"""Issue 10's reading set-up: chunk granularity, one free preview per paragraph, tokens shown,
the pool-priced reward and the gold_reading demonstrator."""

from __future__ import annotations

import pytest
from helpers import raw_record, run_task

from explorer import tokens
from explorer.config import DataConfig, EnvConfig
from explorer.data.records import parse_record, read_records
from explorer.data.tasks import make_task, make_tasks
from explorer.env import ExplorerEnv, shown_tokens
from explorer.harness import evaluate_policy
from explorer.policies import baseline_factory
from explorer.render import render_observation
from explorer.reward import RewardConfig, episode_reward
from explorer.types import Open, StopReason


def _task(max_chunk_tokens: int):
    rec = parse_record(raw_record(context=[["Blue Lake", ["Blue Lake is a 1961 Austrian film.", "It was directed by Max Huber.", "It won a prize."]],
                                           ["Max Huber", ["Max Huber (6 June 1906, Graz – 2 November 1994, Paris) was an Austrian director."]],
                                           ["Red Hill", ["Red Hill is a 1950 film."]]],
                                  supporting_facts=[["Blue Lake", 1], ["Max Huber", 0]]), "t.jsonl", 1)  # fmt: skip
    return make_task(rec, DataConfig(max_chunk_tokens=max_chunk_tokens))[0]


def test_sentence_level_chunks_and_gold_positions():
    t = _task(0)
    assert [c.n_sentences for c in t.chunks] == [1, 1, 1, 1, 1]
    assert t.gold_chunk_ids == (1, 3)  # "It was directed by ..." is the second chunk of its paragraph
    assert len(_task(128).chunks) == 3
    with pytest.raises(ValueError, match="max_chunk_tokens"):
        DataConfig(max_chunk_tokens=5)


def test_one_preview_per_paragraph_and_what_is_shown_is_counted():
    t = _task(0)
    obs = ExplorerEnv(t).initial_observation()
    assert [c.position for c in obs.chunks] == [0, 1, 2, 0, 0]
    assert {c.preview for c in obs.chunks if c.paragraph == 0} == {t.chunks[0].preview}  # the paragraph's, for all its chunks
    text = render_observation(obs)
    assert text.count(t.chunks[0].preview) == 1 and "[0-2]" in text and t.chunks[1].text not in text
    ep = run_task(t, baseline_factory("read_all")(t))
    assert ep.metrics["tokens_shown"] == tokens.count(text) == shown_tokens(t, EnvConfig())
    chunk_mode = EnvConfig(previews="chunk")
    assert shown_tokens(t, chunk_mode) > shown_tokens(t, EnvConfig())  # a preview per chunk shows more for free


def test_pool_priced_reward():
    cfg = RewardConfig(variant="f1_pool_cost", cost_coef=0.5)
    assert episode_reward(cfg, 0.8, True, 100, 2000, 0, pool_tokens=400) == pytest.approx(0.8 - 0.5 * 100 / 400)
    assert episode_reward(RewardConfig(variant="f1"), 0.8, True, 100, 2000, 0, pool_tokens=400) == 0.8


def test_gold_reading_opens_the_gold_chunks_in_discovery_order_then_answers_with_the_reader():
    t = _task(0)
    ep = run_task(t, baseline_factory("gold_reading")(t), name="gold_reading")
    assert [s.action.chunk_id for s in ep.transitions if isinstance(s.action, Open)] == [
        1,
        3,
    ]  # the film named in the question, then its director
    assert ep.stop_reason == StopReason.ANSWERED and ep.answer == "Graz" and ep.metrics["tokens_read"] == t.min_reading_cost


@pytest.mark.real_data
def test_real_dev_read_all_fits_the_step_cap_and_free_text_does_not_grow(shared_2wiki):
    records, _ = read_records(shared_2wiki / "dev.jsonl")
    old, _ = make_tasks(records, DataConfig(max_chunk_tokens=128))
    for mct in (48, 0):
        tasks, _ = make_tasks(records, DataConfig(max_chunk_tokens=mct))
        m, episodes = evaluate_policy(tasks, baseline_factory("read_all"), "read_all", EnvConfig(), RewardConfig(), progress=False)
        assert m["stop_reasons"] == {"answered": len(tasks)}  # never the step cap, at any chunking
        pools = {t.id: t.all_reading_cost for t in tasks}
        assert all(e.metrics["tokens_read"] == pools[e.task_id] for e in episodes if pools[e.task_id] <= 1900)  # all that fits
        # per-paragraph previews at finer chunks show no more free text than per-chunk previews at 128 (the old default)
        assert m["avg_tokens_shown"] <= sum(shown_tokens(t, EnvConfig(previews="chunk")) for t in old) / len(old)
