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
from tinker_standin import DEFAULT_MODEL_SPECS, ModelSpec, StandIn  # noqa: E402
from tinker_standin.server import Params, Scorer, TokenSampler, base_logits  # noqa: E402

BASE_MODEL = "Qwen/Qwen3-8B"
KEY = "tml-test-key"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(realistic=False) as s:
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
    with (
        StandIn(realistic=False, use_pyqwest_transport=use_pyqwest) as standin,
        tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as service,
    ):
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


# ---------------------------------------------------------------------------------------------
# Realistic mode (Behaviour.realistic()): each switch on its own
# ---------------------------------------------------------------------------------------------


def long_prompt(n: int = 300, start: int = 2000) -> list[int]:
    """A prompt of a few hundred tokens, like the project's (ids are arbitrary)."""
    rng = np.random.default_rng(start)
    return rng.integers(1000, 100_000, size=n).tolist()


def distinct(seqs: list[types.SampledSequence]) -> int:
    return len({tuple(s.tokens) for s in seqs})


@pytest.fixture
def realistic() -> Iterator[StandIn]:
    with StandIn(realistic=True) as s:
        yield s


@pytest.fixture
def rservice(realistic: StandIn) -> Iterator[tinker.ServiceClient]:
    with tinker.ServiceClient(base_url=realistic.base_url, api_key=KEY) as client:
        yield client


