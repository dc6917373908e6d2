"""The Tinker backend (train.backend: tinker) with the REAL tinker SDK against the stand-in
(tests/tinker_standin): prompts as exact Qwen3 ids, token-in/token-out, loss weights, the whole
prepare -> demos -> sft -> grpo -> evaluate pipeline, faults, a SIGKILL mid-step, bad keys, and a
grep of every output for the key. Nothing here can reach the real service: every client gets the
stand-in's URL, and the key is a fake one only the stand-in accepts.

The stand-in's model is a bigram LM, so it learns the reply format from SFT (with
learning_rate_scale, since rates meant for an 8B LoRA barely move it) but cannot read: rewards
come from lucky answers, which is enough to give GRPO groups with different rewards.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import run_task, tiny_project

tinker = pytest.importorskip("tinker")
from tinker_standin import StandIn  # noqa: E402

from explorer import tokens  # noqa: E402
from explorer.backends.tinker_sdk import rl_datum, sft_datum  # noqa: E402
from explorer.cli import main as cli_main  # noqa: E402
from explorer.env import ExplorerEnv  # noqa: E402
from explorer.policies.llm import (  # noqa: E402
    SYSTEM_PROMPT,
    Conversation,
    LLMPolicy,
    Sample,
    chat_template_text,
    initial_prompt_ids,
    render_feedback,
    reply_text,
)
from explorer.render import render_observation  # noqa: E402
from explorer.rollout import episode_rng  # noqa: E402
from explorer.types import Open, StopReason, Unparsable  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KEY = "tml-explorer-test-9d41c7"  # distinctive, so the grep for it cannot match anything else
IM_START, IM_END = tokens.IM_START, tokens.IM_END


# ----------------------------------------------------------------------------- offline: prompts


class ScriptedSampler:
    """A Sampler that replies with fixed id lists, recording every prompt it was sent."""

    def __init__(self, replies: list[list[int]]):
        self.replies, self.prompts = list(replies), []

    def submit(self, prompt, num_samples, temperature, seed):
        self.prompts.append(list(prompt))
        replies = [self.replies.pop(0) for _ in range(num_samples)]
        samples = [Sample(r, [-0.25 - 0.01 * i for i in range(len(r))]) for r in replies]
        return type("Done", (), {"result": lambda _: samples})()


def test_prompt_is_the_qwen3_chat_template_as_exact_ids(task):
    obs = ExplorerEnv(task).initial_observation()
    # The generation prompt, hand-written: <|im_start|> "assistant" "\n" <think> "\n\n" </think> "\n\n"
    assert initial_prompt_ids(obs, thinking=False)[-7:] == [151644, 77091, 198, 151667, 271, 151668, 271]
    assert initial_prompt_ids(obs, thinking=True)[-3:] == [151644, 77091, 198]
    for thinking in (False, True):
        text = chat_template_text([("system", SYSTEM_PROMPT), ("user", render_observation(obs))], thinking)
        assert text.startswith("<|im_start|>system\nAnswer multi-hop questions")
        assert text.endswith("<|im_start|>assistant\n" + ("<think>\n\n</think>\n\n" if not thinking else ""))
        assert initial_prompt_ids(obs, thinking) == tokens.encode_with_specials(text)

    # A whole turn: the model's canonical reply, then the feedback turn, equals the template text.
    conv = Conversation.start(obs, thinking=False)
    action = conv.add_reply(Sample(tokens.encode("OPEN 1") + [IM_END], [-0.1] * 4))
    obs2 = _step(task, [action])
    conv.add_feedback(action, obs2)
    text = chat_template_text([("system", SYSTEM_PROMPT), ("user", render_observation(obs))], False)
    text += (
        "OPEN 1<|im_end|>\n"
        + f"<|im_start|>user\n{render_feedback(action, obs2)}<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    )
    assert conv.tokens == tokens.encode_with_specials(text)
    # The feedback carries only what changed: the opened text and the budget, not the chunk list.
    feedback = render_feedback(action, obs2)
    assert task.chunks[1].text in feedback and feedback.endswith(f"{obs2.budget_left} tokens left, step 2 of {obs2.max_steps}.")
    assert task.chunks[0].preview not in feedback


def _step(task, actions):
    env = ExplorerEnv(task)
    obs = env.initial_observation()
    for a in actions:
        obs = env.step(a).observation
    return obs


def test_token_in_token_out_keeps_sampled_ids_verbatim(task):
    # "OPEN 1" spelled with ids the tokenizer would never produce: decode -> encode differs.
    odd = tokens.encode("OP") + tokens.encode("EN") + tokens.encode(" ") + tokens.encode("1")
    assert tokens.decode(odd) == "OPEN 1" and tokens.encode("OPEN 1") != odd
    answer = tokens.encode("ANSWER Graz")  # no <|im_end|>: cut at max_tokens
    sampler = ScriptedSampler([odd + [IM_END], answer])
    policy = LLMPolicy(sampler, thinking=False)
    ep = run_task(task, policy, rng=episode_rng(0, task.id), name="llm")

    assert [t.action for t in ep.transitions][0] == Open(1) and ep.answer == "Graz" and ep.stop_reason == StopReason.ANSWERED
    conv = policy.conv
    first, second = sampler.prompts
    assert conv.tokens[: len(first)] == first  # the second prompt extends the first, never re-rendered
    assert second[: len(first)] == first and second[len(first) : len(first) + len(odd) + 1] == odd + [IM_END]
    assert conv.tokens[len(second) :] == answer
    # The training datum holds the sampled ids as they were sampled.
    model_input, targets, weights, logprobs = conv.training_arrays()
    assert targets[len(first) - 1 : len(first) - 1 + len(odd)] == odd
    assert targets[-len(answer) :] == answer
    assert logprobs[len(first) - 1] == -0.25  # the sampler's logprob of the first sampled token

    # Ids the tokenizer has no text for (embedding rows past the specials) cannot crash parsing.
    assert isinstance(Conversation(False).add_reply(Sample([151900, 151901, 30933], [-1.0] * 3)), Unparsable)
    assert reply_text([151667, *tokens.encode("hm"), 151668, *tokens.encode("\n\nANSWER yes"), IM_END]) == "<think>hm</think>\n\nANSWER yes"


def test_loss_weights_are_zero_on_observation_and_template_tokens(task):
    obs = ExplorerEnv(task).initial_observation()
    conv = Conversation.start(obs, thinking=False)
    n_prompt = len(conv.tokens)
    r1 = tokens.encode("OPEN 1") + [IM_END]  # closed by the model: its <|im_end|> is trained
    conv.add_reply(Sample(r1, [-0.1] * len(r1)))
    conv.add_feedback(Open(1), _step(task, [Open(1)]))
    n_before_r2 = len(conv.tokens)
    r2 = tokens.encode("OPEN 2 and more")  # cut at max_tokens: we close it, untrained
    conv.add_reply(Sample(r2, [-0.2] * len(r2)))
    conv.add_feedback(Open(2), _step(task, [Open(1), Open(2)]))
    assert conv.tokens[n_before_r2 + len(r2)] == IM_END and not conv.sampled[n_before_r2 + len(r2)]
    r3 = tokens.encode("ANSWER Graz") + [IM_END]
    conv.add_reply(Sample(r3, [-0.3] * len(r3)))

    model_input, targets, weights, logprobs = conv.training_arrays()
    assert model_input == conv.tokens[:-1] and targets == conv.tokens[1:]
    trained = [targets[i] for i, w in enumerate(weights) if w == 1.0]
    assert trained == r1 + r2 + r3
    assert set(weights) == {0.0, 1.0} and sum(weights) == len(r1 + r2 + r3)
    assert all(w == 0.0 for w in weights[: n_prompt - 1])  # system, observation, template, think block
    datum = rl_datum(conv, advantage=-1.5)
    adv = datum.loss_fn_inputs["advantages"].to_numpy()
    np.testing.assert_allclose(adv, -1.5 * np.array(weights))
    np.testing.assert_allclose(datum.loss_fn_inputs["logprobs"].to_numpy(), logprobs, rtol=1e-6)
    assert all(lp == 0.0 for lp, w in zip(logprobs, weights, strict=True) if w == 0.0)
    ce = sft_datum(conv)
    np.testing.assert_array_equal(ce.loss_fn_inputs["weights"].to_numpy(), weights)
    assert ce.model_input.to_ints() == model_input


def test_unparsable_replies_are_refused_steps_not_errors(task):
    garbage = tokens.encode("I think I should look around first.")
    cfg = ExplorerEnv(task).cfg
    policy = LLMPolicy(ScriptedSampler([garbage] * cfg.max_steps), thinking=False)
    ep = run_task(task, policy, cfg, rng=episode_rng(0, task.id), name="llm")
    assert ep.stop_reason == StopReason.STEP_CAP and ep.metrics["invalid"] == cfg.max_steps
    assert all(isinstance(t.action, Unparsable) for t in ep.transitions)
    assert "Refused: unparsable action" in tokens.decode(policy.conv.tokens)


# ----------------------------------------------------------------------------- the stand-in project


@pytest.fixture(autouse=True)
def fast_sdk_retries(monkeypatch):
    # Dropped connections have no Retry-After: the SDK waits 0.5 s * 2**n; shorten that here.
    monkeypatch.setattr("tinker._base_client.INITIAL_RETRY_DELAY", 0.001)


@pytest.fixture(scope="module")
def standin() -> Iterator[StandIn]:
    # The realistic profile (tests/tinker_standin/README.md): seeded n > 1 duplicates, noisy sampler
    # logprobs, HTTP 409 on re-sent saves, model limits (ranks, context, TTL range), a prompt cache.
    with StandIn(api_keys=[KEY], learning_rate_scale=1000.0, realistic=True) as s, pytest.MonkeyPatch.context() as mp:
        mp.setenv("TINKER_BASE_URL", s.base_url)  # nothing in this module can reach production
        mp.setenv("TINKER_API_KEY", KEY)
        mp.setenv("TINKER_TELEMETRY", "0")
        mp.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
        for var in ("TINKER_CREDENTIAL_CMD", "MLFLOW_TRACKING_URI", "EXPLORER_PROJECT_ROOT", "EXPLORER_PARENT_RUN_ID"):
            mp.delenv(var, raising=False)  # everything stays in the test's own folders
        yield s
        assert s.service.internal_errors == []


PARAMS = {
    "env": {"max_steps": 5},
    "demos": {"n_demos": 6},
    "train": {"seeds": [0], "backend": "tinker"},
    # lr x learning_rate_scale: 1.0 for SFT, 0.1 for GRPO on the stand-in's bigram model
    "tinker": {
        "sft_epochs": 4,
        "sft_batch_size": 3,
        "sft_lr": 0.001,
        "grpo_lr": 0.0001,
        "max_tokens": 8,
        "sft_save_every": 3,
        "grpo_save_every": 1,
    },
    "grpo": {"steps": 4, "batch_size": 2, "group_size": 4, "eval_every": 2},
}


def run_stage(project: Path, *args: str) -> tuple[int, str]:
    """One `explorer` command in-process in `project`, with its output captured."""
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(project)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            rc = cli_main(list(args))
    finally:
        os.chdir(cwd)
    return rc, out.getvalue()


@pytest.fixture(scope="module")
def sft_project(standin, tmp_path_factory) -> tuple[Path, str]:
    """A tiny project after prepare -> demos -> sft on the stand-in (and the stages' output)."""
    root = tmp_path_factory.mktemp("tinker_project")
    project = tiny_project(root, 12, 4, {"data": {"val_size": 3}, "tracking": {"uri": "sqlite:///mlflow.db"}, **PARAMS})
    logs = ""
    for stage in (["data", "build"], ["demos"], ["sft"]):
        rc, out = run_stage(project, *stage)
        assert rc == 0, out
        logs += out
    return project, logs


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def optim_ops(standin: StandIn, models: set[str]) -> list:
    return [o for o in standin.log.ops if o.op == "optim_step" and not o.failed and o.target in models]


def new_models(standin: StandIn, before: set[str]) -> set[str]:
    return set(standin.models) - before


def grep_for_key(folder: Path, *texts: str) -> list[str]:
    hits = [str(p) for p in folder.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    return hits + [f"output #{i}" for i, t in enumerate(texts) if KEY in t]


@pytest.fixture(scope="module")
def reference(standin, sft_project, tmp_path_factory) -> dict:
    """An uninterrupted, fault-free GRPO run: what the faulted and killed runs must reproduce."""
    project = copy_project(sft_project[0], tmp_path_factory.mktemp("reference") / "p")
    before = set(standin.models)
    rc, out = run_stage(project, "grpo")
    assert rc == 0, out
    state = json.loads((project / "models/grpo/seed0/last.json").read_text())
    history = {m["step"]: m for m in json.loads((project / "models/grpo/seed0/history.json").read_text())}
    optim_steps = [s for s, m in history.items() if m.get("tinker/optim_steps") == 1.0]
    assert len(optim_steps) >= 2 and optim_steps[0] <= 2, f"the config should give GRPO updates early: {optim_steps}"
    models = new_models(standin, before)
    assert len(optim_ops(standin, models)) == len(optim_steps)
    return {"project": project, "state": state, "optim_steps": optim_steps, "output": out, "models": models}


def assert_same_final_weights(standin: StandIn, path_a: str, path_b: str) -> None:
    a, b = standin.checkpoints[path_a], standin.checkpoints[path_b]
    np.testing.assert_array_equal(a.params.bias, b.params.bias)
    assert a.params.rows == b.params.rows
    np.testing.assert_array_equal(a.params.w, b.params.w)
    assert a.adam.step == b.adam.step  # the same number of optimizer steps in the saved lineage


# ----------------------------------------------------------------------------- end to end


def test_pipeline_end_to_end_records_the_servers_checkpoints(standin, sft_project, reference, tmp_path):
    project, sft_logs = sft_project
    sft = json.loads((project / "models/sft/seed0/policy.json").read_text())
    assert sft["format"] == "tinker-explorer/tinker-pointer/v1" and sft["base_model"] == "Qwen/Qwen3-8B"
    # The pointer holds exactly what the service returned: the SFT run's last state and its sampler weights.
    sft_model = sft["state_path"].split("/")[2]
    saved = [p for p, c in standin.checkpoints.items() if c.model_id == sft_model]
    assert sft["state_path"] == max(p for p in saved if "/weights/" in p) == f"tinker://{sft_model}/weights/sft-s0-step00008"
    assert sft["sampler_path"] == f"tinker://{sft_model}/sampler_weights/sft-s0-final" and sft["sampler_path"] in saved
    assert standin.checkpoints[sft["state_path"]].adam.step == sft["step"] == 8  # 4 epochs x 2 batches of 3 demos

    project = copy_project(project, tmp_path / "e2e")
    before, n_samples = set(standin.models), len(standin.log.samples)
    for stage in (
        ["grpo"],
        ["evaluate"],
        ["eval", "--policy", "models/grpo/seed0/best.json", "--tasks", "dev", "--out", "reports/eval/cli"],
    ):
        rc, out = run_stage(project, *stage)
        assert rc == 0, out
        sft_logs += out
    grpo_dir = project / "models/grpo/seed0"
    assert not (grpo_dir / "state.json").exists() and (grpo_dir / "done.json").exists()  # finished: no resume point left
    best, last = (json.loads((grpo_dir / n).read_text()) for n in ("best.json", "last.json"))
    state = last
    grpo_model = state["state_path"].split("/")[2]  # tinker://<model id>/weights/<name>
    assert grpo_model in new_models(standin, before)
    # the last saved state is the one after the last optimizer step
    assert last["state_path"] == f"tinker://{grpo_model}/weights/grpo-s0-step{reference['optim_steps'][-1]:05d}"
    assert last["state_path"] in standin.checkpoints and last["sampler_path"] in standin.checkpoints
    assert best["sampler_path"] in standin.checkpoints and best["state_path"] in standin.checkpoints
    assert standin.checkpoints[state["state_path"]].kind == "training" and standin.checkpoints[best["sampler_path"]].kind == "sampler"
    # Deterministic: the same run as the reference, on another training client.
    assert_same_final_weights(standin, state["state_path"], reference["state"]["state_path"])
    assert len(optim_ops(standin, new_models(standin, before))) == len(reference["optim_steps"])

    # MLflow: every step once, with the token counts; the checkpoint references as tags.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    exp = client.get_experiment_by_name("tinker-explorer").experiment_id
    (grpo_run,) = client.search_runs([exp], "tags.stage = 'grpo'")

    def steps(key):
        return sorted(m.step for m in client.get_metric_history(grpo_run.info.run_id, key))

    assert steps("reward/mean") == [1, 2, 3, 4]
    assert steps("tinker/prompt_tokens") == steps("tinker/sampled_tokens") == [0, 1, 2, 3, 4]  # step 0: the SFT start's val eval
    assert steps("tinker/train_tokens") == reference["optim_steps"]  # only steps that updated
    # Every episode is its own request chain: no seeded num_samples > 1 request (the real service
    # answers those with duplicates); on the realistic stand-in the groups still differ.
    assert {s.num_samples for s in standin.log.samples[n_samples:]} == {1}
    history = json.loads((grpo_dir / "history.json").read_text())
    updates = [h for h in history if "loss" in h]
    assert updates and all(h["reward/std"] > 0 for h in updates)
    # The sampler's logprobs differ from the learner's (noise on the stand-in, a real mismatch on
    # the service), so the importance ratio is not trivially 1.
    assert all(h["policy/kl_sampler_learner"] != 0 and h["policy/is_ratio_max"] > 1 > h["policy/is_ratio_min"] for h in updates)
    # Cost as it goes: cumulative, with the prompt cache's hits and the storage written.
    costs = [h["cost/dollars"] for h in history]
    assert costs == sorted(costs) and costs[-1] > 0 and history[-1]["cost/prefill_cached_tokens"] > 0
    assert history[-1]["cost/prefill_tokens"] == sum(h["tinker/prompt_tokens"] for h in history)
    assert steps("cost/dollars") == [0, 1, 2, 3, 4]
    print("kept groups per step:", [(h["step"], h.get("groups/kept")) for h in history])
    print("importance ratio per update:", [(h["step"], round(h["policy/is_ratio_min"], 3), round(h["policy/is_ratio_mean"], 4),
                                            round(h["policy/is_ratio_max"], 3), round(h["policy/kl_sampler_learner"], 5)) for h in updates])  # fmt: skip
    print("cost:", {k: round(v, 4) for k, v in history[-1].items() if k.startswith("cost/")})
    assert grpo_run.data.tags["backend"] == "tinker" and grpo_run.data.tags["tinker.best_sampler_path"] == best["sampler_path"]
    (sft_run,) = client.search_runs([exp], "tags.stage = 'sft'")
    assert sft_run.data.tags["tinker.sampler_path"] == sft["sampler_path"]
    assert all(KEY not in str(v) for r in (grpo_run, sft_run) for v in (*r.data.params.values(), *r.data.tags.values()))

    # The evaluate stage and `explorer eval` ran the pointers through the harness.
    summary = json.loads((project / "reports/eval/metrics.json").read_text())
    assert set(summary) == {"sft", "grpo"} and summary["grpo"]["dev"]["per_seed"]["0"]
    cli = json.loads((project / "reports/eval/cli/metrics.json").read_text())
    assert cli["n"] == 4 and cli["f1"] == summary["grpo"]["dev"]["f1"]["mean"]
    # Episodes in flight together (the harness's threads) give what one at a time gives.
    from explorer.checkpoints import open_policy
    from explorer.config import load_params
    from explorer.data.tasks import resolve_tasks
    from explorer.harness import evaluate_policy

    cwd = os.getcwd()
    os.chdir(project)
    try:
        params = load_params()
        with open_policy("models/grpo/seed0/best.json", params) as (factory, workers):
            assert workers > 1
            one_by_one, episodes = evaluate_policy(resolve_tasks("dev", params.data)[0], factory, "models/grpo/seed0/best.json",
                                                   params.env, params.reward, progress=False, workers=1)  # fmt: skip
    finally:
        os.chdir(cwd)
    harness = [json.loads(ln) for ln in (project / "reports/eval/cli/episodes.jsonl").read_text().splitlines()]
    for e, h in zip(episodes, harness, strict=True):
        for k, v in e.to_dict().items():
            assert v == h[k], (k, v, h[k])
    assert one_by_one == {k: v for k, v in cli.items() if k in one_by_one}
    # The greedy val eval inside GRPO (batched) and the harness agree on the best checkpoint.
    val = json.loads((project / "reports/eval/grpo/seed0/val/metrics.json").read_text())
    assert val["avg_reward"] == pytest.approx(best["val/reward"]) and val["avg_tokens_read"] == pytest.approx(best["val/tokens_read"])

    assert grep_for_key(project, sft_logs) == []


# ----------------------------------------------------------------------------- faults


def test_429_5xx_and_dropped_connections_change_nothing(standin, sft_project, reference, tmp_path):
    project = copy_project(sft_project[0], tmp_path / "faults")
    before = set(standin.models)
    f = standin.faults
    f.http_error(429, times=3, endpoint="forward_backward")  # a burst of rate limits
    f.http_error(503, times=2, endpoint="optim_step")
    f.http_error(500, times=1, endpoint="create_sampling_session")
    f.drop_connection(times=2, endpoint="forward_backward")
    f.drop_connection(times=1, endpoint="optim_step", after_processing=True)  # ran, answer lost
    f.http_error(503, times=2, endpoint="retrieve_future", request_type="OptimStep")
    f.http_error(502, times=1, endpoint="load_weights")
    t0 = time.monotonic()
    rc, out = run_stage(project, "grpo")
    assert rc == 0, out
    assert not f.pending, f.pending
    state = json.loads((project / "models/grpo/seed0/last.json").read_text())
    # The same optimizer steps as the fault-free run, each once, and the same weights.
    assert len(optim_ops(standin, new_models(standin, before))) == len(reference["optim_steps"])
    assert_same_final_weights(standin, state["state_path"], reference["state"]["state_path"])
    assert time.monotonic() - t0 < 15


def test_server_side_failure_is_a_clear_error_and_the_rerun_resumes(standin, sft_project, reference, tmp_path):
    project = copy_project(sft_project[0], tmp_path / "failure")
    before = set(standin.models)
    standin.faults.fail_request("forward_backward", message="GPU fell over")
    from explorer.backends.tinker_sdk import TinkerServiceError

    with pytest.raises(TinkerServiceError, match="forward_backward failed on the server.*GPU fell over.*rerun the stage to resume"):
        run_stage(project, "grpo")
    failed_models = new_models(standin, before)
    state = json.loads((project / "models/grpo/seed0/state.json").read_text())
    assert state["step"] == reference["optim_steps"][0] - 1  # stopped at the first update, nothing after it saved
    rc, out = run_stage(project, "grpo")  # what Prefect's stage retry does
    assert rc == 0, out
    assert f"resuming from models/grpo/seed0/state.json at step {state['step']}" in out
    final = json.loads((project / "models/grpo/seed0/last.json").read_text())
    assert_same_final_weights(standin, final["state_path"], reference["state"]["state_path"])
    # optim_step is submitted with forward_backward (pipelined), so the failed step's optim_step ran on
    # the abandoned client; the rerun's client starts from the saved state, so it is not in the lineage.
    assert len(optim_ops(standin, failed_models)) == 1
    assert len(optim_ops(standin, new_models(standin, before) - failed_models)) == len(reference["optim_steps"])


def test_missing_malformed_and_rejected_keys_fail_at_once_naming_the_variable(standin, sft_project, tmp_path, monkeypatch):
    project = copy_project(sft_project[0], tmp_path / "keys")
    for stage in ("sft", "grpo"):
        monkeypatch.delenv("TINKER_API_KEY")
        rc, out = run_stage(project, stage)
        assert rc == 2 and "TINKER_API_KEY is not set" in out, out
        monkeypatch.setenv("TINKER_API_KEY", "sk-not-a-tinker-key")
        rc, out = run_stage(project, stage)
        assert rc == 2 and "TINKER_API_KEY" in out and "sk-not-a-tinker-key" not in out, out
        monkeypatch.setenv("TINKER_API_KEY", "tml-revoked-key-0000")
        t0 = time.monotonic()
        rc, out = run_stage(project, stage)
        assert rc == 2 and "rejected the API key in TINKER_API_KEY (HTTP 401)" in out, out
        assert "tml-revoked-key-0000" not in out and time.monotonic() - t0 < 5
        monkeypatch.setenv("TINKER_API_KEY", KEY)
    # Eval of a pointer needs the key too, and a rejected one fails before any rollout.
    eval_args = ("eval", "--policy", "models/sft/seed0/policy.json", "--tasks", "dev", "--out", "reports/x")
    monkeypatch.setenv("TINKER_API_KEY", "tml-revoked-key-0000")
    rc, out = run_stage(project, *eval_args)
    assert rc == 2 and "rejected the API key in TINKER_API_KEY (HTTP 401)" in out, out
    monkeypatch.delenv("TINKER_API_KEY")
    rc, out = run_stage(project, *eval_args)
    assert rc == 2 and "TINKER_API_KEY is not set" in out


def test_sft_resumes_from_its_last_saved_state_with_the_optimizer(standin, sft_project, tmp_path, monkeypatch):
    project = copy_project(sft_project[0], tmp_path / "sft_crash")
    shutil.rmtree(project / "models/sft")
    from explorer.rl.state import RunState

    class Crash(BaseException):
        pass

    saves, real_save = [], RunState.save

    def crashing_save(self, path):
        real_save(self, path)
        saves.append(self.step)
        if self.step == 3:
            raise Crash  # the process dies right after step 3's state is on disk

    monkeypatch.setattr(RunState, "save", crashing_save)
    with pytest.raises(Crash):
        run_stage(project, "sft")
    monkeypatch.setattr(RunState, "save", real_save)
    before = set(standin.models)
    rc, out = run_stage(project, "sft")
    assert rc == 0 and "resuming from models/sft/seed0/state.json at step 3/8" in out, out
    assert [o.op for o in standin.log.ops if o.target in new_models(standin, before)].count("optim_step") == 5
    resumed = json.loads((project / "models/sft/seed0/policy.json").read_text())
    reference = json.loads((sft_project[0] / "models/sft/seed0/policy.json").read_text())
    assert_same_final_weights(standin, resumed["state_path"], reference["state_path"])


# ----------------------------------------------------------------------------- SIGKILL


def test_sigkill_between_optim_step_and_save_then_resume(standin, sft_project, reference, tmp_path):
    """Kill the trainer in the worst place: the service has run an optim_step whose save_state
    has not happened. The rerun resumes from the last saved state with its optimizer; the saved
    lineage has every step once and ends bit-identical to the uninterrupted run. The killed
    client's unsaved step is the one extra optim_step the service executed."""
    project = copy_project(sft_project[0], tmp_path / "killed")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    cmd = [sys.executable, "-m", "explorer.cli", "grpo"]
    before = set(standin.models)
    proc = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline, stage, killed = time.time() + 60, "wait-first-save", False
    while time.time() < deadline and proc.poll() is None:
        ops = [o for o in standin.log.ops if o.target in new_models(standin, before)]
        if stage == "wait-first-save" and any(o.op == "save_state" for o in ops):
            # From now on the next optim_step's answer is delayed (429 -> the SDK waits 1 s): the
            # step has run on the service, and the trainer is waiting. Kill it there.
            standin.faults.http_error(429, times=1, endpoint="retrieve_future", request_type="OptimStep", retry_after_s=None)
            n_optim, stage = sum(o.op == "optim_step" for o in ops), "wait-next-optim"
        elif stage == "wait-next-optim" and sum(o.op == "optim_step" for o in ops) > n_optim:
            os.kill(proc.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.002)
    first_output = proc.communicate(timeout=30)[0]
    assert killed, f"the run ended before it could be killed:\n{first_output}"
    standin.faults.clear()
    killed_models = new_models(standin, before)
    state = json.loads((project / "models/grpo/seed0/state.json").read_text())
    saved_steps = state["step"]
    assert 1 <= saved_steps < PARAMS["grpo"]["steps"]
    executed = len(optim_ops(standin, killed_models))
    saved_optim = sum(1 for s in reference["optim_steps"] if s <= saved_steps)
    assert executed == saved_optim + 1  # one step ran on the service but was never saved

    out = subprocess.run(cmd, cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"resuming from models/grpo/seed0/state.json at step {saved_steps}/4" in out.stdout
    resumed_models = new_models(standin, before) - killed_models
    load_ops = [o for o in standin.log.ops if o.op == "load_weights" and o.target in resumed_models]
    assert len(load_ops) == 1  # one training client, created from the saved state (with optimizer)
    final = json.loads((project / "models/grpo/seed0/last.json").read_text())
    assert_same_final_weights(standin, final["state_path"], reference["state"]["state_path"])
    assert len(optim_ops(standin, resumed_models)) == len(reference["optim_steps"]) - saved_optim

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("tinker-explorer").experiment_id], "tags.stage = 'grpo'")
    assert len(runs) == 1  # the rerun continued the killed run
    steps = [m.step for m in client.get_metric_history(runs[0].info.run_id, "reward/mean")]
    assert sorted(steps) == [1, 2, 3, 4]  # every step once: none lost, none repeated
    assert grep_for_key(project, first_output, out.stdout, out.stderr) == []


def test_cost_estimate_counts_what_the_rollouts_send(task):
    """`explorer cost` (docs/tinker.md) must count the tokens the GRPO loop really sends: replay a
    heuristic episode as a group of LLM episodes (one request per turn each) and compare."""
    from dataclasses import asdict

    from explorer.config import EnvConfig
    from explorer.cost import episode_tokens, step_tokens
    from explorer.data.tasks import task_to_dict
    from explorer.harness import evaluate_policy
    from explorer.policies import baseline_factory
    from explorer.policies.llm import END_THINK, THINK, demo_conversation
    from explorer.render import render_action
    from explorer.reward import RewardConfig

    _, (ep,) = evaluate_policy([task], baseline_factory("heuristic"), "heuristic", EnvConfig(), RewardConfig(), progress=False)
    line = {**ep.to_dict(), "env_config": asdict(EnvConfig()), "reward_config": asdict(RewardConfig()), "task": task_to_dict(task)}
    replies = [tokens.encode(render_action(t.action)) + [IM_END] for t in ep.transitions]
    group = 3
    samplers = [ScriptedSampler(list(replies)) for _ in range(group)]
    policies = [LLMPolicy(s, thinking=False, temperature=1.0) for s in samplers]
    episodes = [run_task(task, p, rng=episode_rng(0, task.id), name="llm") for p in policies]
    assert [e.metrics for e in episodes] == [ep.metrics] * group
    expected = step_tokens([episode_tokens(line, thinking=False)], batch_size=1, group_size=group)
    prompts = [p for s in samplers for p in s.prompts]
    assert len(prompts) == group * len(replies)  # every turn of every episode is one request
    assert sum(map(len, prompts)) == expected["prompt"]
    assert sum(p.conv.n_sampled for p in policies) == expected["sampled"]
    assert sum(len(p.conv.training_arrays()[0]) for p in policies) == expected["train"]
    # Not a prefix of an earlier request: the group's first prompt once, then what each turn adds.
    for s in samplers:
        for k in range(1, len(s.prompts)):
            assert s.prompts[k][: len(s.prompts[k - 1]) + len(replies[k - 1])] == s.prompts[k - 1] + replies[k - 1]
    new = len(samplers[0].prompts[0]) + sum(
        len(s.prompts[k]) - len(s.prompts[k - 1]) - len(replies[k - 1]) for s in samplers for k in range(1, len(s.prompts))
    )
    assert new == expected["new_prompt"]

    # Dollars: the step's tokens at tinker.prices, with and without the prefix cache; the source printed.
    from explorer.config import Params
    from explorer.cost import cost_report, run_costs

    params = Params()
    r, pr = run_costs(params, [line], n_dev=0), params.tinker.prices
    c = r["step"]
    assert r["no_cache"]["step"] == pytest.approx(pr.dollars(c["prompt"], 0, c["sampled"], c["train"]))
    assert r["cache"]["step"] == pytest.approx(pr.dollars(c["prompt"], c["prompt"] - c["new_prompt"], c["sampled"], c["train"]))
    assert r["cache"]["step"] < r["no_cache"]["step"] and r["cache"]["run"] > 3 * params.grpo.steps * r["cache"]["step"]
    report = cost_report(params, [line], "test")
    assert "per run (3 seeds + evaluate)" in report and "Source: Qwen3-8B list prices of 2026-01-05" in report

    # SFT with thinking on: the model must write the (empty) think block itself, so it is trained.
    conv = demo_conversation(line, thinking=True)
    first = conv.sampled.index(True)
    assert conv.tokens[first : first + 4] == [THINK, 271, END_THINK, 271] and conv.tokens[first - 1] == 198  # "assistant\n"
    assert conv.n_sampled == sum(len(r) + 4 for r in replies)


# ----------------------------------------------------------------------------- the real service's harsher answers


def _params(project: Path, **tinker_keys) -> None:
    """Set tinker.* keys in the project's params.yaml."""
    p = yaml.safe_load((project / "params.yaml").read_text())
    p["tinker"] = {**p["tinker"], **tinker_keys}
    (project / "params.yaml").write_text(yaml.safe_dump(p))


def _error_lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.strip()]


