from __future__ import annotations

import json
import random

import numpy as np
import pytest
from helpers import run_task

from explorer.backends.local import examples_from_demos, nll_and_grad, train_sft
from explorer.checkpoints import open_policy
from explorer.config import EnvConfig, LocalPolicyConfig, Params, SFTConfig
from explorer.env import ExplorerEnv
from explorer.harness import evaluate_policy, write_outputs
from explorer.policies import baseline_factory
from explorer.policies.features import FEATURE_INDEX, N_FEATURES, action_set, question_options
from explorer.policies.local import LocalPolicy, load_policy, sample_index, save_policy
from explorer.reward import RewardConfig
from explorer.rollout import episode_rng
from explorer.types import Answer, Open, Summarize


def test_action_set_lists_legal_opens_and_candidates(task):
    env = ExplorerEnv(task)
    env.step(Open(1))
    aset = action_set(env.observation())
    opens = [a.chunk_id for a in aset.actions if isinstance(a, Open)]
    answers = [a.text for a in aset.actions if isinstance(a, Answer)]
    assert opens == [0, 2, 3]  # chunk 1 is open
    assert {"yes", "no"} <= set(answers) and "Blue Lake" in answers  # a read title
    assert not any(isinstance(a, Summarize) for a in aset.actions)
    assert aset.features.shape == (len(aset.actions), N_FEATURES)
    assert aset.index_of(Answer("YES")) == answers.index("yes") + len(opens)
    assert aset.index_of(Open(1)) is None


def test_budget_limits_the_open_actions(task):
    obs = ExplorerEnv(task, EnvConfig(budget=task.chunks[3].n_tokens)).initial_observation()
    opens = [a.chunk_id for a in action_set(obs).actions if isinstance(a, Open)]
    assert all(task.chunks[i].n_tokens <= task.chunks[3].n_tokens for i in opens) and 3 in opens


def test_question_options():
    assert question_options("Which film came out first, Blue Lake or Red Hill?") == ["Blue Lake", "Red Hill"]
    assert question_options("Where was the director of film Blue Lake born?") == []


def test_weights_drive_the_choice(task):
    w = np.zeros(N_FEATURES)
    w[FEATURE_INDEX["answer.is_rules_answer"]] = 10.0
    w[FEATURE_INDEX["answer&k=0"]] = 10.0
    ep = run_task(task, LocalPolicy(w, greedy=True))
    assert len(ep.transitions) == 1 and isinstance(ep.transitions[0].action, Answer)  # answers unread


def test_sampling_follows_the_probabilities():
    lp = np.log(np.array([0.2, 0.5, 0.3]))
    rng = np.random.default_rng(0)
    counts = np.bincount([sample_index(lp, rng) for _ in range(20000)], minlength=3) / 20000
    assert np.allclose(counts, [0.2, 0.5, 0.3], atol=0.02)
    assert sample_index(lp, random.Random(1)) in (0, 1, 2)  # stdlib rng works too


def test_checkpoint_round_trip_and_errors(tmp_path):
    w = np.arange(N_FEATURES, dtype=float) / 7
    save_policy(tmp_path / "p.json", w, {"stage": "test"})
    assert np.array_equal(load_policy(tmp_path / "p.json").weights, w)
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match="not a local policy checkpoint"):
        load_policy(tmp_path / "bad.json")
    with open_policy(str(tmp_path / "p.json"), Params()) as (factory, workers):  # a checkpoint path is a policy name
        policy = factory(None)
    assert isinstance(policy, LocalPolicy) and policy.greedy and workers == 1