def test_seeded_samples_collapse_to_one_sequence(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    """tinker-feedback#79: with SamplingParams(seed=...) and n > 1 the n samples coincide."""
    sampler = rservice.create_sampling_client(base_model=BASE_MODEL).result()
    prompt = types.ModelInput.from_ints(long_prompt())

    def params(seed: int | None) -> types.SamplingParams:
        return types.SamplingParams(max_tokens=8, seed=seed, stop=[])

    seeded = sampler.sample(prompt, 16, params(7)).result().sequences
    unseeded = sampler.sample(prompt, 16, params(None)).result().sequences
    one_each = [sampler.sample(prompt, 1, params(100 + i)).result().sequences[0] for i in range(16)]
    assert (distinct(seeded), distinct(unseeded), distinct(one_each)) == (1, 16, 16)
    # Identical samples report identical logprobs too (one computation, n copies).
    assert len({tuple(s.logprobs or []) for s in seeded}) == 1
    assert [r.distinct_sequences for r in realistic.log.samples[:2]] == [1, 16]

    # A duplicate fraction in between: 16 - round(0.5 * 15) = 8 distinct.
    realistic.behaviour.seeded_duplicate_fraction = 0.5
    assert distinct(sampler.sample(prompt, 16, params(7)).result().sequences) == 8
    # Off (the default stand-in): one seeded stream, 16 distinct draws, the first as before.
    realistic.behaviour.seeded_duplicate_fraction = 0.0
    spread = sampler.sample(prompt, 16, params(7)).result().sequences
    assert distinct(spread) == 16 and spread[0].tokens == seeded[0].tokens


def test_sampler_logprobs_are_perturbed_trainer_logprobs_are_not(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    """cookbook#396 / tinker-feedback#149: the sampler's logprobs differ from the trainer's."""
    tc = rservice.create_lora_training_client(BASE_MODEL, rank=8).result()
    train_step(tc, BATCHES[0])
    path = tc.save_weights_for_sampler("noisy").result().path
    sampler = rservice.create_sampling_client(model_path=path).result()
    prompt = [11, 12, 13]
    params = types.SamplingParams(max_tokens=12, stop=[])
    seqs = sampler.sample(types.ModelInput.from_ints(prompt), 4, params).result().sequences

    diffs = []
    data = []
    for seq in seqs:
        q = np.array(seq.logprobs)
        true = realistic.score(path, prompt[-1:] + seq.tokens)
        assert np.all(q <= 0.0)
        diffs.append(q - true)
        # The trainer (forward) reports the true logprobs of the same tokens on the same weights.
        datum = types.Datum(
            model_input=types.ModelInput.from_ints(prompt[-1:] + seq.tokens[:-1]),
            loss_fn_inputs={"target_tokens": seq.tokens, "logprobs": list(q), "advantages": [1.0] * len(q)},
        )
        data.append(datum)
        np.testing.assert_allclose(logprobs_of(tc.forward([datum], "importance_sampling").result())[0], true, atol=1e-5)
    d = np.concatenate(diffs)
    assert 0.02 < float(np.abs(d).mean()) < 0.08  # noise std 0.05, a little less where clipped at 0
    # So the importance ratios exp(p - q) are not all 1, and a kl_sampler_learner metric is not 0.
    out = tc.forward(data, "importance_sampling").result()
    p = np.concatenate(logprobs_of(out))
    q = np.concatenate([np.array(s.logprobs) for s in seqs])
    ratio = np.exp(p - q)
    assert ratio.std() > 0.02 and out.metrics["loss:sum"] == pytest.approx(-ratio.sum(), rel=1e-5)
    assert float((q - p).mean()) != 0.0

    # Deterministic given the request: a seeded request repeated, and prompt logprobs repeated.
    seeded = types.SamplingParams(max_tokens=12, stop=[], seed=3)
    a = sampler.sample(types.ModelInput.from_ints(prompt), 1, seeded).result().sequences[0]
    b = sampler.sample(types.ModelInput.from_ints(prompt), 1, seeded).result().sequences[0]
    assert a.tokens == b.tokens and a.logprobs == b.logprobs
    lp1 = sampler.compute_logprobs(types.ModelInput.from_ints([11, 12, 13, 14, 15])).result()
    lp2 = sampler.compute_logprobs(types.ModelInput.from_ints([11, 12, 13, 14, 15])).result()
    assert lp1 == lp2 and lp1[0] is None
    assert not np.allclose(lp1[1:], realistic.score(path, [11, 12, 13, 14, 15]), atol=1e-4)

    # Off: the sampler's logprobs are the trainer's again.
    realistic.behaviour.sampler_logprob_noise = 0.0
    seq = sampler.sample(types.ModelInput.from_ints(prompt), 1, params).result().sequences[0]
    np.testing.assert_allclose(seq.logprobs, realistic.score(path, prompt[-1:] + seq.tokens), atol=1e-5)


def test_billing_402_raises_billing_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """402 -> tinker.BillingError. The one-request access check and create_session raise it at
    once; calls through the SDK's execute_with_retries pause 5 s per 402 until the client config's
    billing_exception_max_pause_duration_sec has passed (0 here, so they give up after one pause)."""
    with StandIn(realistic=True, billing_max_pause_s=0) as standin:
        monkeypatch.setenv("TINKER_BASE_URL", standin.base_url)
        monkeypatch.setenv("TINKER_API_KEY", KEY)
        standin.block_billing({"get_server_capabilities"})
        with pytest.raises(tinker.BillingError) as excinfo:
            tinker.auth.raise_if_tinker_not_accessible()
        assert excinfo.value.status_code == 402 and "billing" in str(excinfo.value.body)
        assert standin.log.statuses("get_server_capabilities") == [402]  # one request, no retry

        t0 = time.monotonic()
        with pytest.raises(tinker.BillingError):
            tinker.RestClient(base_url=standin.base_url, api_key=KEY).get_server_capabilities().result()
        assert 4.5 < time.monotonic() - t0 < 9  # paused 5 s, then the window (0 s) was over
        assert standin.log.statuses("get_server_capabilities") == [402, 402, 402]

        standin.block_billing({"create_session"})
        t0 = time.monotonic()
        with tinker.ServiceClient(base_url=standin.base_url, api_key=KEY) as sc, pytest.raises(tinker.BillingError):
            sc.create_lora_training_client(BASE_MODEL, rank=8).result()
        assert time.monotonic() - t0 < 2
        assert standin.log.statuses("create_session") == [402]

        standin.unblock_billing()
        caps = tinker.RestClient(base_url=standin.base_url, api_key=KEY).get_server_capabilities().result()
        assert BASE_MODEL in [m.model_name for m in caps.supported_models]


def test_save_conflict_answers_409_also_on_a_resent_save(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    """A save whose answer was lost is re-sent by the SDK; the service has already saved it, so
    the re-send conflicts (tinker-cookbook's debug notes: "HTTP 409 on checkpoint save")."""
    import httpx

    tc = rservice.create_lora_training_client(BASE_MODEL, rank=8).result()
    path = tc.save_state("first").result().path
    # The same name again, by hand: 409 with a detail, and nothing is run.
    raw = httpx.post(
        f"{realistic.base_url}/api/v1/save_weights",
        json={"model_id": tc.model_id, "path": "first", "seq_id": 99, "type": "save_weights"},
        headers={"X-API-Key": KEY},
    )
    assert raw.status_code == 409 and raw.json() == {"detail": f"Checkpoint {path} already exists"}
    assert realistic.log.op_count("save_state", include_failed=True) == 1

    # Through the SDK: ConflictError is retryable for it (1 s, 2 s, 4 s, ... for up to 5
    # minutes), so delete the checkpoint once the 409 came back, and its next re-send succeeds.
    realistic.faults.drop_connection(times=1, endpoint="save_weights", after_processing=True)
    future = tc.save_state("second")
    deadline = time.monotonic() + 10
    while realistic.log.count("save_weights", 409) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    second = f"tinker://{tc.model_id}/weights/second"
    tinker.RestClient(base_url=realistic.base_url, api_key=KEY).delete_checkpoint_from_tinker_path(second).result()
    assert future.result().path == second
    assert realistic.log.statuses("save_weights")[-3:] == [0, 409, 200]
    assert realistic.log.op_count("save_state") == 3  # first, second, second again

    # The kind stand-in answers the re-send from the first execution instead: no conflict.
    with StandIn(realistic=False) as kind, tinker.ServiceClient(base_url=kind.base_url, api_key=KEY) as sc:
        tc2 = sc.create_lora_training_client(BASE_MODEL, rank=8).result()
        kind.faults.drop_connection(times=1, endpoint="save_weights", after_processing=True)
        tc2.save_state("x").result()
        assert kind.log.statuses("save_weights") == [0, 200] and kind.log.op_count("save_state") == 1


def test_capabilities_rank_and_context_limits(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    import httpx

    rest = tinker.RestClient(base_url=realistic.base_url, api_key=KEY)
    caps = {m.model_name: m for m in rest.get_server_capabilities().result().supported_models}
    assert caps[BASE_MODEL].max_context_length == 32_768 and caps[BASE_MODEL].trainable
    raw = httpx.get(f"{realistic.base_url}/api/v1/get_server_capabilities", headers={"X-API-Key": KEY}).json()
    ranks = {m["model_name"]: m["max_lora_rank"] for m in raw["supported_models"]}
    assert ranks[BASE_MODEL] == 128 and ranks["Qwen/Qwen3-30B-A3B"] == 32
    assert all(r & (r - 1) == 0 for m in raw["supported_models"] for r in m["supported_lora_ranks"])

    for model, rank, message in [
        (BASE_MODEL, 48, "lora_config.rank must be a power of 2"),
        (BASE_MODEL, 256, "Lora_config.rank 256 exceeds max LoRA rank 128 for model Qwen3-8B"),
        ("Qwen/Qwen3-30B-A3B", 64, "exceeds max LoRA rank 32"),
        ("Qwen/Qwen9-1T", 32, "not supported"),
    ]:
        with pytest.raises(tinker.BadRequestError, match=message):
            rservice.create_lora_training_client(model, rank=rank).result()
    assert realistic.log.op_count("create_model", include_failed=True) == 0  # rejected at submission

    # prompt + max_tokens beyond the context window: 400 with the service's wording.
    with StandIn(realistic=True, model_specs={BASE_MODEL: ModelSpec(BASE_MODEL, max_context_length=64)}) as small:
        with tinker.ServiceClient(base_url=small.base_url, api_key=KEY) as sc:
            sampler = sc.create_sampling_client(base_model=BASE_MODEL).result()
            ok = sampler.sample(types.ModelInput.from_ints(list(range(100, 156))), 1, types.SamplingParams(max_tokens=8)).result()
            assert len(ok.sequences[0].tokens) <= 8
            with pytest.raises(tinker.BadRequestError, match=r"context window: 57 prompt tokens \+ 8 max_tokens > 64"):
                sampler.sample(types.ModelInput.from_ints(list(range(100, 157))), 1, types.SamplingParams(max_tokens=8)).result()
            tc = sc.create_lora_training_client(BASE_MODEL, rank=8).result()
            with pytest.raises(tinker.BadRequestError, match="context window"):
                tc.forward_backward([sft_datum(list(range(100, 166)))], "cross_entropy").result()

    # The kind stand-in accepts any rank and lists no models.
    with StandIn(realistic=False) as kind, tinker.ServiceClient(base_url=kind.base_url, api_key=KEY) as sc:
        assert sc.create_lora_training_client(BASE_MODEL, rank=48).result().get_info().lora_rank == 48
        assert tinker.RestClient(base_url=kind.base_url, api_key=KEY).get_server_capabilities().result().supported_models == []


def test_checkpoint_ttl_expiry_and_storage(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    tc = rservice.create_lora_training_client(BASE_MODEL, rank=32).result()
    train_step(tc, BATCHES[0])
    hour = 3600
    state = tc.save_state("s1", ttl_seconds=hour).result().path
    weights = tc.save_weights_for_sampler("w1", ttl_seconds=2 * hour).result().path
    forever = tc.save_state("keep").result().path
    with pytest.raises(tinker.BadRequestError, match="ttl_seconds must be between 3600"):
        tc.save_state("too-short", ttl_seconds=60).result()

    # Sizes: a rank-32 Qwen3-8B adapter has 32 x 2,883,968 = 92.3 M parameters.
    params = 32 * DEFAULT_MODEL_SPECS[BASE_MODEL].lora_params_per_rank
    assert params == 92_286_976
    report = realistic.storage()
    assert report.live_count == 3 and [c.ttl_seconds for c in report.live] == [hour, 2 * hour, None]
    assert report.by_kind() == {"training": (2, 2 * 12 * params), "sampler": (1, 4 * params)}
    assert [c.path for c in report.without_ttl] == [forever]

    rest = tinker.RestClient(base_url=realistic.base_url, api_key=KEY)
    listed = {c.tinker_path: c for c in rest.list_checkpoints(tc.model_id).result().checkpoints}
    assert listed[state].expires_at is not None and listed[forever].expires_at is None
    assert (listed[weights].expires_at - listed[state].expires_at).total_seconds() == pytest.approx(hour, abs=1)
    assert listed[weights].size_bytes == 4 * params
    usage = tinker.AdminClient(base_url=realistic.base_url, api_key=KEY).get_current_checkpoint_storage_usage().result()
    assert (usage.data[0].checkpoint_count, usage.data[0].size_bytes) == (3, report.live_bytes)

    # An hour later the state is gone: not loadable, not listed; the sampler weights still are.
    realistic.advance_clock(hour + 1)
    with pytest.raises(tinker.RequestFailedError, match="expired") as excinfo:
        rservice.create_training_client_from_state_with_optimizer(state).result()
    assert excinfo.value.category == types.RequestErrorCategory.User
    assert state not in {c.tinker_path for c in rest.list_checkpoints(tc.model_id).result().checkpoints}
    sampler = rservice.create_sampling_client(model_path=weights).result()
    assert sampler.sample(types.ModelInput.from_ints([11, 12]), 1, types.SamplingParams(max_tokens=2)).result().sequences
    realistic.advance_clock(hour)
    with pytest.raises(tinker.NotFoundError, match="expired"):
        rservice.create_sampling_client(model_path=weights).result()
    # An existing sampling session keeps its (already loaded) weights.
    assert sampler.sample(types.ModelInput.from_ints([11, 12]), 1, types.SamplingParams(max_tokens=2)).result().sequences

    # TTLs can be set later, and checkpoints deleted; the report keeps the history.
    rest.set_checkpoint_ttl_from_tinker_path(forever, 5 * hour).result()
    assert realistic.storage().without_ttl == []
    rest.delete_checkpoint_from_tinker_path(forever).result()
    final = realistic.storage()
    assert final.live_count == 0 and len(final.checkpoints) == 3 and final.total_bytes == report.live_bytes
    assert [(c.expired, c.deleted) for c in final.checkpoints] == [(True, False), (True, False), (False, True)]


def test_retired_model_is_unavailable(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    tc = rservice.create_lora_training_client(BASE_MODEL, rank=8).result()
    path = tc.save_weights_for_sampler("before").result().path
    state = tc.save_state("state").result().path
    realistic.retire_model(BASE_MODEL)
    rest = tinker.RestClient(base_url=realistic.base_url, api_key=KEY)
    assert BASE_MODEL not in [m.model_name for m in rest.get_server_capabilities().result().supported_models]
    for create in (
        lambda: rservice.create_lora_training_client(BASE_MODEL, rank=8),
        lambda: rservice.create_sampling_client(base_model=BASE_MODEL),
        lambda: rservice.create_sampling_client(model_path=path),
        lambda: rservice.create_training_client_from_state(state),
    ):
        with pytest.raises(tinker.BadRequestError, match="retired"):
            create().result()
    realistic.restore_model(BASE_MODEL)
    assert rservice.create_sampling_client(model_path=path).result().get_base_model() == BASE_MODEL


def test_prompt_cache_hit_tokens_count_recent_prefixes(realistic: StandIn, rservice: tinker.ServiceClient) -> None:
    sampler = rservice.create_sampling_client(base_model=BASE_MODEL).result()
    prompt = long_prompt(300)
    params = types.SamplingParams(max_tokens=6, stop=[])

    def sample(tokens: list[int], n: int = 1) -> types.SampleResponse:
        return sampler.sample(types.ModelInput.from_ints(tokens), n, params).result()

    first = sample(prompt, 4)
    assert first.prompt_cache_hit_tokens == 0
    assert sample(prompt).prompt_cache_hit_tokens == 299  # the last prompt token is always computed
    # The next turn of a conversation: the prompt, a reply it sampled, then new tokens.
    turn2 = prompt + first.sequences[2].tokens + [7, 8, 9]
    assert sample(turn2).prompt_cache_hit_tokens == 306
    assert sample(long_prompt(300, start=5)).prompt_cache_hit_tokens == 0  # another prompt
    assert sample(prompt[:100] + [1, 2, 3]).prompt_cache_hit_tokens == 100  # a shared prefix
    assert [r.cache_hit_tokens for r in realistic.log.samples] == [0, 299, 306, 0, 100]

    # A small LRU forgets; a cache of 0 entries (the kind stand-in) always reports 0.
    realistic.behaviour.prompt_cache_entries = 2
    for i in range(3):
        sample(long_prompt(50, start=100 + i))
    assert sample(prompt).prompt_cache_hit_tokens == 0
    realistic.behaviour.prompt_cache_entries = 0
    sample(prompt)
    assert sample(prompt).prompt_cache_hit_tokens == 0