def test_billing_block_ends_a_stage_at_once_with_one_line(standin, sft_project, tmp_path):
    """HTTP 402: the SDK's own access paths pause up to an hour (billing_max_pause_s is the SDK's
    default 3600 here); the stage's access check is sent like raise_if_tinker_not_accessible and
    fails at once, exit 2 (not retried), before any training run is created."""
    project = copy_project(sft_project[0], tmp_path / "billing")
    creates = standin.log.count("create_model")
    for endpoints in ({"get_server_capabilities"}, None):  # the check's endpoint, or every billed endpoint
        standin.block_billing(endpoints)
        try:
            for stage in ("sft", "grpo"):
                t0 = time.monotonic()
                rc, out = run_stage(project, stage)
                elapsed = time.monotonic() - t0
                assert rc == 2 and elapsed < 5, (rc, elapsed, out)
                (line,) = _error_lines(out)
                assert line.startswith("error: ") and "HTTP 402 (billing)" in line and "Tinker console" in line, line
                print(f"402 on {endpoints or 'every billed endpoint'}: explorer {stage} exit {rc} in {elapsed:.2f} s: {line}")
        finally:
            standin.unblock_billing()
    assert standin.log.count("create_model") == creates


def test_user_caused_failures_exit_2_and_are_not_retried(standin, sft_project, tmp_path):
    """A request the service fails as the user's fault exits 2, which the pipeline flow does not
    retry (tests/test_flows.py); the same from the command DVC runs (python -m explorer.stages.grpo)."""
    project = copy_project(sft_project[0], tmp_path / "user_error")
    standin.faults.fail_request("forward_backward", message="datum 3 has no target tokens", category="user")
    rc, out = run_stage(project, "grpo")
    assert rc == 2 and "forward_backward was refused as a user error: datum 3 has no target tokens" in out, out
    assert not standin.faults.pending
    standin.faults.fail_request("forward_backward", message="datum 3 has no target tokens", category="user")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.run([sys.executable, "-m", "explorer.stages.grpo"], cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    from flows.dvc_stages import ReproOutcome, StageFailed

    assert StageFailed("grpo", ReproOutcome("failed", command_exit=proc.returncode), 1).transient is False


def test_rank_and_context_are_checked_before_any_request(standin, sft_project, tmp_path, monkeypatch):
    project = copy_project(sft_project[0], tmp_path / "limits")
    creates = standin.log.count("create_model")
    _params(project, lora_rank=48)  # not a power of two: a config error
    rc, out = run_stage(project, "sft")
    assert rc == 2 and "tinker.lora_rank must be a power of two" in out, out
    _params(project, lora_rank=256)  # above the model's maximum (the service's list: 1 ... 128)
    rc, out = run_stage(project, "sft")
    assert rc == 2 and "tinker.lora_rank 256 is not a rank Qwen/Qwen3-8B takes" in out and "128" in out, out
    _params(project, lora_rank=32)
    standin.retire_model("Qwen/Qwen3-8B")  # gone from the service's list: no stage starts
    try:
        rc, out = run_stage(project, "grpo")
        assert rc == 2 and "does not offer tinker.base_model 'Qwen/Qwen3-8B'" in out, out
    finally:
        standin.restore_model("Qwen/Qwen3-8B")
    spec = standin.service.model_specs["Qwen/Qwen3-8B"]
    import dataclasses

    # SFT: a demo longer than the context is refused up front, before a training run exists.
    monkeypatch.setitem(standin.service.model_specs, "Qwen/Qwen3-8B", dataclasses.replace(spec, max_context_length=200))
    shutil.rmtree(project / "models/sft")
    rc, out = run_stage(project, "sft")
    assert rc == 2 and "longer than Qwen/Qwen3-8B's context of 200" in out, out
    assert standin.log.count("create_model") == creates

    # Sampling: each turn's prompt is checked; max_tokens is cut to what is left, and a prompt that
    # leaves nothing is not sent (a refused step). The service never has to refuse a sample request.
    project = copy_project(sft_project[0], tmp_path / "context")
    from explorer.config import load_params
    from explorer.data.tasks import resolve_tasks

    cwd = os.getcwd()
    os.chdir(project)
    try:
        dev = resolve_tasks("dev", load_params().data)[0]
    finally:
        os.chdir(cwd)
    first = max(len(initial_prompt_ids(ExplorerEnv(t).initial_observation(), False)) for t in dev)
    context = first + 12  # the first turn fits (max_tokens 8); later turns hit the limit
    monkeypatch.setitem(standin.service.model_specs, "Qwen/Qwen3-8B", dataclasses.replace(spec, max_context_length=context))
    refused, samples = standin.log.count("asample", 400), len(standin.log.samples)
    rc, out = run_stage(project, "eval", "--policy", "models/sft/seed0/policy.json", "--tasks", "dev", "--out", "reports/ctx")
    assert rc == 0, out
    assert standin.log.count("asample", 400) == refused  # no request the service would refuse
    new = standin.log.samples[samples:]
    assert new and all(s.prompt_tokens + s.max_tokens <= context for s in new)
    episodes = (project / "reports/ctx/episodes.jsonl").read_text()
    assert "fills the model's context" in episodes


def test_the_sampler_cuts_max_tokens_to_the_context_and_refuses_a_full_one(task):
    from explorer.backends.tinker_sdk import TinkerSampler
    from explorer.policies.llm import ContextFull

    class Client:
        def __init__(self):
            self.sent = []

        def sample(self, prompt, n, params):
            self.sent.append((prompt.length, params.max_tokens))
            return None

    client = Client()
    sampler = TinkerSampler(client, max_tokens=48, path=None, context_length=100)
    sampler.submit(list(range(40)), 1, 1.0, 0)
    sampler.submit(list(range(90)), 1, 1.0, 0)
    assert client.sent == [(40, 48), (90, 10)]
    with pytest.raises(ContextFull, match="100 of 100 tokens"):
        sampler.submit(list(range(100)), 1, 1.0, 0)
    assert len(client.sent) == 2  # not sent
    # The policy makes a full context a refused step (no reply sampled), not an error.
    policy = LLMPolicy(type("Full", (), {"submit": lambda *a: (_ for _ in ()).throw(ContextFull("full"))})(), thinking=False)
    action = policy(ExplorerEnv(task).initial_observation(), episode_rng(0, task.id))
    assert isinstance(action, Unparsable) and "no reply was sampled" in action.error and policy.conv.n_sampled == 0


def test_a_save_whose_answer_was_lost_is_not_a_failure(standin, sft_project, reference, tmp_path, monkeypatch):
    """The realistic stand-in answers HTTP 409 when the SDK re-sends a save that has run; the SDK
    would re-send it for 5 minutes and then raise ConflictError. The store finds the checkpoint
    in the service's list and goes on with it."""
    import explorer.backends.tinker_store as store

    monkeypatch.setattr(store, "SAVE_POLL_S", 1.5)  # the SDK re-sends a lost save after 1 s: let it meet the 409
    project = copy_project(sft_project[0], tmp_path / "conflict")
    conflicts = standin.log.count("save_weights", 409)
    standin.faults.drop_connection(endpoint="save_weights", after_processing=True)  # ran, answer lost
    t0 = time.monotonic()
    rc, out = run_stage(project, "grpo")
    assert rc == 0, out
    assert time.monotonic() - t0 < 30 and not standin.faults.pending
    assert standin.log.count("save_weights", 409) == conflicts + 1  # the SDK's re-sent save met the 409, then was dropped
    assert "saved (the service lists it)" in out
    final = json.loads((project / "models/grpo/seed0/last.json").read_text())
    assert_same_final_weights(standin, final["state_path"], reference["state"]["state_path"])


def _grpo_checkpoints(standin: StandIn, models: set[str]) -> list:
    return [c for c in standin.storage().checkpoints if c.path.split("/")[2] in models]


def test_a_grpo_run_leaves_only_what_its_files_point_at_each_with_a_ttl(standin, sft_project, tmp_path):
    ttl = 2 * 24 * 3600
    project = copy_project(sft_project[0], tmp_path / "storage")
    _params(project, grpo_save_every=2, checkpoint_ttl_seconds=ttl)
    before = set(standin.models)
    rc, out = run_stage(project, "grpo")
    assert rc == 0, out
    saved = _grpo_checkpoints(standin, new_models(standin, before))
    live = [c for c in saved if c.live]
    best, last = (json.loads((project / "models/grpo/seed0" / n).read_text()) for n in ("best.json", "last.json"))
    pointed = {best["state_path"], best["sampler_path"], last["state_path"], last["sampler_path"]}
    assert {c.path for c in live} == pointed - {p for p in pointed if "/sft-" in p}  # the SFT start's are SFT's
    assert len(live) <= 4 and all(c.ttl_seconds == ttl for c in saved)
    print(
        f"GRPO checkpoints saved {len(saved)}, live {len(live)} ({sorted(c.kind for c in live)}), TTLs {sorted({c.ttl_seconds for c in saved})}"
    )
    assert all(c.deleted for c in saved if not c.live)
    # MLflow: the run's storage and cost as it went.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project}/mlflow.db")
    (run,) = client.search_runs([client.get_experiment_by_name("tinker-explorer").experiment_id], "tags.stage = 'grpo'")
    written = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "cost/storage_gb_written"), key=lambda m: m.step)]
    assert written[-1] > 0 and written == sorted(written)

    # keep_old_checkpoints: every resume point stays (until its TTL).
    project = copy_project(sft_project[0], tmp_path / "keep")
    _params(project, grpo_save_every=1, keep_old_checkpoints=True)
    before = set(standin.models)
    rc, out = run_stage(project, "grpo")
    assert rc == 0, out
    kept = _grpo_checkpoints(standin, new_models(standin, before))
    assert len(kept) > len(live) and all(c.live for c in kept)
    print(f"with keep_old_checkpoints: saved {len(kept)}, live {sum(c.live for c in kept)}")
    # The SFT run kept only its pointer's two checkpoints (its step states are deleted as it goes).
    sft = json.loads((sft_project[0] / "models/sft/seed0/policy.json").read_text())
    sft_model = sft["state_path"].split("/")[2]
    assert {c.path for c in standin.storage().live if c.path.split("/")[2] == sft_model} == {sft["state_path"], sft["sampler_path"]}