def test_nll_gradient_matches_finite_differences(task):
    env = ExplorerEnv(task)
    env.step(Open(1))
    aset = action_set(env.observation())
    batch = [(aset.features, (2,)), (aset.features, (len(aset.actions) - 1,)), (aset.features, (0, 1, 3))]  # a target set too
    w = np.random.default_rng(0).normal(size=N_FEATURES) * 0.3
    _, grad, _ = nll_and_grad(w, batch)
    eps = 1e-6
    num = np.array([(nll_and_grad(w + eps * e, batch)[0] - nll_and_grad(w - eps * e, batch)[0]) / (2 * eps) for e in np.eye(N_FEATURES)])
    assert np.allclose(grad, num, atol=1e-6)


def test_sft_clones_the_heuristic(tmp_path, task):
    tasks = [task]
    _, episodes = evaluate_policy(tasks, baseline_factory("heuristic"), "heuristic", EnvConfig(), RewardConfig(), progress=False)
    write_outputs(tmp_path, tasks, episodes, {}, EnvConfig(), RewardConfig())
    lines = [json.loads(ln) for ln in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    examples, unmatched = examples_from_demos(lines)
    assert unmatched == 0 and len(examples) == len(episodes[0].transitions)
    w, history = train_sft(examples, SFTConfig(epochs=40, lr=0.1, weight_decay=0.0), seed=0, log=lambda *_: None)
    assert history[-1]["sft/accuracy"] == 1.0 and history[-1]["sft/loss"] < history[0]["sft/loss"]
    cloned = run_task(task, LocalPolicy(w, greedy=True), rng=episode_rng(0, task.id))
    assert [t.action for t in cloned.transitions] == [t.action for t in episodes[0].transitions]


# ----------------------------------------------------------------------------- stop rules (params.yaml local_policy)


def _heuristic_episode(task):
    return run_task(task, baseline_factory("heuristic")(task), rng=episode_rng(0, task.id))


def test_stop_rules_leave_only_the_rules_answer(task):
    from explorer.reader import answer_question

    env = ExplorerEnv(task)
    cap = LocalPolicyConfig(max_opens=1)
    assert any(isinstance(a, Open) for a in action_set(env.observation(), cap).actions)  # under the cap: opens and answers
    env.step(Open(1))
    obs = env.observation()
    forced = action_set(obs, cap)
    rules_answer = answer_question(task.question, [(task.chunks[1].title, task.chunks[1].text)])
    assert forced.actions == (Answer(rules_answer),) and forced.features.shape == (1, N_FEATURES)
    free = action_set(obs)  # the same state without rules: opens and every candidate
    assert any(isinstance(a, Open) for a in free.actions) and len(free.actions) > 1
    # the forced answer's features are its features in the free set (the weights mean the same)
    assert np.array_equal(forced.features[0], free.features[free.index_of(Answer(rules_answer))])


def test_answer_when_sufficient_is_the_heuristics_stop(task):
    from explorer.reader import is_sufficient

    heuristic = _heuristic_episode(task)
    opened = [t.action.chunk_id for t in heuristic.transitions if isinstance(t.action, Open)]
    env = ExplorerEnv(task)
    for cid in opened:
        env.step(Open(cid))
    obs = env.observation()
    read = [(task.chunks[c].title, task.chunks[c].text) for c in opened]
    assert is_sufficient(task.question, read)  # the heuristic stopped because the reader was sufficient
    rules = LocalPolicyConfig(answer_when_sufficient=True)
    assert action_set(obs, rules).actions == (heuristic.transitions[-1].action,)
    assert len(action_set(obs).actions) > 1
    # a policy whose weights would read on answers anyway under the rules
    w = np.zeros(N_FEATURES)
    w[FEATURE_INDEX["open.relevance_norm"]] = 50.0
    w[[FEATURE_INDEX[f"answer&k={k}"] for k in range(7)]] = -50.0
    ep = run_task(task, LocalPolicy(w, greedy=True, stop=rules), rng=episode_rng(0, task.id))
    assert isinstance(ep.transitions[-1].action, Answer) and ep.metrics["opens"] <= len(opened)
    assert run_task(task, LocalPolicy(w, greedy=True), rng=episode_rng(0, task.id)).metrics["opens"] > len(opened)


def test_checkpoints_carry_their_stop_rules(tmp_path):
    w = np.zeros(N_FEATURES)
    rules = LocalPolicyConfig(max_opens=5, answer_when_sufficient=True)
    save_policy(tmp_path / "r.json", w, {"stage": "test"}, rules)
    assert json.loads((tmp_path / "r.json").read_text())["stop_rules"] == {"max_opens": 5, "answer_when_sufficient": True}
    assert load_policy(tmp_path / "r.json").stop == rules
    save_policy(tmp_path / "none.json", w, {"stage": "test"})
    assert "stop_rules" not in json.loads((tmp_path / "none.json").read_text())  # old checkpoints read the same
    assert load_policy(tmp_path / "none.json").stop == LocalPolicyConfig()
    doc = json.loads((tmp_path / "r.json").read_text())
    doc["stop_rules"] = {"max_opens": 5, "cap": 3}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=r"bad\.json: field stop_rules: unknown key\(s\) \['cap'\]"):
        load_policy(tmp_path / "bad.json")


