"""Cue marks (env.previews paragraph+cues): a fixed vocabulary of what a chunk mentions, shown
per chunk for free, counted in tokens_shown, read by the heuristic and the local policy."""

from __future__ import annotations

import pytest
from helpers import raw_record, run_task

from explorer.config import ConfigError, DataConfig, EnvConfig
from explorer.cues import chunk_cues
from explorer.data.records import parse_record
from explorer.data.tasks import make_task
from explorer.env import ExplorerEnv, shown_tokens
from explorer.policies import baseline_factory
from explorer.policies.features import FEATURE_INDEX, action_set
from explorer.render import render_observation
from explorer.types import Open

CUES = EnvConfig(previews="paragraph+cues")


def _task():
    """'Where was the father of Ann Roe born?': the father is named in the third chunk of a long
    biography, after two chunks that say nothing about him."""
    rec = parse_record(raw_record(
        question="Where was the father of Ann Roe born?", answer="Leeds",
        context=[["Ann Roe", ["Ann Roe (1 May 1900 – 2 June 1980) was a British painter.", "She painted lakes.",
                              "She lived in Oslo.", "She was the daughter of Max Roe.", "She died in Rome."]],
                 ["Max Roe", ["Max Roe (born 1870 in Leeds) was a British sailor."]],
                 ["Red Hill", ["Red Hill is a 1950 film."]]],
        supporting_facts=[["Ann Roe", 3], ["Max Roe", 0]]), "t.jsonl", 1)  # fmt: skip
    return make_task(rec, DataConfig(max_chunk_tokens=0))[0]


def test_chunk_cues_are_a_fixed_vocabulary_in_a_fixed_order():
    assert chunk_cues("He died in Paris and was buried at Lyon; his wife survived him.") == ("died", "buried", "married")
    assert chunk_cues("She was the daughter of Max Roe.") == ("parent",)
    assert chunk_cues("It was directed by Max Huber and produced by Ann Lee.") == ("directed", "produced")
    assert chunk_cues("Red Hill is a 1950 film.") == ()


def test_marks_are_shown_per_chunk_of_a_long_paragraph_and_counted_in_tokens_shown():
    t = _task()
    plain, cued = ExplorerEnv(t).initial_observation(), ExplorerEnv(t, CUES).initial_observation()
    assert all(c.cues == () for c in plain.chunks)
    assert [c.cues for c in cued.chunks] == [(), (), (), ("parent",), ("died",), (), ()]  # one-chunk paragraphs: none
    text = render_observation(cued)
    assert "/8:parent/" in text and "/5:died\n" in text and t.chunks[3].text not in text
    ep = run_task(t, baseline_factory("read_all")(t), env_cfg=CUES)
    assert ep.metrics["tokens_shown"] == shown_tokens(t, CUES) > shown_tokens(t, EnvConfig())


def test_the_heuristic_and_the_features_find_the_cued_chunk():
    t = _task()
    blind = run_task(t, baseline_factory("heuristic")(t))
    cued = run_task(t, baseline_factory("heuristic")(t), env_cfg=CUES)
    opens = lambda ep: [s.action.chunk_id for s in ep.transitions if isinstance(s.action, Open)]  # noqa: E731
    assert opens(blind)[:4] == [0, 1, 2, 3]  # blind: the biography in order until the father
    assert opens(cued) == [3, 5]  # cued: the chunk marked "parent" first, then the father's own paragraph
    assert cued.metrics["tokens_read"] < blind.metrics["tokens_read"] and cued.answer == blind.answer == "Leeds"
    env = ExplorerEnv(t, CUES)
    obs = env.step(Open(0)).observation
    aset = action_set(obs)
    row = lambda cid: aset.features[aset.index_of(Open(cid))]  # noqa: E731
    needed = FEATURE_INDEX["open.cue_needed&read_before"]
    assert row(3)[needed] == 1.0 and row(1)[needed] == 0.0 and row(4)[FEATURE_INDEX["open.cue_other"]] == 1.0


def test_unknown_preview_mode_is_refused():
    with pytest.raises(ConfigError, match="paragraph\\+cues"):
        EnvConfig(previews="cues")


def test_the_rollout_viewer_shows_the_marks_the_agent_saw():
    from explorer.data.tasks import task_to_dict
    from explorer.viewer import grpo_page, task_view

    t = _task()
    seen = {c.id: c.cues for c in ExplorerEnv(t, CUES).initial_observation().chunks}
    shown = {cid: preview for cid, _, preview, _, _ in task_view(task_to_dict(t), "paragraph+cues")["chunks"]}
    assert shown[3].startswith("[cues: parent] ") and shown[4].startswith("[cues: died] ") and shown[1].startswith("[cues: none] ")
    for cid, cues in seen.items():  # one-chunk paragraphs carry no marks, as in the env
        assert ("[cues:" in shown[cid]) == (t.chunks[cid].paragraph == t.chunks[0].paragraph)
        assert all(cue in shown[cid] for cue in cues)
    assert "[cues:" not in str(task_view(task_to_dict(t), "paragraph")["chunks"])
    ep = run_task(t, baseline_factory("heuristic")(t), env_cfg=CUES)
    group = [{"task": task_to_dict(t), "episodes": [ep.to_dict()], "rewards": [1.0], "advantages": None}]
    assert "[cues: parent]" in grpo_page("p", 1, group, "paragraph+cues") and "[cues:" not in grpo_page("p", 1, group)