def test_an_expired_resume_point_is_a_clear_error(sft_project, tmp_path, monkeypatch):
    """Checkpoints expire (tinker.checkpoint_ttl_seconds): a rerun after that cannot resume and
    says what to do, exit 2 (a retry would fail the same way). A stand-in of its own: its clock
    moves."""
    from explorer.rl.state import RunState

    with StandIn(api_keys=[KEY], learning_rate_scale=1000.0, realistic=True) as s:
        monkeypatch.setenv("TINKER_BASE_URL", s.base_url)
        project = copy_project(sft_project[0], tmp_path / "expired")
        shutil.rmtree(project / "models/sft")
        rc, out = run_stage(project, "sft")
        assert rc == 0, out

        class Crash(BaseException):
            pass

        real_save = RunState.save

        def crashing_save(self, path):
            real_save(self, path)
            if self.step == 2:
                raise Crash

        monkeypatch.setattr(RunState, "save", crashing_save)
        with pytest.raises(Crash):
            run_stage(project, "grpo")
        monkeypatch.setattr(RunState, "save", real_save)
        s.advance_clock(7 * 24 * 3600 + 60)  # past the default TTL: every checkpoint is gone
        rc, out = run_stage(project, "grpo")
        assert rc == 2, out
        (line,) = _error_lines(out)  # the restore fails before anything else is printed
        assert "is gone from the service" in line and "delete models/grpo/seed0/state.json" in line, line
        # An evaluation of an expired pointer says so too.
        rc, out = run_stage(project, "eval", "--policy", "models/sft/seed0/policy.json", "--tasks", "dev", "--out", "reports/x")
        assert rc == 2 and "is gone from the service" in out, out
        assert s.service.internal_errors == []