def test_stop_rules_config_and_backend_checks(tmp_path, task):
    from explorer.backends.local import grpo_learner
    from explorer.config import ConfigError, TrainConfig, from_dict

    with pytest.raises(ConfigError, match="local_policy.max_opens must be >= 0"):
        from_dict(LocalPolicyConfig, {"max_opens": -1}, "local_policy")
    with pytest.raises(ConfigError, match="local backend only: turn them off"):
        Params(train=TrainConfig(backend="tinker"), local_policy=LocalPolicyConfig(max_opens=6))
    # GRPO refuses an SFT start trained under other rules than params.yaml says
    save_policy(tmp_path / "sft.json", np.zeros(N_FEATURES), {"stage": "sft"})
    params = Params(local_policy=LocalPolicyConfig(max_opens=6))
    with pytest.raises(ValueError, match="SFT checkpoint has stop rules .* rerun sft"):
        grpo_learner(params, 0, tmp_path / "sft.json", [task], [task])
    save_policy(tmp_path / "sft6.json", np.zeros(N_FEATURES), {"stage": "sft"}, params.local_policy)
    learner, _ = grpo_learner(params, 0, tmp_path / "sft6.json", [task], [task])
    assert learner.greedy_factory()(task).stop == params.local_policy


def test_sft_under_stop_rules_learns_only_where_the_policy_chooses(tmp_path, task):
    tasks = [task]
    _, episodes = evaluate_policy(tasks, baseline_factory("heuristic"), "heuristic", EnvConfig(), RewardConfig(), progress=False)
    write_outputs(tmp_path, tasks, episodes, {}, EnvConfig(), RewardConfig())
    lines = [json.loads(ln) for ln in (tmp_path / "episodes.jsonl").read_text().splitlines()]
    n_steps = len(episodes[0].transitions)
    assert n_steps >= 3  # opens, then the answer
    examples, unmatched = examples_from_demos(lines, LocalPolicyConfig(max_opens=1))
    # step 0 (an open, free choice) is an example; at step 1 the rules answer while the demo opens
    # (unmatched), and from then on every state is forced (no example)
    assert len(examples) == 1 and unmatched == n_steps - 2
    assert examples_from_demos(lines)[0].__len__() == n_steps


def test_stop_rules_answer_is_the_heuristics_two_rules():
    from explorer.policies.baselines import MAX_OPENS, stop_rules_answer

    assert stop_rules_answer(1, True, MAX_OPENS)  # the reader is sufficient
    assert not stop_rules_answer(1, True, 0, when_sufficient=False)  # ... unless that rule is off
    assert stop_rules_answer(MAX_OPENS, False, MAX_OPENS) and not stop_rules_answer(MAX_OPENS - 1, False, MAX_OPENS)
    assert not stop_rules_answer(80, False, 0)  # max_opens 0: no cap
