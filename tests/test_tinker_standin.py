"""The Tinker stand-in (tests/tinker_standin) driven by the REAL tinker SDK (0.38.0).

These tests pin down what the project's training code relies on: the stand-in really learns,
checkpoints restore parameters *and* optimizer state, sampling returns the model's own
logprobs, and the SDK survives (or surfaces) the faults the stand-in injects.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest

tinker = pytest.importorskip("tinker")
from tinker import types  # noqa: E402
from tinker_standin import StandIn  # noqa: E402
from tinker_standin.server import Params, Scorer, TokenSampler, base_logits  # noqa: E402

BASE_MODEL = "Qwen/Qwen3-8B"
KEY = "tml-test-key"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as s:
        yield s


@pytest.fixture
def service(standin: StandIn) -> Iterator[tinker.ServiceClient]:
    with tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as client:
        yield client


def sft_datum(tokens: list[int], prompt_len: int = 1) -> types.Datum:
    """Next-token datum: predict tokens[1:] from tokens[:-1], no loss on the prompt."""
    weights = [0.0] * (prompt_len - 1) + [1.0] * (len(tokens) - prompt_len)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": weights},
    )


def train_step(tc: tinker.TrainingClient, data: list[types.Datum], lr: float = 0.05) -> types.ForwardBackwardOutput:
    fb = tc.forward_backward(data, "cross_entropy")
    opt = tc.optim_step(types.AdamParams(learning_rate=lr))
    out = fb.result()
    opt.result()
    return out


def logprobs_of(out: types.ForwardBackwardOutput) -> list[np.ndarray]:
    return [o["logprobs"].to_numpy() for o in out.loss_fn_outputs]


BATCHES = [
    [sft_datum([11, 12, 13, 14, 15, 16], 2), sft_datum([21, 22, 23, 24], 1)],
    [sft_datum([11, 30, 31, 32, 33], 2), sft_datum([40, 41, 42], 1)],
    [sft_datum([50, 51, 52, 53, 54, 55, 56], 3)],
    [sft_datum([11, 12, 13, 40, 41], 1), sft_datum([21, 22, 60, 61], 2)],
]


# ---------------------------------------------------------------------------------------------
# Learning
# ---------------------------------------------------------------------------------------------


def test_sft_cross_entropy_lowers_loss_with_real_logprobs(standin: StandIn, service: tinker.ServiceClient) -> None:
    tc = service.create_lora_training_client(BASE_MODEL, rank=8).result()
    assert tc.get_info().model_data.model_name == BASE_MODEL
    data = [sft_datum([101, 102, 103, 104, 105, 106], 2), sft_datum([7, 8, 9, 10], 1)]

    losses = []
    for _ in range(4):
        out = train_step(tc, data)
        losses.append(out.metrics["loss:sum"])
        # The returned logprobs are the model's own, and the loss is computed from them.
        for datum, lp in zip(data, logprobs_of(out), strict=True):
            tokens = datum.model_input.to_ints() + [int(datum.loss_fn_inputs["target_tokens"].to_numpy()[-1])]
            assert lp.shape == (len(tokens) - 1,)
            assert np.all(lp < 0)
        weights = [d.loss_fn_inputs["weights"].to_numpy() for d in data]
        assert out.metrics["loss:sum"] == pytest.approx(
            -sum(float((w * lp).sum()) for w, lp in zip(weights, logprobs_of(out), strict=True)), rel=1e-6
        )

    assert all(b < a for a, b in zip(losses, losses[1:], strict=False)), losses
    assert losses[-1] < losses[0] - 1.0

    # forward (no backward) reports the post-step loss and leaves the model alone.
    before = tc.forward(data, "cross_entropy").result().metrics["loss:sum"]
    assert before < losses[-1]
    assert tc.forward(data, "cross_entropy").result().metrics["loss:sum"] == before
    np.testing.assert_allclose(
        logprobs_of(tc.forward(data, "cross_entropy").result())[0], standin.score(tc.model_id, [101, 102, 103, 104, 105, 106]), atol=1e-5
    )

    # The log counts executed operations, not HTTP attempts.
    assert standin.log.op_count("optim_step") == 4
    assert standin.log.op_count("forward_backward") == 4
    assert standin.log.op_count("forward") == 3


def test_importance_sampling_and_ppo_on_sampled_tokens(standin: StandIn, service: tinker.ServiceClient) -> None:
    tc = service.create_lora_training_client(BASE_MODEL, rank=8).result()
    sampler = service.create_sampling_client(base_model=BASE_MODEL).result()
    prompt = [1000, 1001, 1002]
    result = sampler.sample(types.ModelInput.from_ints(prompt), 2, types.SamplingParams(max_tokens=5, seed=7, stop=[])).result()

    def rl_datum(seq: types.SampledSequence, advantage: float) -> types.Datum:
        n_prompt = len(prompt) - 1
        return types.Datum(
            model_input=types.ModelInput.from_ints(prompt + seq.tokens[:-1]),
            loss_fn_inputs={
                "target_tokens": prompt[1:] + seq.tokens,
                "logprobs": [0.0] * n_prompt + list(seq.logprobs or []),
                "advantages": [0.0] * n_prompt + [advantage] * len(seq.tokens),
            },
        )

    good, bad = result.sequences
    data = [rl_datum(good, 1.0), rl_datum(bad, -1.0)]
    out = tc.forward_backward(data, "importance_sampling").result()
    # On-policy: the learner equals the sampler, so every ratio is 1 and L = -sum(A).
    assert out.metrics["loss:sum"] == pytest.approx(-(5 * 1.0 + 5 * -1.0), abs=1e-4)
    np.testing.assert_allclose(logprobs_of(out)[0][len(prompt) - 1 :], good.logprobs, atol=1e-5)
    tc.optim_step(types.AdamParams(learning_rate=0.05)).result()

    after = logprobs_of(tc.forward(data, "importance_sampling").result())
    n = len(prompt) - 1
    assert after[0][n:].sum() > np.sum(good.logprobs)  # positive advantage: more likely
    assert after[1][n:].sum() < np.sum(bad.logprobs)  # negative advantage: less likely

    ppo = tc.forward_backward(data, "ppo").result()
    assert np.isfinite(ppo.metrics["loss:sum"])
    assert standin.log.op_count("forward_backward") == 2


def test_model_gradient_matches_finite_differences() -> None:
    """The stand-in's analytic gradient is exact (small vocab, random sparse entries)."""
    vocab = 40
    base = base_logits("grad-check", vocab, (), 0)
    params = Params(vocab)
    rng = np.random.default_rng(0)
    params.bias[:] = rng.normal(size=vocab)
    params.allocate([(1, 2), (1, 5), (3, 2), (7, 7)], limit=100)
    params.w[:] = rng.normal(size=params.num_entries)
    ctxs, toks, coef = np.array([1, 1, 3, 4, 7]), np.array([2, 9, 2, 0, 7]), rng.normal(size=5)

    def objective() -> float:
        return float((coef * Scorer(base, params).logprobs(ctxs, toks)).sum())

    grad_b, grad_w = Scorer(base, params).gradient(ctxs, toks, coef)
    eps = 1e-6
    for vec, grad in ((params.bias, grad_b), (params.w, grad_w)):
        for i in range(len(vec)):
            vec[i] += eps
            up = objective()
            vec[i] -= 2 * eps
            down = objective()
            vec[i] += eps
            assert (up - down) / (2 * eps) == pytest.approx(grad[i], abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_token_sampler_draws_from_the_models_distribution(temperature: float) -> None:
    """The O(log V) sampler is exact: frequencies match softmax(logprobs / T), and the reported
    logprob is the untempered model logprob."""
    vocab = 20
    params = Params(vocab)
    params.allocate([(3, 1), (3, 4), (3, 7)], limit=100)
    params.w[:] = [2.0, -1.5, 0.5]  # boosted, suppressed and mildly boosted entries
    scorer = Scorer(base_logits("sampler-check", vocab, (), 0), params)
    sampler = TokenSampler(scorer, temperature, -1, 1.0, np.random.default_rng(1))
    draws = [sampler.draw(3) for _ in range(20_000)]
    lp = scorer.full_logprobs(3)
    target = np.exp(lp / temperature) / np.exp(lp / temperature).sum()
    freq = np.bincount([tok for tok, _ in draws], minlength=vocab) / len(draws)
    np.testing.assert_allclose(freq, target, atol=0.01)
    assert all(logprob == pytest.approx(lp[tok], abs=1e-12) for tok, logprob in draws[:100])


# ---------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------


def test_resume_with_optimizer_matches_uninterrupted_run(standin: StandIn) -> None:
    # Run A: uninterrupted. Steps 1-3, save, step 4.
    with tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as a:
        tc = a.create_lora_training_client(BASE_MODEL, rank=8).result()
        for batch in BATCHES[:3]:
            train_step(tc, batch)
        path = tc.save_state("after-3").result().path
        assert path == f"tinker://{tc.model_id}/weights/after-3"
        step4_a = train_step(tc, BATCHES[3])
        after_a = tc.forward([d for b in BATCHES for d in b], "cross_entropy").result()

    # Run B: a new session (as after the training process was killed) resumes from the state.
    with tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as b:
        resumed = b.create_training_client_from_state_with_optimizer(path).result()
        assert resumed.model_id != tc.model_id
        step4_b = train_step(resumed, BATCHES[3])
        after_b = resumed.forward([d for b_ in BATCHES for d in b_], "cross_entropy").result()

        # Run C: weights only: the same step-4 forward, but a fresh Adam moves differently.
        weights_only = b.create_training_client_from_state(path).result()
        step4_c = train_step(weights_only, BATCHES[3])
        after_c = weights_only.forward([d for b_ in BATCHES for d in b_], "cross_entropy").result()

    assert step4_b.metrics == step4_a.metrics
    for x, y in zip(logprobs_of(step4_a), logprobs_of(step4_b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert after_b.metrics == after_a.metrics
    for x, y in zip(logprobs_of(after_a), logprobs_of(after_b), strict=True):
        np.testing.assert_array_equal(x, y)

    # A restarted process can also find the run's checkpoints through the REST API.
    listed = tinker.RestClient(base_url=standin.base_url, api_key=KEY).list_checkpoints(tc.model_id).result()
    assert [(c.checkpoint_type, c.tinker_path) for c in listed.checkpoints] == [("training", path)]

    assert step4_c.metrics == step4_a.metrics  # same weights before the step
    assert after_c.metrics["loss:sum"] != after_a.metrics["loss:sum"]  # optimizer state mattered

    # Saving under an existing name needs overwrite=True, as the SDK's flag says.
    with tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as c:
        tc2 = c.create_lora_training_client(BASE_MODEL).result()
        tc2.save_state("dup").result()
        with pytest.raises(tinker.RequestFailedError):
            tc2.save_state("dup").result()


def test_sampler_weights_sample_with_the_models_logprobs(standin: StandIn, service: tinker.ServiceClient) -> None:
    tc = service.create_lora_training_client(BASE_MODEL, rank=8).result()
    for batch in BATCHES[:2]:
        train_step(tc, batch)
    path = tc.save_weights_for_sampler("s2").result().path
    assert path == f"tinker://{tc.model_id}/sampler_weights/s2"
    sampler = service.create_sampling_client(model_path=path).result()
    assert sampler.get_base_model() == BASE_MODEL

    prompt = [11, 12]
    params = types.SamplingParams(max_tokens=6, seed=123, stop=[])
    first = sampler.sample(types.ModelInput.from_ints(prompt), 3, params).result()
    assert len(first.sequences) == 3
    for seq in first.sequences:
        assert len(seq.tokens) == 6 and seq.stop_reason == "length"
        assert seq.logprobs is not None and len(seq.logprobs) == 6
        # The same tokens scored by the training model (same weights): identical logprobs.
        fwd = tc.forward(
            [
                types.Datum(
                    model_input=types.ModelInput.from_ints(prompt[-1:] + seq.tokens[:-1]),
                    loss_fn_inputs={"target_tokens": seq.tokens, "weights": [0.0] * 6},
                )
            ],
            "cross_entropy",
        ).result()
        np.testing.assert_allclose(seq.logprobs, logprobs_of(fwd)[0], atol=1e-5)
        np.testing.assert_allclose(seq.logprobs, standin.score(path, prompt[-1:] + seq.tokens), atol=1e-5)

    # The snapshot is frozen: training on does not change what this sampler draws.
    train_step(tc, BATCHES[2])
    again = sampler.sample(types.ModelInput.from_ints(prompt), 3, params).result()
    assert [s.tokens for s in again.sequences] == [s.tokens for s in first.sequences]
    assert [s.logprobs for s in again.sequences] == [s.logprobs for s in first.sequences]

    # Prompt logprobs (compute_logprobs) come from the same model.
    prompt_lp = sampler.compute_logprobs(types.ModelInput.from_ints([11, 12, 13, 14])).result()
    assert prompt_lp[0] is None
    np.testing.assert_allclose(prompt_lp[1:], standin.score(path, [11, 12, 13, 14]), atol=1e-5)

    # Greedy decoding is deterministic; a stop token ends the sequence and is kept in it.
    greedy = sampler.sample(types.ModelInput.from_ints(prompt), 2, types.SamplingParams(max_tokens=4, temperature=0.0, stop=[])).result()
    assert greedy.sequences[0].tokens == greedy.sequences[1].tokens
    drawn = first.sequences[0].tokens
    stop_tok = drawn[3]
    stopped = sampler.sample(types.ModelInput.from_ints(prompt), 1, types.SamplingParams(max_tokens=6, seed=123, stop=[stop_tok])).result()
    assert stopped.sequences[0].tokens == drawn[: drawn.index(stop_tok) + 1]
    assert stopped.sequences[0].stop_reason == "stop"

    # save_weights_and_get_sampling_client samples the current weights.
    current = tc.save_weights_and_get_sampling_client().result()
    seq = current.sample(types.ModelInput.from_ints(prompt), 1, params).result().sequences[0]
    np.testing.assert_allclose(seq.logprobs, standin.score(tc.model_id, prompt[-1:] + seq.tokens), atol=1e-5)


# ---------------------------------------------------------------------------------------------
# Faults
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("use_pyqwest", [True, False], ids=["pyqwest", "httpx"])
def test_retries_survive_429_5xx_and_dropped_connections(monkeypatch: pytest.MonkeyPatch, use_pyqwest: bool) -> None:
    # The SDK's HTTP layer honours Retry-After(-Ms) for 429/5xx, but a dropped connection has
    # no header: it sleeps INITIAL_RETRY_DELAY * 2**n (0.5 s, 1 s, ...). Shorten that here.
    monkeypatch.setattr("tinker._base_client.INITIAL_RETRY_DELAY", 0.001)
    with StandIn(use_pyqwest_transport=use_pyqwest) as standin, tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as service:
        reference = service.create_lora_training_client(BASE_MODEL).result()
        expected = train_step(reference, BATCHES[0])
        expected_after = reference.forward(BATCHES[0], "cross_entropy").result()

        tc = service.create_lora_training_client(BASE_MODEL).result()
        standin.log.clear()
        standin.faults.http_error(429, times=2, endpoint="forward_backward")
        standin.faults.http_error(503, times=1, endpoint="forward_backward")
        standin.faults.http_error(500, times=1, endpoint="forward_backward")
        standin.faults.drop_connection(times=2, endpoint="forward_backward")
        standin.faults.http_error(503, times=2, endpoint="retrieve_future", request_type="ForwardBackward")
        # Answer lost after the step ran: the SDK re-sends it, the server must not run it twice.
        standin.faults.drop_connection(times=1, endpoint="optim_step", after_processing=True)

        start = time.monotonic()
        got = train_step(tc, BATCHES[0])
        elapsed = time.monotonic() - start

        assert not standin.faults.pending
        assert standin.log.statuses("forward_backward") == [429, 429, 503, 500, 0, 0, 200]
        assert [e.retry_count for e in standin.log.entries if e.endpoint == "forward_backward"] == list(range(7))
        assert standin.log.statuses("optim_step") == [0, 200]
        fb_polls = [e.status for e in standin.log.entries if e.endpoint == "retrieve_future" and e.request_type == "ForwardBackward"]
        assert fb_polls == [503, 503, 200]
        # Exactly once, despite 7 + 2 HTTP attempts.
        assert standin.log.op_count("forward_backward") == 1
        assert standin.log.op_count("optim_step") == 1
        assert elapsed < 5.0, elapsed

        # Faults changed nothing about the computation.
        assert got.metrics == expected.metrics
        assert tc.forward(BATCHES[0], "cross_entropy").result().metrics == expected_after.metrics


def test_server_side_failure_raises_request_failed_error(standin: StandIn, service: tinker.ServiceClient) -> None:
    tc = service.create_lora_training_client(BASE_MODEL).result()
    standin.faults.fail_request("forward_backward", message="GPU fell over")
    with pytest.raises(tinker.RequestFailedError, match="GPU fell over") as excinfo:
        tc.forward_backward(BATCHES[0], "cross_entropy").result()
    assert excinfo.value.category == types.RequestErrorCategory.Server
    assert [o.failed for o in standin.log.ops if o.op == "forward_backward"] == [True]

    # The training client stays usable, and nothing was accumulated by the failed request.
    out = train_step(tc, BATCHES[0])
    assert np.isfinite(out.metrics["loss:sum"])
    assert standin.log.op_count("optim_step") == 1

    # Bad inputs fail the same way, categorised as the user's fault.
    with pytest.raises(tinker.RequestFailedError) as user_err:
        tc.forward_backward(BATCHES[0], "dro").result()
    assert user_err.value.category == types.RequestErrorCategory.User


def test_bad_api_key_raises_authentication_error_quickly(standin: StandIn) -> None:
    start = time.monotonic()
    client = tinker.ServiceClient(base_url=standin.base_url, api_key="tml-not-a-valid-key")
    with pytest.raises(tinker.AuthenticationError):
        client.create_lora_training_client(BASE_MODEL).result()
    assert time.monotonic() - start < 2.0
    # Rejected on the very first request (client config), and never retried.
    assert standin.log.statuses("client/config") == [401]
    assert standin.log.count("create_session") == 0

    # A key without the tml- prefix never leaves the client.
    with pytest.raises(tinker.TinkerError, match="tml-"):
        tinker.ServiceClient(base_url=standin.base_url, api_key="not-a-tinker-key").create_lora_training_client(BASE_MODEL).result()
    assert standin.log.count("client/config") == 1
