"""A stand-in for the Tinker training service, spoken to by the real `tinker` SDK (0.38.0).

Why this exists: the project's training loops talk to a cloud service we must never contact
from tests. This module serves the subset of the service's HTTP API that the SDK uses for LoRA
training and sampling, backed by a tiny numpy language model that really trains, so tests can
check learning, checkpoint/resume and retry behaviour end to end through the SDK itself.

The wire contract was read from the installed SDK (site-packages/tinker), not from docs:

* JSON under ``/api/v1``; the API key travels in the ``X-API-Key`` header.
* Training and sampling calls are *submitted* (``create_model``, ``forward_backward``,
  ``optim_step``, ``save_weights``, ``save_weights_for_sampler``, ``load_weights``, ``asample``):
  the server answers ``{"request_id": ...}`` and the SDK polls ``retrieve_future`` for the result.
* ``forward_backward`` requests, and the results of forward/backward and sampling, are protobuf
  (``tinker/proto/tinker_public_pb2.py``); every other body is JSON.
* A failed request is a ``retrieve_future`` answer ``{"error": ..., "category": ...}``; the SDK
  turns it into ``RequestFailedError``.
* Each training request carries ``seq_id`` (1, 2, ... per model). The SDK re-sends a request
  after a 5xx / 429 / dropped connection, so the stand-in answers a repeated ``(model, seq_id)``
  with the request id of the first one instead of running it twice (exactly-once execution).

The model ("tiny bigram LM"): next-token logits given the previous token ``c`` are

    logits(. | c) = base[.] + bias[.] + W[c, .]

``base`` is a frozen pseudo-random vector derived from the base-model name (the "pretrained
weights"; every new training run starts from it, like a LoRA whose B matrix starts at zero).
``bias`` is a dense trainable vector over the vocabulary and ``W`` a *sparse* trainable table
whose entries are created (at zero, which leaves the function unchanged) for the
(previous token, target token) pairs that receive gradient. So a 152k vocabulary costs a few
MB, and the partition function is computed in O(V + row size) per context. Gradients are
exact for the current parameter set and AdamW follows torch.optim.AdamW.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import itertools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

# The protobuf schema is the SDK's own: using it guarantees the stand-in and the client agree
# on the bytes. Importing `tinker` costs ~0.7 s and pulls no network or model-hub code.
from tinker.proto import tinker_public_pb2 as pb

logger = logging.getLogger(__name__)

SDK_VERSION = "0.38.0"
"""The SDK version whose wire contract this stand-in implements."""

DEFAULT_API_KEYS: frozenset[str] = frozenset({"tml-test-key"})
DEFAULT_VOCAB_SIZE = 151_936
"""Qwen3's embedding size, so any Qwen token id is in range."""
DEFAULT_EOS_TOKEN_IDS: tuple[int, ...] = (151_643, 151_645)
"""Qwen's <|endoftext|> and <|im_end|>: implicit stop tokens when `SamplingParams.stop` is None."""

# Endpoints a fault with `endpoint=None` does not hit: they run on background timers in the SDK,
# so counting them would make "fail the next N requests" depend on timing.
BACKGROUND_ENDPOINTS: frozenset[str] = frozenset({"telemetry", "session_heartbeat", "client/dynamic_config"})

# Endpoints whose answer is a future (request id) that the SDK polls with retrieve_future.
FUTURE_ENDPOINTS: frozenset[str] = frozenset(
    {"create_model", "forward_backward", "optim_step", "save_weights", "save_weights_for_sampler", "load_weights", "asample"}
)

# Endpoints a billing block (`StandIn.block_billing()` with no endpoint list) leaves alone: the
# background calls, the client config (fetched before anything else, not billing-gated in the
# SDK's model of the service) and the calls that end work (finishing a session, cancelling).
BILLING_EXEMPT_ENDPOINTS: frozenset[str] = BACKGROUND_ENDPOINTS | {"client/config", "sessions/finish", "cancel_future"}

REALISTIC_ENV = "TINKER_STANDIN_REALISTIC"
"""`StandIn()` without `realistic=` uses the realistic profile when this is set (not "0")."""

TTL_MIN_SECONDS = 3600
"""SDK docstrings (save_state, save_weights_for_sampler, set_checkpoint_ttl_from_tinker_path):
ttl_seconds is between 1 hour and 10 years; None = never expires."""
TTL_MAX_SECONDS = 10 * 365 * 24 * 3600


# --------------------------------------------------------------------------------------------
# Model catalogue and behaviour switches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """What the service says (and enforces) about one base model.

    `lora_params_per_rank` is the LoRA parameter count per unit of rank with MLP, attention and
    unembedding adapted (tinker-cookbook `hyperparam_utils._LORA_PARAMS_PER_RANK_BY_COMPONENT`);
    it only feeds the checkpoint size estimate. `max_context_length` and `max_lora_rank` are
    enforced when `Behaviour.enforce_model_limits` is on."""

    name: str
    max_context_length: int = 32_768
    max_lora_rank: int = 128
    lora_params_per_rank: int = 2_883_968
    trainable: bool = True
    sampleable: bool = True

    @property
    def supported_lora_ranks(self) -> list[int]:
        """Powers of two up to the maximum (the service accepts only those)."""
        return [1 << i for i in range(self.max_lora_rank.bit_length()) if (1 << i) <= self.max_lora_rank]


def _spec(name: str, mlp: int, attn: int, unembed: int, max_rank: int = 128, context: int = 32_768) -> ModelSpec:
    return ModelSpec(name, max_context_length=context, max_lora_rank=max_rank, lora_params_per_rank=mlp + attn + unembed)


# Per-rank LoRA parameter counts from tinker-cookbook's hyperparam_utils (mlp, attn, unembed).
# Max ranks: 32 for MoE models (a maintainer in tinker-cookbook#9: "the max rank for MoE models
# are 32 because they have more parameters"; the service's 400 there reads "Lora_config.rank 128
# exceeds max LoRA rank 32 for model Qwen3-235B-A22B-Instruct-2507"); 128 for dense models is an
# assumption (not published). Context lengths (32,768) are assumptions too: the service reports
# its own in get_server_capabilities.
DEFAULT_MODEL_SPECS: dict[str, ModelSpec] = {
    s.name: s
    for s in (
        _spec("Qwen/Qwen3-8B", 1_769_472, 958_464, 156_032),
        _spec("Qwen/Qwen3-8B-Base", 1_769_472, 958_464, 156_032),
        _spec("Qwen/Qwen3-4B-Instruct-2507", 1_327_104, 737_280, 154_496),
        _spec("Qwen/Qwen3-32B", 5_898_240, 2_490_368, 157_056),
        _spec("Qwen/Qwen3-30B-A3B", 14_450_688, 835_584, 153_984, max_rank=32),
        _spec("meta-llama/Llama-3.1-8B", 1_769_472, 851_968, 132_352),
    )
}
DEFAULT_LORA_PARAMS_PER_RANK = DEFAULT_MODEL_SPECS["Qwen/Qwen3-8B"].lora_params_per_rank
"""Used for the size estimate of a base model without a spec (2,883,968: a rank-32 Qwen3-8B
adapter has 92.3 M parameters)."""

DEFAULT_CHECKPOINT_BYTES_PER_PARAM: dict[str, float] = {"sampler": 4.0, "training": 12.0}
"""Estimated stored bytes per LoRA parameter: sampler weights as fp32; a training state as fp32
weights plus Adam's two fp32 moments. The service does not publish this; a test that sums
storage should treat it as an estimate (and can pass its own)."""


def estimate_checkpoint_bytes(
    lora_rank: int,
    kind: str,
    lora_params_per_rank: int = DEFAULT_LORA_PARAMS_PER_RANK,
    bytes_per_param: dict[str, float] | None = None,
) -> int:
    """Estimated stored size of one checkpoint of a rank-`lora_rank` adapter."""
    per = (bytes_per_param or DEFAULT_CHECKPOINT_BYTES_PER_PARAM)[kind]
    return int(round(lora_rank * lora_params_per_rank * per))


SaveConflict = Literal["user_error", "http_409"]


@dataclass
class Behaviour:
    """Switches for the ways the real service is harsher than a test double needs to be.

    `Behaviour()` is the kind stand-in (how it always behaved); `Behaviour.realistic()` turns on
    what users report the real service does (README.md in this folder has the sources). Every
    field can be changed at runtime: `standin.behaviour.sampler_logprob_noise = 0.0`.
    """

    seeded_duplicate_fraction: float = 0.0
    """With SamplingParams.seed and num_samples n > 1: the share of the n - 1 samples after the
    first that are token-identical copies of the first (1.0: all n identical; 0.0: n distinct
    draws from one seeded stream). Requests without a seed always give n distinct draws."""
    sampler_logprob_noise: float = 0.0
    """Std (nats) of the Gaussian noise on the logprobs the *sampler* reports (sampled tokens and
    prompt logprobs / compute_logprobs), clipped at 0. forward/forward_backward keep the true
    ones. Deterministic given the request: a function of the weights, prompt and tokens."""
    save_conflict: SaveConflict = "user_error"
    """A save under a name that exists. "user_error": the future fails (RequestFailedError,
    category user) and a re-sent save (same seq_id) is answered from the first one.
    "http_409": the submit is answered HTTP 409 (ConflictError), also when the SDK re-sends a
    save whose first answer was lost after it ran."""
    enforce_model_limits: bool = False
    """Capabilities list the model catalogue; create_model rejects unknown models, ranks that are
    not a power of two or above the model's maximum (HTTP 400); asample and forward_backward
    reject prompt + max_tokens (resp. a datum) beyond max_context_length (HTTP 400); TTLs outside
    [1 h, 10 y] are rejected (HTTP 400)."""
    prompt_cache_entries: int = 0
    """Size of each sampler's LRU of token sequences (prompts and prompt + sampled reply) for
    `SampleResponse.prompt_cache_hit_tokens`; 0 = no cache accounting (always 0 hits)."""

    @classmethod
    def realistic(cls) -> Behaviour:
        return cls(
            seeded_duplicate_fraction=1.0,
            sampler_logprob_noise=0.05,
            save_conflict="http_409",
            enforce_model_limits=True,
            prompt_cache_entries=64,
        )


# --------------------------------------------------------------------------------------------
# Errors raised by handlers
# --------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """Answer the HTTP request itself with this status (the SDK raises APIStatusError subclasses)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class UserError(Exception):
    """A request the service accepts but then fails with category "user" (bad inputs)."""


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def base_logits(base_model: str, vocab_size: int, eos_token_ids: tuple[int, ...], eos_rank: int) -> np.ndarray:
    """Frozen "pretrained" logits for a base model name: deterministic, so every run, process and
    checkpoint of the same base model agrees.

    Each EOS id gets the logit of the `eos_rank`-th most likely other token: rare enough that
    base-model samples mostly run to max_tokens, never picked by greedy or top-k (k < rank)
    decoding, and learnable (SFT on sequences that end in EOS raises it)."""
    seed = int.from_bytes(hashlib.sha256(base_model.encode()).digest()[:8], "little")
    logits = np.random.default_rng(seed).standard_normal(vocab_size) * 2.0
    eos = [t for t in eos_token_ids if 0 <= t < vocab_size]
    if eos and eos_rank > 0:
        others = np.delete(logits, eos)
        rank = min(eos_rank, len(others))
        logits[eos] = np.partition(others, len(others) - rank)[len(others) - rank]
    logits.setflags(write=False)
    return logits


class Params:
    """The trainable parameters: a dense bias delta over the vocabulary and sparse bigram entries.

    `rows[c][t]` is the slot in `w` of the entry W[c, t]; absent entries are zero."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size
        self.bias = np.zeros(vocab_size, dtype=np.float64)
        self.w = np.zeros(0, dtype=np.float64)
        self.rows: dict[int, dict[int, int]] = {}
        self._row_cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def num_entries(self) -> int:
        return len(self.w)

    def copy(self) -> Params:
        out = Params(self.vocab_size)
        out.bias = self.bias.copy()
        out.w = self.w.copy()
        out.rows = {c: dict(r) for c, r in self.rows.items()}
        return out

    def row(self, ctx: int) -> tuple[np.ndarray, np.ndarray]:
        """(target token ids, slots) of the entries in row `ctx`, as arrays (cached)."""
        cached = self._row_cache.get(ctx)
        if cached is None:
            r = self.rows.get(ctx, {})
            cached = (np.fromiter(r.keys(), dtype=np.int64, count=len(r)), np.fromiter(r.values(), dtype=np.int64, count=len(r)))
            self._row_cache[ctx] = cached
        return cached

    def slots(self, ctxs: np.ndarray, toks: np.ndarray) -> np.ndarray:
        """Slot of each (ctx, tok) pair, -1 where the entry does not exist."""
        rows = self.rows
        return np.fromiter(
            (rows.get(c, {}).get(t, -1) for c, t in zip(ctxs.tolist(), toks.tolist(), strict=True)), dtype=np.int64, count=len(ctxs)
        )

    def allocate(self, pairs: Iterable[tuple[int, int]], limit: int) -> int:
        """Create zero-valued entries for new pairs (up to `limit` entries in total); returns how
        many were created. A zero entry leaves the model's function unchanged."""
        new = 0
        for c, t in pairs:
            if self.num_entries + new >= limit:
                break
            row = self.rows.setdefault(c, {})
            if t not in row:
                row[t] = self.num_entries + new
                self._row_cache.pop(c, None)
                new += 1
        if new:
            self.w = np.concatenate([self.w, np.zeros(new)])
        return new


class Scorer:
    """Log-probabilities and exact gradients of the model for one fixed parameter set.

    Precomputes exp(logits - shift) once, so the partition function of a context costs
    O(entries in its row) on top of one O(V) sum."""

    def __init__(self, base: np.ndarray, params: Params) -> None:
        self.params = params
        self.logits = base + params.bias
        self.shift = float(self.logits.max())
        self.exp = np.exp(self.logits - self.shift)
        self.total = float(self.exp.sum())
        self._z: dict[int, float] = {}

    def z(self, ctx: int) -> float:
        """Partition function of context `ctx`, scaled by exp(-shift)."""
        z = self._z.get(ctx)
        if z is None:
            toks, slots = self.params.row(ctx)
            z = self.total + float(np.dot(self.exp[toks], np.expm1(self.params.w[slots]))) if len(toks) else self.total
            self._z[ctx] = z
        return z

    def log_z(self, ctxs: np.ndarray) -> np.ndarray:
        return np.fromiter((np.log(self.z(c)) for c in ctxs.tolist()), dtype=np.float64, count=len(ctxs)) + self.shift

    def logprobs(self, ctxs: np.ndarray, toks: np.ndarray) -> np.ndarray:
        """log p(tok | ctx) for each pair."""
        slots = self.params.slots(ctxs, toks)
        w = np.where(slots >= 0, self.params.w[np.maximum(slots, 0)] if self.params.num_entries else 0.0, 0.0)
        return self.logits[toks] + w - self.log_z(ctxs)

    def full_logprobs(self, ctx: int) -> np.ndarray:
        """log p(. | ctx) over the whole vocabulary (for sampling)."""
        lp = self.logits.copy()
        toks, slots = self.params.row(ctx)
        lp[toks] += self.params.w[slots]
        lp -= self.shift + np.log(self.z(ctx))
        return lp

    def gradient(self, ctxs: np.ndarray, toks: np.ndarray, coef: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradient of sum_q coef[q] * log p(toks[q] | ctxs[q]) w.r.t. (bias, w).

        d log p(t|c) / d bias[j] = d log p(t|c) / d W[c, j] = [j == t] - p(j|c). The dense
        -p(.|c) parts of all queries are summed per context first: O(V + row sizes)."""
        p = self.params
        grad_b = np.zeros(p.vocab_size)
        np.add.at(grad_b, toks, coef)
        grad_w = np.zeros(p.num_entries)
        slots = p.slots(ctxs, toks)
        present = slots >= 0
        np.add.at(grad_w, slots[present], coef[present])
        uniq, inverse = np.unique(ctxs, return_inverse=True)
        per_ctx = np.bincount(inverse, weights=coef, minlength=len(uniq))
        dense_scale = 0.0
        for c, g in zip(uniq.tolist(), per_ctx.tolist(), strict=True):
            if g == 0.0:
                continue
            z = self.z(c)
            dense_scale += g / z
            r_toks, r_slots = p.row(c)
            if len(r_toks):
                ew = np.exp(p.w[r_slots])
                grad_b[r_toks] -= g * self.exp[r_toks] * (ew - 1.0) / z
                grad_w[r_slots] -= g * self.exp[r_toks] * ew / z
        grad_b -= self.exp * dense_scale
        return grad_b, grad_w


@dataclass
class AdamState:
    """AdamW moments, aligned with Params (m_w/v_w grow with the sparse entries)."""

    m_b: np.ndarray
    v_b: np.ndarray
    m_w: np.ndarray
    v_w: np.ndarray
    step: int = 0

    @classmethod
    def zeros(cls, vocab_size: int) -> AdamState:
        return cls(np.zeros(vocab_size), np.zeros(vocab_size), np.zeros(0), np.zeros(0), 0)

    def copy(self) -> AdamState:
        return AdamState(self.m_b.copy(), self.v_b.copy(), self.m_w.copy(), self.v_w.copy(), self.step)

    def fit(self, num_entries: int) -> None:
        """Zero moments for sparse entries created since (a zero-gradient history is exact)."""
        extra = num_entries - len(self.m_w)
        if extra > 0:
            self.m_w = np.concatenate([self.m_w, np.zeros(extra)])
            self.v_w = np.concatenate([self.v_w, np.zeros(extra)])


def _check_tokens(tokens: np.ndarray, vocab_size: int, what: str) -> None:
    if len(tokens) and (tokens.min() < 0 or tokens.max() >= vocab_size):
        raise UserError(f"{what}: token ids must be in [0, {vocab_size}), got range [{tokens.min()}, {tokens.max()}]")


def loss_coefficients(
    loss_fn: str, logprobs: np.ndarray, inputs: dict[str, np.ndarray], config: dict[str, float]
) -> tuple[float, np.ndarray]:
    """(loss, dL/dlogprobs) for one datum of a built-in loss, as documented by Tinker.

    cross_entropy:        L = -sum(w * lp)
    importance_sampling:  L = -sum(exp(lp - q) * A)
    ppo:                  L = -sum(min(r * A, clip(r, lo, hi) * A)),  r = exp(lp - q)
    cispo:                L = -sum(sg(clip(r, lo, hi)) * A * lp)
    """
    if loss_fn == "cross_entropy":
        weights = _require(inputs, "weights", loss_fn).astype(np.float64)
        if weights.shape != logprobs.shape:
            raise UserError(f"weights shape {weights.shape} != target_tokens shape {logprobs.shape}")
        return float(-(weights * logprobs).sum()), -weights
    if loss_fn in ("importance_sampling", "ppo", "cispo"):
        if logprobs.ndim != 1:
            raise UserError(f"{loss_fn} needs 1-D target_tokens")
        q = _require(inputs, "logprobs", loss_fn).astype(np.float64)
        adv = _require(inputs, "advantages", loss_fn).astype(np.float64)
        if q.shape != logprobs.shape or adv.shape != logprobs.shape:
            raise UserError(f"{loss_fn}: logprobs/advantages must have the shape of target_tokens {logprobs.shape}")
        ratio = np.exp(logprobs - q)
        if loss_fn == "importance_sampling":
            return float(-(ratio * adv).sum()), -ratio * adv
        lo = float(config.get("clip_low_threshold", 0.8))
        hi = float(config.get("clip_high_threshold", 1.2))
        clipped = np.clip(ratio, lo, hi)
        if loss_fn == "cispo":
            return float(-(clipped * adv * logprobs).sum()), -clipped * adv
        unclipped_obj, clipped_obj = ratio * adv, clipped * adv
        # The gradient flows through the unclipped branch wherever it is the minimum.
        active = unclipped_obj <= clipped_obj
        return float(-np.minimum(unclipped_obj, clipped_obj).sum()), np.where(active, -ratio * adv, 0.0)
    raise UserError(f"loss_fn {loss_fn!r} is not supported by the stand-in (supported: cross_entropy, importance_sampling, ppo, cispo)")


def _require(inputs: dict[str, np.ndarray], key: str, loss_fn: str) -> np.ndarray:
    if key not in inputs:
        raise UserError(f"loss_fn {loss_fn!r} needs loss_fn_inputs[{key!r}]")
    return inputs[key]


@dataclass
class DatumInput:
    """One decoded datum: input tokens and loss_fn_inputs as numpy arrays."""

    tokens: np.ndarray
    inputs: dict[str, np.ndarray]


class TrainingModel:
    """One training run (the thing a TrainingClient drives): parameters, optimizer state and
    accumulated gradients."""

    def __init__(self, model_id: str, session_id: str, base_model: str, lora_rank: int, base: np.ndarray, max_entries: int) -> None:
        self.model_id = model_id
        self.session_id = session_id
        self.base_model = base_model
        self.lora_rank = lora_rank
        self.base = base
        self.max_entries = max_entries
        self.params = Params(len(base))
        self.adam = AdamState.zeros(len(base))
        self.grad_b = np.zeros(len(base))
        self.grad_w = np.zeros(0)

    def forward_backward(
        self, data: list[DatumInput], loss_fn: str, config: dict[str, float], backward: bool
    ) -> tuple[float, list[np.ndarray]]:
        """Run the loss on every datum; accumulate gradients when `backward`. Returns the summed
        loss and each datum's target logprobs (shape of its target_tokens)."""
        scorer = Scorer(self.base, self.params)
        all_ctx, all_tok, all_coef, outputs = [], [], [], []
        loss = 0.0
        for i, d in enumerate(data):
            targets = _require(d.inputs, "target_tokens", loss_fn).astype(np.int64)
            if targets.ndim not in (1, 2) or targets.shape[0] != len(d.tokens):
                raise UserError(
                    f"datum {i}: target_tokens must have shape (N,) or (N, K) with N = len(model_input) = {len(d.tokens)}, got {targets.shape}"
                )
            _check_tokens(d.tokens, self.params.vocab_size, f"datum {i} model_input")
            _check_tokens(targets.ravel(), self.params.vocab_size, f"datum {i} target_tokens")
            # Bigram: position n predicts targets[n] from the input token at n.
            ctx = np.broadcast_to(d.tokens.reshape(-1, *([1] * (targets.ndim - 1))), targets.shape).ravel()
            lp = scorer.logprobs(ctx, targets.ravel()).reshape(targets.shape)
            datum_loss, coef = loss_coefficients(loss_fn, lp, d.inputs, config)
            loss += datum_loss
            outputs.append(lp)
            all_ctx.append(ctx)
            all_tok.append(targets.ravel())
            all_coef.append(np.asarray(coef, dtype=np.float64).ravel())
        if backward and data:
            ctxs, toks, coefs = np.concatenate(all_ctx), np.concatenate(all_tok), np.concatenate(all_coef)
            # Give the pairs that receive gradient their own entry (a zero entry changes
            # nothing, so the logprobs above stay valid), then take the exact gradient.
            nz = coefs != 0.0
            self.params.allocate(zip(ctxs[nz].tolist(), toks[nz].tolist(), strict=True), self.max_entries)
            grad_b, grad_w = Scorer(self.base, self.params).gradient(ctxs, toks, coefs)
            self.grad_b += grad_b
            self.grad_w = np.concatenate([self.grad_w, np.zeros(len(grad_w) - len(self.grad_w))]) + grad_w
        return loss, outputs

    def optim_step(self, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float, grad_clip_norm: float) -> dict[str, float]:
        """One AdamW step on the accumulated gradient (torch.optim.AdamW semantics), then zero it."""
        p, a = self.params, self.adam
        a.fit(p.num_entries)
        g_b = self.grad_b
        g_w = np.concatenate([self.grad_w, np.zeros(p.num_entries - len(self.grad_w))])
        # grad_b / grad_w hold dL/dtheta summed over the forward_backward calls since the last step.
        norm = float(np.sqrt(np.dot(g_b, g_b) + np.dot(g_w, g_w)))
        if grad_clip_norm > 0 and norm > grad_clip_norm:
            scale = grad_clip_norm / (norm + 1e-6)
            g_b, g_w = g_b * scale, g_w * scale
        a.step += 1
        bc1, bc2 = 1.0 - beta1**a.step, 1.0 - beta2**a.step
        for param, m, v, g in ((p.bias, a.m_b, a.v_b, g_b), (p.w, a.m_w, a.v_w, g_w)):
            if weight_decay:
                param *= 1.0 - lr * weight_decay
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * g * g
            param -= lr * (m / bc1) / (np.sqrt(v / bc2) + eps)
        self.grad_b = np.zeros_like(self.grad_b)
        self.grad_w = np.zeros(0)
        return {"grad_norm:mean": norm, "learning_rate:mean": lr}


@dataclass
class Checkpoint:
    """A saved state (`weights`, with optimizer state) or sampler snapshot (`sampler_weights`)."""

    path: str
    kind: Literal["training", "sampler"]
    model_id: str
    base_model: str
    lora_rank: int
    params: Params
    adam: AdamState | None
    created_at: float
    user_metadata: dict[str, str] | None = None
    ttl_seconds: int | None = None
    expires_at: float | None = None
    """Stand-in clock time after which the checkpoint is gone (None = never)."""
    size_bytes: int = 0
    """Estimated stored size (see `estimate_checkpoint_bytes`)."""

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


@dataclass
class Sampler:
    """A sampling session: a frozen parameter snapshot to sample from."""

    sampling_session_id: str
    base_model: str
    model_path: str | None
    params: Params
    prompt_cache: OrderedDict[bytes, np.ndarray] = field(default_factory=OrderedDict)
    """Recently seen token sequences (LRU, oldest first) for prompt-cache accounting."""
    _fingerprint: bytes | None = None

    @property
    def fingerprint(self) -> bytes:
        """A digest of the weights: noise keyed on it is the same for any sampler of the same
        weights (so a rerun from the same checkpoint sees the same logprobs)."""
        if self._fingerprint is None:
            h = hashlib.sha256(self.base_model.encode())
            h.update(self.params.bias.tobytes())
            for c in sorted(self.params.rows):
                toks, slots = self.params.row(c)
                order = np.argsort(toks)
                h.update(np.int64(c).tobytes() + toks[order].tobytes() + self.params.w[slots[order]].tobytes())
            self._fingerprint = h.digest()
        return self._fingerprint


# --------------------------------------------------------------------------------------------
# Fault injection and request log
# --------------------------------------------------------------------------------------------

FaultKind = Literal["http_status", "drop_connection", "fail_request", "try_again"]


@dataclass
class Fault:
    """One scheduled misbehaviour, fired on the next `times` matching requests.

    `endpoint` is the path after /api/v1/ (e.g. "forward_backward", "retrieve_future");
    None matches every endpoint except the background ones (telemetry, heartbeat,
    dynamic config). `request_type` narrows retrieve_future polls by the SDK's
    X-Tinker-Request-Type header ("ForwardBackward", "OptimStep", "Sample", ...)."""

    kind: FaultKind
    endpoint: str | None
    times: int = 1
    status: int = 0
    retry_after_s: float | None = None
    after_processing: bool = False
    message: str = ""
    category: str = "server"
    request_type: str | None = None
    fired: int = 0

    @property
    def remaining(self) -> int:
        return self.times - self.fired

    def matches(self, endpoint: str, request_type: str | None) -> bool:
        if self.remaining <= 0:
            return False
        if self.endpoint is None:
            if endpoint in BACKGROUND_ENDPOINTS:
                return False
        elif self.endpoint != endpoint:
            return False
        return self.request_type is None or self.request_type == request_type


class Faults:
    """The fault schedule, changeable while the server runs (thread-safe).

    Faults fire in the order they were added; one request fires at most one HTTP-level fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def http_error(
        self,
        status: int,
        times: int = 1,
        endpoint: str | None = None,
        *,
        retry_after_s: float | None = 0.01,
        request_type: str | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with `status` (e.g. 429, 500, 503) without
        running them. `retry_after_s` is sent as Retry-After (whole seconds, rounded up) and
        Retry-After-Ms; the SDK's HTTP layer honours values in (0, 60] s, so the default makes
        its retries near-instant. None sends neither header (the SDK then backs off itself)."""
        return self.add(Fault("http_status", endpoint, times, status=status, retry_after_s=retry_after_s, request_type=request_type))

    def drop_connection(
        self, times: int = 1, endpoint: str | None = None, *, after_processing: bool = False, request_type: str | None = None
    ) -> Fault:
        """Close the socket without answering the next `times` matching requests. With
        `after_processing` the request is run first (so the client's retry must be deduplicated)."""
        return self.add(Fault("drop_connection", endpoint, times, after_processing=after_processing, request_type=request_type))

    def fail_request(
        self,
        endpoint: str = "forward_backward",
        times: int = 1,
        *,
        message: str = "injected server-side failure",
        category: Literal["server", "user", "unknown"] = "server",
    ) -> Fault:
        """Accept the next `times` submissions to `endpoint` but fail their futures, so the SDK
        raises RequestFailedError. The request is not run. `endpoint` must return a future."""
        if endpoint not in FUTURE_ENDPOINTS:
            raise ValueError(f"fail_request needs one of {sorted(FUTURE_ENDPOINTS)}, got {endpoint!r}")
        return self.add(Fault("fail_request", endpoint, times, message=message, category=category))

    def try_again(self, times: int = 1, request_type: str | None = None) -> Fault:
        """Answer the next `times` retrieve_future polls with "try_again" (request still queued).
        The SDK re-polls at once, so keep `times` small."""
        return self.add(Fault("try_again", "retrieve_future", times, request_type=request_type))

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        """Faults that have not fired their last time yet."""
        with self._lock:
            return [f for f in self._faults if f.remaining > 0]

    @property
    def all(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def take(self, kinds: Sequence[FaultKind], endpoint: str, request_type: str | None = None) -> Fault | None:
        """Fire (consume one use of) the first pending fault of `kinds` matching the request."""
        with self._lock:
            for f in self._faults:
                if f.kind in kinds and f.matches(endpoint, request_type):
                    f.fired += 1
                    return f
        return None


@dataclass(frozen=True)
class LogEntry:
    """One HTTP request as the stand-in saw it."""

    time: float
    method: str
    endpoint: str
    status: int
    """HTTP status answered; 0 when the connection was dropped without an answer."""
    fault: str | None
    """Which injected fault shaped the answer, if any ("http_status:503", "drop_connection", ...)."""
    retry_count: int
    """The SDK's x-stainless-retry-count header: >0 on its HTTP-layer retries."""
    request_type: str | None
    """X-Tinker-Request-Type on retrieve_future polls (e.g. "ForwardBackward")."""


@dataclass(frozen=True)
class OpRecord:
    """One training/sampling operation the service executed (or failed), after deduplication."""

    op: str
    """create_model, load_weights, forward, forward_backward, optim_step, save_state,
    save_weights_for_sampler, sample."""
    target: str
    seq_id: int | None
    request_id: str
    failed: bool


@dataclass(frozen=True)
class SampleRecord:
    """One executed sample request (asample / compute_logprobs), for cache and diversity asserts."""

    sampler_id: str
    prompt_tokens: int
    num_samples: int
    seed: int | None
    max_tokens: int
    cache_hit_tokens: int
    """What the response reported as prompt_cache_hit_tokens."""
    distinct_sequences: int
    """Distinct token sequences among the num_samples returned."""


class RequestLog:
    """Thread-safe record of HTTP requests and executed operations."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[LogEntry] = []
        self._ops: list[OpRecord] = []
        self._samples: list[SampleRecord] = []

    def add_sample(self, record: SampleRecord) -> None:
        with self._lock:
            self._samples.append(record)

    @property
    def samples(self) -> list[SampleRecord]:
        with self._lock:
            return list(self._samples)

    def add(self, entry: LogEntry) -> None:
        with self._lock:
            self._entries.append(entry)

    def add_op(self, op: OpRecord) -> None:
        with self._lock:
            self._ops.append(op)

    @property
    def entries(self) -> list[LogEntry]:
        with self._lock:
            return list(self._entries)

    @property
    def ops(self) -> list[OpRecord]:
        with self._lock:
            return list(self._ops)

    def count(self, endpoint: str | None = None, status: int | None = None) -> int:
        """HTTP requests seen, optionally only to `endpoint` and/or answered with `status`."""
        return sum(1 for e in self.entries if (endpoint is None or e.endpoint == endpoint) and (status is None or e.status == status))

    def statuses(self, endpoint: str) -> list[int]:
        """The statuses answered to `endpoint`, in order (0 = dropped)."""
        return [e.status for e in self.entries if e.endpoint == endpoint]

    def endpoint_counts(self) -> Counter[str]:
        return Counter(e.endpoint for e in self.entries)

    def op_count(self, op: str, *, include_failed: bool = False) -> int:
        """How many times operation `op` was executed (each at most once per seq_id)."""
        return sum(1 for o in self.ops if o.op == op and (include_failed or not o.failed))

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._ops.clear()
            self._samples.clear()


# --------------------------------------------------------------------------------------------
# Wire helpers
# --------------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    fault: str | None = None


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode(), headers=headers or {})


_PROTO_TO_NUMPY: dict[int, np.dtype] = {
    pb.DTYPE_FLOAT32: np.dtype(np.float32),
    pb.DTYPE_INT64: np.dtype(np.int64),
    pb.DTYPE_INT32: np.dtype(np.int32),
    pb.DTYPE_BFLOAT16: np.dtype(np.uint16),
}


def tensor_from_proto(t: pb.Tensor) -> np.ndarray:
    """Decode a request Tensor (dense or sparse CSR) into a dense numpy array.

    Sparse cells not listed are 0: the pad value is not on the wire, and for the sparse-eligible
    keys (target_tokens, weights) a 0 weight makes the target irrelevant."""
    dtype = _PROTO_TO_NUMPY.get(t.dtype)
    if dtype is None:
        raise UserError(f"unsupported tensor dtype {t.dtype}")
    shape = list(t.shape)
    if t.HasField("sparse_csr"):
        values = np.frombuffer(t.sparse_csr.values, dtype=dtype)
        crow = np.frombuffer(t.sparse_csr.crow_indices, dtype=np.int64)
        col = np.frombuffer(t.sparse_csr.col_indices, dtype=np.int64)
        dense = np.zeros(shape, dtype=dtype)
        for r in range(len(crow) - 1):
            dense[r, col[crow[r] : crow[r + 1]]] = values[crow[r] : crow[r + 1]]
        arr = dense
    else:
        arr = np.frombuffer(t.dense, dtype=dtype)
        if shape:
            arr = arr.reshape(shape)
    if t.dtype == pb.DTYPE_BFLOAT16:
        arr = (arr.astype(np.uint32) << 16).view(np.float32)
    return arr.copy()


def tokens_from_chunks(chunks: Iterable[Any], *, proto: bool) -> np.ndarray:
    """Token ids of a ModelInput; only text chunks are supported (no images/audio)."""
    parts: list[np.ndarray] = []
    for chunk in chunks:
        if proto:
            if chunk.WhichOneof("chunk") != "encoded_text":
                raise UserError("only encoded_text chunks are supported by the stand-in")
            parts.append(np.frombuffer(chunk.encoded_text.tokens, dtype=np.int32).astype(np.int64))
        else:
            if chunk.get("type", "encoded_text") != "encoded_text":
                raise UserError(f"only encoded_text chunks are supported by the stand-in, got {chunk.get('type')!r}")
            parts.append(np.asarray(chunk["tokens"], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def forward_backward_output_proto(loss: float, logprobs: list[np.ndarray]) -> bytes:
    """Encode a ForwardBackwardOutput the way the SDK's response_conv decodes it: one
    ArrayRecord per run of datums with the same trailing shape, field "logprobs" (float32)."""
    out = pb.ForwardBackwardOutput(loss_fn_output_type="ArrayRecord")
    out.metrics["loss:sum"] = loss
    for trailing, group in itertools.groupby(logprobs, key=lambda a: tuple(a.shape[1:])):
        arrays = [a.astype(np.float32) for a in group]
        rec = out.loss_fn_outputs.add(type_tag="ArrayRecord", num_datums=len(arrays))
        bt = rec.fields["logprobs"]
        bt.dtype = pb.DTYPE_FLOAT32
        bt.trailing_shape.extend(trailing)
        bt.data = b"".join(a.tobytes() for a in arrays)
        bt.offsets = np.cumsum([0] + [a.nbytes for a in arrays], dtype=np.int64).tobytes()
    return out.SerializeToString()


# --------------------------------------------------------------------------------------------
# The service
# --------------------------------------------------------------------------------------------


@dataclass
class _Future:
    request_type: str
    json_body: dict[str, Any] | None = None
    proto_body: bytes | None = None
    error: tuple[str, str] | None = None  # (message, category)


@dataclass
class _Session:
    session_id: str
    created_at: float
    last_heartbeat: float
    finished: str | None = None


@dataclass
class _RequestContext:
    method: str
    endpoint: str
    path_param: str | None
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            obj = json.loads(self.body or b"{}")
        except json.JSONDecodeError as e:
            raise HTTPError(400, f"invalid JSON body: {e}") from e
        if not isinstance(obj, dict):
            raise HTTPError(400, "JSON body must be an object")
        return obj


class TinkerService:
    """All service state and request handling, independent of the HTTP plumbing."""

    def __init__(
        self,
        *,
        api_keys: Iterable[str],
        vocab_size: int,
        eos_token_ids: Sequence[int],
        eos_rank: int,
        seed: int,
        learning_rate_scale: float,
        default_max_tokens: int,
        decode: Callable[[list[int]], str] | None,
        use_pyqwest_transport: bool,
        fwdbwd_max_chunk_len: int,
        supported_models: Sequence[str] | None,
        max_bigram_entries: int,
        faults: Faults,
        log: RequestLog,
        behaviour: Behaviour | None = None,
        model_specs: dict[str, ModelSpec] | None = None,
        checkpoint_bytes_per_param: dict[str, float] | None = None,
        billing_max_pause_s: int = 3600,
    ) -> None:
        self.behaviour = behaviour if behaviour is not None else Behaviour()
        self.model_specs: dict[str, ModelSpec] = dict(DEFAULT_MODEL_SPECS if model_specs is None else model_specs)
        for name in supported_models or ():
            self.model_specs.setdefault(name, ModelSpec(name))
        self.checkpoint_bytes_per_param = dict(checkpoint_bytes_per_param or DEFAULT_CHECKPOINT_BYTES_PER_PARAM)
        self.billing_max_pause_s = billing_max_pause_s
        self.retired_models: set[str] = set()
        self.billing_blocked: frozenset[str] | None = None  # None = not blocked; empty = every gated endpoint
        self.billing_detail = "Payment required: billing is not set up or the account is out of credits"
        self.clock_offset = 0.0
        self.deleted_checkpoints: dict[str, Checkpoint] = {}
        self.api_keys = set(api_keys)
        self.vocab_size = vocab_size
        self.eos_token_ids = tuple(eos_token_ids)
        self.eos_rank = eos_rank
        self.learning_rate_scale = learning_rate_scale
        self.default_max_tokens = default_max_tokens
        self.decode = decode
        self.use_pyqwest_transport = use_pyqwest_transport
        self.fwdbwd_max_chunk_len = fwdbwd_max_chunk_len
        self.supported_models = list(supported_models) if supported_models is not None else None
        self.max_bigram_entries = max_bigram_entries
        self.faults = faults
        self.log = log
        self.warnings: list[str] = []
        self.internal_errors: list[str] = []  # stand-in bugs; tests can assert this stays empty
        # One lock for all state: requests are cheap and serialising them keeps the model
        # updates in a well-defined order (the SDK orders training requests by seq_id anyway).
        self.lock = threading.RLock()
        self.rng = np.random.default_rng(seed)
        self.sessions: dict[str, _Session] = {}
        self.models: dict[str, TrainingModel] = {}
        self.checkpoints: dict[str, Checkpoint] = {}
        self.samplers: dict[str, Sampler] = {}
        self.futures: dict[str, _Future] = {}
        self.executed: dict[tuple[str, int], str] = {}  # (model or sampler id, seq_id) -> request_id
        self._request_counter = itertools.count(1)
        self._routes: dict[tuple[str, str], Callable[[_RequestContext], Response]] = {
            ("POST", "client/config"): self._client_config,
            ("POST", "client/dynamic_config"): lambda ctx: json_response({"refresh_interval_sec": 300}),
            ("GET", "healthz"): lambda ctx: json_response({"status": "ok"}),
            ("GET", "get_server_capabilities"): self._capabilities,
            ("POST", "telemetry"): lambda ctx: json_response({"status": "accepted"}),
            ("POST", "create_session"): self._create_session,
            ("POST", "session_heartbeat"): self._session_heartbeat,
            ("POST", "sessions/finish"): self._finish_session,
            ("POST", "create_model"): self._create_model,
            ("POST", "get_info"): self._get_info,
            ("POST", "forward_backward"): self._forward_backward,
            ("POST", "optim_step"): self._optim_step,
            ("POST", "save_weights"): self._save_weights,
            ("POST", "save_weights_for_sampler"): self._save_weights_for_sampler,
            ("POST", "load_weights"): self._load_weights,
            ("POST", "create_sampling_session"): self._create_sampling_session,
            ("GET", "samplers"): self._get_sampler,
            ("GET", "training_runs/checkpoints"): self._list_checkpoints,
            ("PUT", "training_runs/checkpoints/ttl"): self._set_checkpoint_ttl,
            ("DELETE", "training_runs/checkpoints/delete"): self._delete_checkpoint,
            ("GET", "billing/usage/checkpoints/current"): self._storage_usage,
            ("POST", "asample"): self._asample,
            ("POST", "retrieve_future"): self._retrieve_future,
            ("POST", "cancel_future"): lambda ctx: json_response({}),
        }

    # -- entry point ------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        """Answer one HTTP request (and log it)."""
        endpoint, param = self._endpoint(path)
        ctx = _RequestContext(method, endpoint, param, headers, body)
        request_type = headers.get("x-tinker-request-type")
        response = self._answer(ctx, request_type)
        retry_count = int(headers.get("x-stainless-retry-count", "0") or 0)
        self.log.add(
            LogEntry(time.time(), method, endpoint, 0 if response.drop else response.status, response.fault, retry_count, request_type)
        )
        return response

    @staticmethod
    def _endpoint(path: str) -> tuple[str, str | None]:
        """Map a URL path to a log/route name (and its path parameter, if any)."""
        rest = path.removeprefix("/api/v1/") if path.startswith("/api/v1/") else path.lstrip("/")
        parts = rest.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "sessions" and parts[2] == "finish":
            return "sessions/finish", parts[1]
        if len(parts) == 2 and parts[0] == "samplers":
            return "samplers", parts[1]
        if len(parts) == 3 and parts[0] == "training_runs" and parts[2] == "checkpoints":
            return "training_runs/checkpoints", parts[1]
        if len(parts) >= 5 and parts[0] == "training_runs" and parts[2] == "checkpoints":
            # .../checkpoints/{weights|sampler_weights}/{name}[/ttl]: the parameter is the path
            if parts[-1] == "ttl":
                return "training_runs/checkpoints/ttl", f"tinker://{parts[1]}/{'/'.join(parts[3:-1])}"
            return "training_runs/checkpoints/delete", f"tinker://{parts[1]}/{'/'.join(parts[3:])}"
        return "/".join(parts), None

    # -- clock, model catalogue -------------------------------------------------------------

    def now(self) -> float:
        """The stand-in's clock (wall time plus `StandIn.advance_clock` offsets): checkpoint
        creation and expiry use it."""
        return time.time() + self.clock_offset

    def spec(self, base_model: str) -> ModelSpec | None:
        return self.model_specs.get(base_model)

    def offered_models(self) -> list[ModelSpec]:
        """What get_server_capabilities lists."""
        if self.behaviour.enforce_model_limits:
            specs = list(self.model_specs.values())
        else:
            specs = [self.model_specs.get(m) or ModelSpec(m) for m in self.supported_models or []]
        return [s for s in specs if s.name not in self.retired_models]

    def _check_not_retired(self, base_model: str) -> None:
        if base_model in self.retired_models:
            raise HTTPError(
                400,
                f"Model {base_model} has been retired and is no longer available for training or sampling "
                "(see the Tinker docs' Model Deprecations page for replacements)",
            )

    def _check_context(self, base_model: str, n_prompt: int, max_tokens: int) -> None:
        spec = self.spec(base_model)
        if self.behaviour.enforce_model_limits and spec is not None and n_prompt + max_tokens > spec.max_context_length:
            # The real service's message, as quoted in tinker-cookbook's capture proxy.
            raise HTTPError(
                400,
                "Prompt length plus max_tokens exceeds the model's context window: "
                f"{n_prompt} prompt tokens + {max_tokens} max_tokens > {spec.max_context_length}.",
            )

    def _check_ttl(self, ttl: Any) -> int | None:
        if ttl is None:
            return None
        ttl = int(ttl)
        if ttl <= 0 or (self.behaviour.enforce_model_limits and not TTL_MIN_SECONDS <= ttl <= TTL_MAX_SECONDS):
            lo = TTL_MIN_SECONDS if self.behaviour.enforce_model_limits else 1
            raise HTTPError(400, f"ttl_seconds must be between {lo} and {TTL_MAX_SECONDS} (got {ttl}), or None to never expire")
        return ttl

    def checkpoint_size(self, base_model: str, lora_rank: int, kind: str) -> int:
        spec = self.spec(base_model)
        per_rank = spec.lora_params_per_rank if spec is not None else DEFAULT_LORA_PARAMS_PER_RANK
        return estimate_checkpoint_bytes(lora_rank, kind, per_rank, self.checkpoint_bytes_per_param)

    def _answer(self, ctx: _RequestContext, request_type: str | None) -> Response:
        key = ctx.headers.get("x-api-key")
        if key not in self.api_keys:
            # What the SDK maps to AuthenticationError (it never retries a 401).
            return json_response({"detail": "Invalid API key"}, 401)
        blocked = self.billing_blocked
        if blocked is not None and (ctx.endpoint in blocked if blocked else ctx.endpoint not in BILLING_EXEMPT_ENDPOINTS):
            # What the SDK raises as BillingError (tinker._client._make_status_error).
            resp = json_response({"detail": self.billing_detail}, 402)
            resp.fault = "billing:402"
            return resp
        fault = self.faults.take(("http_status", "drop_connection"), ctx.endpoint, request_type)
        if fault is not None and fault.kind == "http_status":
            headers: dict[str, str] = {}
            if fault.retry_after_s is not None:
                headers["Retry-After"] = str(max(1, int(np.ceil(fault.retry_after_s))))
                headers["Retry-After-Ms"] = str(int(round(fault.retry_after_s * 1000)))
            resp = json_response({"detail": f"injected HTTP {fault.status}"}, fault.status, headers)
            resp.fault = f"http_status:{fault.status}"
            return resp
        if fault is not None and not fault.after_processing:
            return Response(0, b"", drop=True, fault="drop_connection")
        route = self._routes.get((ctx.method, ctx.endpoint))
        try:
            if route is None:
                raise HTTPError(404, f"{ctx.method} /api/v1/{ctx.endpoint} is not implemented by the Tinker stand-in")
            response = route(ctx)
        except HTTPError as e:
            response = json_response({"detail": e.detail}, e.status)
        except (KeyError, ValueError, TypeError) as e:
            # A missing or malformed field. 400, not 500: the SDK retries 5xx for minutes.
            response = json_response({"detail": f"malformed {ctx.endpoint} request: {type(e).__name__}: {e}"}, 400)
        except Exception as e:
            logger.exception("stand-in handler for %s failed", ctx.endpoint)
            self.internal_errors.append(f"{ctx.endpoint}: {type(e).__name__}: {e}")
            response = json_response({"detail": f"stand-in internal error: {type(e).__name__}: {e}"}, 500)
        if fault is not None:  # drop after processing
            return Response(0, b"", drop=True, fault="drop_connection:after_processing")
        return response

    # -- futures ----------------------------------------------------------------------------

    def _submit(
        self,
        endpoint: str,
        op: str,
        request_type: str,
        target: str,
        seq_id: int | None,
        run: Callable[[], tuple[dict[str, Any] | None, bytes | None]],
        extra: dict[str, Any] | None = None,
        dedupe: bool = True,
    ) -> Response:
        """Run a submitted operation once and store its result as a future.

        A request re-sent with the same (target, seq_id) - the SDK retrying after a 5xx, 429 or
        lost answer - gets the first request's id back and is not run again. Creation requests
        use seq_id 0; the SDK numbers a model's training requests from 1. With `dedupe` off
        (saves under save_conflict "http_409") a re-sent request runs again."""
        key = (target, seq_id) if seq_id is not None and dedupe else None
        with self.lock:
            if key is not None and key in self.executed:
                return json_response({"request_id": self.executed[key], **(extra or {})})
            request_id = f"req-{next(self._request_counter)}"
            future = _Future(request_type)
            fault = self.faults.take(("fail_request",), endpoint)
            if fault is not None:
                future.error = (fault.message, fault.category)
            else:
                try:
                    future.json_body, future.proto_body = run()
                except UserError as e:
                    future.error = (str(e), "user")
                except HTTPError:
                    raise
                except Exception as e:  # a stand-in bug: fail the request loudly, don't hang the client
                    logger.exception("stand-in %s failed", op)
                    self.internal_errors.append(f"{op}: {type(e).__name__}: {e}")
                    future.error = (f"{type(e).__name__}: {e}", "server")
            self.futures[request_id] = future
            if key is not None:
                self.executed[key] = request_id
            self.log.add_op(OpRecord(op, target, seq_id, request_id, future.error is not None))
            return json_response({"request_id": request_id, **(extra or {})})

    def _retrieve_future(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        request_id = str(body.get("request_id"))
        with self.lock:
            future = self.futures.get(request_id)
        if future is None:
            raise HTTPError(404, f"unknown request_id {request_id!r}")
        fault = self.faults.take(("try_again",), "retrieve_future", ctx.headers.get("x-tinker-request-type"))
        if fault is not None:
            resp = json_response({"type": "try_again", "request_id": request_id, "queue_state": "active"})
            resp.fault = "try_again"
            return resp
        if future.error is not None:
            message, category = future.error
            return json_response({"error": message, "category": category})
        if future.proto_body is not None:
            return Response(200, future.proto_body, content_type="application/x-protobuf")
        return json_response(future.json_body)

    # -- config and sessions ---------------------------------------------------------------

    def _client_config(self, ctx: _RequestContext) -> Response:
        # Flags the SDK reads once per client. API keys only (no JWT exchange), no zstd bodies,
        # no session-wide retrieve_futures poller, custom losses stay client-side.
        return json_response(
            {
                "pjwt_auth_enabled": False,
                "credential_default_source": "api_key",
                "proto_compress_fwdbwd": False,
                "parallel_fwdbwd_chunks": True,
                "fwdbwd_max_chunk_len": self.fwdbwd_max_chunk_len,
                "use_pyqwest_transport": self.use_pyqwest_transport,
                "sample_use_retrieve_futures": False,
                "custom_loss_server_side": False,
                "sample_join_sampling_session": False,
                # How long the SDK keeps pausing (5 s per retry) on 402s before it raises
                # BillingError; 3600 is the SDK's own default (ClientConfigResponse).
                "billing_exception_max_pause_duration_sec": self.billing_max_pause_s,
            }
        )

    def _capabilities(self, ctx: _RequestContext) -> Response:
        # max_lora_rank / supported_lora_ranks are extra fields: the SDK's SupportedModel (0.38.0)
        # has only model_name, max_context_length, trainable, sampleable and drops the rest.
        return json_response(
            {
                "supported_models": [
                    {
                        "model_name": m.name,
                        "max_context_length": m.max_context_length,
                        "trainable": m.trainable,
                        "sampleable": m.sampleable,
                        "max_lora_rank": m.max_lora_rank,
                        "supported_lora_ranks": m.supported_lora_ranks,
                    }
                    for m in self.offered_models()
                ]
            }
        )

    def _create_session(self, ctx: _RequestContext) -> Response:
        ctx.json()
        session_id = str(uuid.uuid4())
        now = time.time()
        with self.lock:
            self.sessions[session_id] = _Session(session_id, now, now)
        return json_response({"type": "create_session", "session_id": session_id})

    def _session(self, session_id: str) -> _Session:
        session = self.sessions.get(session_id)
        if session is None:
            raise HTTPError(404, f"unknown session {session_id!r}")
        if session.finished is not None:
            raise HTTPError(410, f"session {session_id!r} has finished ({session.finished})")
        return session

    def _session_heartbeat(self, ctx: _RequestContext) -> Response:
        session_id = str(ctx.json().get("session_id"))
        with self.lock:
            self._session(session_id).last_heartbeat = time.time()
        return json_response({"type": "session_heartbeat"})

    def _finish_session(self, ctx: _RequestContext) -> Response:
        reason = ctx.json().get("reason") or {}
        with self.lock:
            session = self.sessions.get(ctx.path_param or "")
            if session is None:
                raise HTTPError(404, f"unknown session {ctx.path_param!r}")
            if session.finished is None:  # first finish reason wins
                session.finished = str(reason.get("type", "success"))
        return json_response({})

    # -- training ---------------------------------------------------------------------------

    def _model(self, model_id: str) -> TrainingModel:
        model = self.models.get(model_id)
        if model is None:
            raise HTTPError(404, f"unknown model_id {model_id!r}")
        self._session(model.session_id)  # rejects models of finished sessions
        return model

    def _new_model(self, model_id: str, session_id: str, base_model: str, lora_rank: int) -> TrainingModel:
        if self.supported_models is not None and base_model not in self.supported_models:
            raise UserError(f"base model {base_model!r} is not supported (supported: {self.supported_models})")
        base = base_logits(base_model, self.vocab_size, self.eos_token_ids, self.eos_rank)
        model = TrainingModel(model_id, session_id, base_model, lora_rank, base, self.max_bigram_entries)
        self.models[model_id] = model
        return model

    def _check_new_model(self, base_model: str, rank: int) -> None:
        """HTTP-level checks of create_model: a retired model always; with
        enforce_model_limits an unknown model and a bad rank, with the service's messages
        (tinker-cookbook's error reference and issue #9)."""
        self._check_not_retired(base_model)
        if not self.behaviour.enforce_model_limits:
            return
        spec = self.spec(base_model)
        if spec is None or not spec.trainable:
            raise HTTPError(400, f"Model {base_model} is not supported for training (see get_server_capabilities)")
        if rank <= 0:
            raise HTTPError(400, "lora_config.rank must be positive")
        if rank & (rank - 1):
            raise HTTPError(400, "lora_config.rank must be a power of 2")
        if rank > spec.max_lora_rank:
            raise HTTPError(
                400, f"Lora_config.rank {rank} exceeds max LoRA rank {spec.max_lora_rank} for model {base_model.split('/')[-1]}"
            )

    def _create_model(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        session_id, seq = str(body["session_id"]), int(body["model_seq_id"])
        with self.lock:
            self._session(session_id)
            model_id = f"{session_id}:train:{seq}"
            optimizer = (body.get("optimizer_config") or {}).get("type", "adamw")
            lora = body.get("lora_config") or {}
            self._check_new_model(str(body["base_model"]), int(lora.get("rank", 32)))

            def run() -> tuple[dict[str, Any], None]:
                if optimizer != "adamw":
                    raise UserError(f"optimizer {optimizer!r} is not supported by the stand-in (adamw only)")
                self._new_model(model_id, session_id, str(body["base_model"]), int(lora.get("rank", 32)))
                return {"model_id": model_id, "type": "create_model"}, None

            return self._submit("create_model", "create_model", "CreateModel", model_id, 0, run, {"model_id": model_id})

    def _get_info(self, ctx: _RequestContext) -> Response:
        model_id = str(ctx.json()["model_id"])
        with self.lock:
            model = self._model(model_id)
        return json_response(
            {
                "type": "get_info",
                "model_id": model.model_id,
                "model_data": {"arch": "tinker-standin-bigram", "model_name": model.base_model, "tokenizer_id": model.base_model},
                "optimizer_config": {"type": "adamw"},
                "is_lora": True,
                "lora_rank": model.lora_rank,
                "model_name": model.base_model,
            }
        )

    def _forward_backward(self, ctx: _RequestContext) -> Response:
        body = ctx.body
        if ctx.headers.get("content-encoding", "").lower() == "zstd":
            import zstandard  # a dependency of the SDK itself

            body = zstandard.ZstdDecompressor().decompressobj().decompress(body)
        msg = pb.ForwardBackwardRequest()
        try:
            msg.ParseFromString(body)
        except Exception as e:
            raise HTTPError(400, f"invalid ForwardBackwardRequest protobuf: {e}") from e
        backward = not msg.forward_only
        op = "forward_backward" if backward else "forward"
        with self.lock:
            model = self._model(msg.model_id)
            spec = self.spec(model.base_model)
            if self.behaviour.enforce_model_limits and spec is not None:
                for i, d in enumerate(msg.data):
                    n = sum(len(c.encoded_text.tokens) // 4 for c in d.model_input if c.WhichOneof("chunk") == "encoded_text")
                    if n > spec.max_context_length:
                        # The message is the stand-in's: the service's for datums is not published.
                        raise HTTPError(400, f"datum {i}: {n} tokens exceed the model's context window of {spec.max_context_length}")

            def run() -> tuple[None, bytes]:
                config: dict[str, float] = dict(msg.loss_fn_config)
                for k, v in msg.loss_fn_config_v2.items():
                    if v.WhichOneof("value") == "number":
                        config[k] = v.number
                data = [
                    DatumInput(
                        tokens_from_chunks(d.model_input, proto=True), {k: tensor_from_proto(t) for k, t in d.loss_fn_inputs.items()}
                    )
                    for d in msg.data
                ]
                loss, logprobs = model.forward_backward(data, msg.loss_fn, config, backward)
                return None, forward_backward_output_proto(loss, logprobs)

            request_type = "ForwardBackward" if backward else "Forward"
            return self._submit("forward_backward", op, request_type, model.model_id, msg.seq_id, run, {"model_id": model.model_id})

    def _optim_step(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        with self.lock:
            model = self._model(str(body["model_id"]))

            def run() -> tuple[dict[str, Any], None]:
                if "adam_params" not in body:
                    raise UserError("only AdamParams are supported by the stand-in")
                a = body["adam_params"]
                lr = float(a.get("learning_rate", 1e-4)) * self.learning_rate_scale
                metrics = model.optim_step(
                    lr,
                    float(a.get("beta1", 0.9)),
                    float(a.get("beta2", 0.95)),
                    float(a.get("eps", 1e-12)),
                    float(a.get("weight_decay", 0.0)),
                    float(a.get("grad_clip_norm", 0.0)),
                )
                return {"metrics": metrics}, None

            return self._submit(
                "optim_step",
                "optim_step",
                "OptimStep",
                model.model_id,
                body.get("seq_id"),
                run,
                {"model_id": model.model_id},
            )

    @staticmethod
    def _checkpoint_name(name: Any) -> str:
        if not isinstance(name, str) or not name or "/" in name:
            raise UserError(f"checkpoint name must be a non-empty string without '/', got {name!r}")
        return name

    def _live_checkpoint(self, path: str) -> Checkpoint | None:
        """The checkpoint at `path` unless it never existed, was deleted or has expired."""
        ckpt = self.checkpoints.get(path)
        return None if ckpt is None or ckpt.expired(self.now()) else ckpt

    def _check_save_conflict(self, path: str | None, overwrite: bool) -> None:
        """save_conflict "http_409": a save under a live name is answered 409 at submission,
        before the (model, seq_id) deduplication, so a save the SDK re-sends after losing the
        first answer conflicts with itself, as tinker-cookbook's debug notes describe."""
        if self.behaviour.save_conflict == "http_409" and path is not None and not overwrite and self._live_checkpoint(path):
            raise HTTPError(409, f"Checkpoint {path} already exists")

    def _store_checkpoint(
        self, path: str, kind: Literal["training", "sampler"], model: TrainingModel, body: dict[str, Any], ttl: int | None
    ) -> None:
        if kind == "training":
            model.adam.fit(model.params.num_entries)
        now = self.now()
        self.checkpoints[path] = Checkpoint(
            path,
            kind,
            model.model_id,
            model.base_model,
            model.lora_rank,
            model.params.copy(),
            model.adam.copy() if kind == "training" else None,
            now,
            body.get("user_metadata"),
            ttl_seconds=ttl,
            expires_at=now + ttl if ttl is not None else None,
            size_bytes=self.checkpoint_size(model.base_model, model.lora_rank, kind),
        )

    def _save_weights(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        with self.lock:
            model = self._model(str(body["model_id"]))
            ttl = self._check_ttl(body.get("ttl_seconds"))
            name = body.get("path")
            overwrite = bool(body.get("overwrite", False))
            self._check_save_conflict(f"tinker://{model.model_id}/weights/{name}" if isinstance(name, str) else None, overwrite)

            def run() -> tuple[dict[str, Any], None]:
                path = f"tinker://{model.model_id}/weights/{self._checkpoint_name(name)}"
                if self._live_checkpoint(path) and not overwrite:
                    raise UserError(f"checkpoint {path} already exists (pass overwrite=True to replace it)")
                self._store_checkpoint(path, "training", model, body, ttl)
                return {"path": path, "type": "save_weights"}, None

            return self._submit(
                "save_weights",
                "save_state",
                "SaveWeights",
                model.model_id,
                body.get("seq_id"),
                run,
                {"model_id": model.model_id},
                dedupe=self.behaviour.save_conflict != "http_409",
            )

    def _save_weights_for_sampler(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        with self.lock:
            model = self._model(str(body["model_id"]))
            ttl = self._check_ttl(body.get("ttl_seconds"))
            name = body.get("path")
            self._check_save_conflict(f"tinker://{model.model_id}/sampler_weights/{name}" if isinstance(name, str) else None, False)

            def run() -> tuple[dict[str, Any], None]:
                if name is None:
                    # save_weights_and_get_sampling_client: an unnamed snapshot and a sampling
                    # session on it, in one step.
                    self._check_not_retired(model.base_model)
                    sampling_session_id = f"{model.session_id}:sample:{int(body['sampling_session_seq_id'])}"
                    self.samplers[sampling_session_id] = Sampler(sampling_session_id, model.base_model, None, model.params.copy())
                    return {"sampling_session_id": sampling_session_id, "type": "save_weights_for_sampler"}, None
                path = f"tinker://{model.model_id}/sampler_weights/{self._checkpoint_name(name)}"
                if self._live_checkpoint(path):
                    # The request has no overwrite flag; being stricter than the service may be
                    # is the safe side for a test double.
                    raise UserError(f"sampler checkpoint {path} already exists")
                self._store_checkpoint(path, "sampler", model, body, ttl)
                return {"path": path, "type": "save_weights_for_sampler"}, None

            return self._submit(
                "save_weights_for_sampler",
                "save_weights_for_sampler",
                "SaveWeightsForSampler",
                model.model_id,
                body.get("seq_id"),
                run,
                {"model_id": model.model_id},
                dedupe=self.behaviour.save_conflict != "http_409",
            )

    @staticmethod
    def _iso(t: float | None) -> str | None:
        return None if t is None else datetime.fromtimestamp(t, UTC).isoformat()

    def _checkpoint_json(self, c: Checkpoint) -> dict[str, Any]:
        return {
            "checkpoint_id": c.path.split("/", 3)[3],  # "weights/<name>" or "sampler_weights/<name>"
            "checkpoint_type": c.kind,
            "time": self._iso(c.created_at),
            "tinker_path": c.path,
            "size_bytes": c.size_bytes,
            "user_metadata": c.user_metadata,
            "expires_at": self._iso(c.expires_at),
        }

    def _list_checkpoints(self, ctx: _RequestContext) -> Response:
        """RestClient.list_checkpoints(training_run_id): the run's live checkpoints, oldest first,
        with expires_at and the size estimate. Expired checkpoints are gone from the list."""
        model_id = ctx.path_param or ""
        with self.lock:
            now = self.now()
            ckpts = sorted(
                (c for c in self.checkpoints.values() if c.model_id == model_id and not c.expired(now)), key=lambda c: c.created_at
            )
            return json_response({"checkpoints": [self._checkpoint_json(c) for c in ckpts]})

    def _owned_checkpoint(self, path: str | None) -> Checkpoint:
        with self.lock:
            ckpt = self._live_checkpoint(path or "")
        if ckpt is None:
            raise HTTPError(404, f"checkpoint {path!r} not found")
        return ckpt

    def _set_checkpoint_ttl(self, ctx: _RequestContext) -> Response:
        """RestClient.set_checkpoint_ttl_from_tinker_path: expire `ttl_seconds` from now, or never."""
        ttl = self._check_ttl(ctx.json().get("ttl_seconds"))
        with self.lock:
            ckpt = self._owned_checkpoint(ctx.path_param)
            ckpt.ttl_seconds = ttl
            ckpt.expires_at = self.now() + ttl if ttl is not None else None
        return json_response(None)

    def _delete_checkpoint(self, ctx: _RequestContext) -> Response:
        """RestClient.delete_checkpoint[_from_tinker_path]."""
        with self.lock:
            ckpt = self._owned_checkpoint(ctx.path_param)
            self.deleted_checkpoints[ckpt.path] = self.checkpoints.pop(ckpt.path)
        return json_response(None)

    def _storage_usage(self, ctx: _RequestContext) -> Response:
        """AdminClient.get_current_checkpoint_storage_usage(): live checkpoints and their bytes."""
        with self.lock:
            now = self.now()
            live = [c for c in self.checkpoints.values() if not c.expired(now)]
        size = sum(c.size_bytes for c in live)
        return json_response(
            {
                "effective_rate_usd_per_gigabyte_month": None,
                "data": [{"checkpoint_count": len(live), "size_bytes": size, "size_gigabytes": size / 1e9}],
            }
        )

    def _checkpoint(self, path: str, kinds: Sequence[str]) -> Checkpoint:
        ckpt = self.checkpoints.get(path)
        if ckpt is None or ckpt.kind not in kinds:
            raise UserError(f"no {' or '.join(kinds)} checkpoint at {path!r}")
        if ckpt.expired(self.now()):
            raise UserError(f"checkpoint {path!r} expired at {self._iso(ckpt.expires_at)} (saved with ttl_seconds={ckpt.ttl_seconds})")
        return ckpt

    def _load_weights(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        path, with_optimizer = str(body["path"]), bool(body.get("optimizer", False))
        with self.lock:
            known = self.checkpoints.get(path)
            if known is not None:
                self._check_not_retired(known.base_model)
            if body.get("session_id") is not None:
                # create_training_client_from_state[_with_optimizer]: the load creates the model.
                session_id, seq = str(body["session_id"]), int(body["model_seq_id"])
                self._session(session_id)
                model_id = f"{session_id}:train:{seq}"

                def create() -> tuple[dict[str, Any], None]:
                    ckpt = self._checkpoint(path, ("training",))
                    if body.get("base_model") not in (None, ckpt.base_model):
                        raise UserError(f"base_model {body['base_model']!r} is not compatible with the checkpoint's {ckpt.base_model!r}")
                    model = self._new_model(model_id, session_id, ckpt.base_model, ckpt.lora_rank)
                    model.params = ckpt.params.copy()
                    if with_optimizer:
                        assert ckpt.adam is not None
                        model.adam = ckpt.adam.copy()
                    model.grad_w = np.zeros(0)
                    return {"path": path, "model_id": model_id, "type": "load_weights"}, None

                return self._submit("load_weights", "load_weights", "LoadWeights", model_id, 0, create, {"model_id": model_id})

            # Legacy TrainingClient.load_state*: load into an existing model, in seq_id order.
            model = self._model(str(body["model_id"]))

            def load() -> tuple[dict[str, Any], None]:
                ckpt = self._checkpoint(path, ("training",))
                if ckpt.base_model != model.base_model:
                    raise UserError(f"checkpoint base model {ckpt.base_model!r} != model's {model.base_model!r}")
                model.params = ckpt.params.copy()
                model.adam = ckpt.adam.copy() if with_optimizer and ckpt.adam is not None else AdamState.zeros(model.params.vocab_size)
                model.grad_b = np.zeros_like(model.grad_b)
                model.grad_w = np.zeros(0)
                return {"path": path, "model_id": model.model_id, "type": "load_weights"}, None

            return self._submit(
                "load_weights",
                "load_weights",
                "LoadWeights",
                model.model_id,
                body.get("seq_id"),
                load,
                {"model_id": model.model_id},
            )

    # -- sampling ---------------------------------------------------------------------------

    def _create_sampling_session(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        session_id, seq = str(body["session_id"]), int(body["sampling_session_seq_id"])
        with self.lock:
            self._session(session_id)
            sampling_session_id = f"{session_id}:sample:{seq}"
            if sampling_session_id not in self.samplers:  # a re-sent request creates nothing new
                model_path = body.get("model_path")
                if model_path is not None:
                    # The SDK's own docstrings pass `tinker://.../weights/...` here too, so both
                    # checkpoint kinds are accepted.
                    ckpt = self.checkpoints.get(model_path)
                    if ckpt is None:
                        raise HTTPError(404, f"no checkpoint at {model_path!r}")
                    if ckpt.expired(self.now()):
                        raise HTTPError(
                            404, f"checkpoint {model_path!r} expired at {self._iso(ckpt.expires_at)} (ttl_seconds={ckpt.ttl_seconds})"
                        )
                    self._check_not_retired(ckpt.base_model)
                    sampler = Sampler(sampling_session_id, ckpt.base_model, model_path, ckpt.params.copy())
                elif body.get("base_model"):
                    base_model = str(body["base_model"])
                    self._check_not_retired(base_model)
                    unknown = self.behaviour.enforce_model_limits and self.spec(base_model) is None
                    if unknown or (self.supported_models is not None and base_model not in self.supported_models):
                        raise HTTPError(400, f"base model {base_model!r} is not supported")
                    sampler = Sampler(sampling_session_id, base_model, None, Params(self.vocab_size))
                else:
                    raise HTTPError(400, "model_path or base_model is required")
                self.samplers[sampling_session_id] = sampler
        return json_response({"type": "create_sampling_session", "sampling_session_id": sampling_session_id})

    def _get_sampler(self, ctx: _RequestContext) -> Response:
        with self.lock:
            sampler = self.samplers.get(ctx.path_param or "")
        if sampler is None:
            raise HTTPError(404, f"unknown sampler {ctx.path_param!r}")
        return json_response(
            {"sampler_id": sampler.sampling_session_id, "base_model": sampler.base_model, "model_path": sampler.model_path}
        )

    def _asample(self, ctx: _RequestContext) -> Response:
        body = ctx.json()
        sampling_session_id = str(body.get("sampling_session_id"))
        num_samples = int(body.get("num_samples", 1))
        with self.lock:
            sampler = self.samplers.get(sampling_session_id)
            if sampler is None:
                raise HTTPError(404, f"unknown sampling session {sampling_session_id!r}")
            self._check_not_retired(sampler.base_model)
            if self.behaviour.enforce_model_limits:
                chunks = (body.get("prompt") or {}).get("chunks") or []
                n_prompt = sum(len(c.get("tokens") or []) for c in chunks)
                sp = body.get("sampling_params") or {}
                max_tokens = int(sp["max_tokens"]) if sp.get("max_tokens") is not None else self.default_max_tokens
                self._check_context(sampler.base_model, n_prompt, max_tokens)
            seq_id = body.get("seq_id")

            def run() -> tuple[None, bytes]:
                return None, self._sample(sampler, body)

            response = self._submit("asample", "sample", "Sample", sampling_session_id, seq_id, run)
            request_id = json.loads(response.body)["request_id"]
            # Each promise names its samples; the SDK stamps these ids onto the sequences.
            return json_response({"request_id": request_id, "sample_sequence_ids": [f"{request_id}:{i}" for i in range(num_samples)]})

    def _stop_rules(self, stop: Any) -> tuple[set[int], list[str]]:
        """(stop token ids, stop strings). None = EOS; [] = nothing; a list replaces EOS."""
        if stop is None:
            return set(self.eos_token_ids), []
        items = [stop] if isinstance(stop, str) else list(stop)
        ids = {int(s) for s in items if not isinstance(s, str)}
        strings = [s for s in items if isinstance(s, str)]
        if strings and self.decode is None:
            msg = f"stop strings {strings!r} ignored: the stand-in has no `decode` function"
            if msg not in self.warnings:
                self.warnings.append(msg)
                logger.warning(msg)
            strings = []
        return ids, strings

    def _sample(self, sampler: Sampler, body: dict[str, Any]) -> bytes:
        for unsupported in ("topk_prompt_logprobs", "topk_sample_logprobs", "prompt_alt_tokens_k"):
            if int(body.get(unsupported) or 0) > 0:
                raise UserError(f"{unsupported} is not supported by the stand-in")
        if body.get("target_prompt_logprobs") is not None:
            raise UserError("target_prompt_logprobs is not supported by the stand-in")
        prompt = tokens_from_chunks(body["prompt"]["chunks"], proto=False)
        if len(prompt) == 0:
            raise UserError("the prompt is empty")
        _check_tokens(prompt, self.vocab_size, "prompt")
        sp = body.get("sampling_params") or {}
        max_tokens = int(sp["max_tokens"]) if sp.get("max_tokens") is not None else self.default_max_tokens
        temperature, top_k, top_p = float(sp.get("temperature", 1.0)), int(sp.get("top_k", -1)), float(sp.get("top_p", 1.0))
        stop_ids, stop_strings = self._stop_rules(sp.get("stop"))
        rng = np.random.default_rng(int(sp["seed"])) if sp.get("seed") is not None else self.rng
        scorer = Scorer(base_logits(sampler.base_model, self.vocab_size, self.eos_token_ids, self.eos_rank), sampler.params)
        token_sampler = TokenSampler(scorer, temperature, top_k, top_p, rng)

        seed = int(sp["seed"]) if sp.get("seed") is not None else None
        num_samples = int(body.get("num_samples", 1))
        distinct = num_samples
        if seed is not None and num_samples > 1:
            # tinker-feedback#79: with a seed, the n samples of one request largely coincide
            # (as if all n were drawn with the same seed).
            distinct = num_samples - int(round(self.behaviour.seeded_duplicate_fraction * (num_samples - 1)))
        noise = self.behaviour.sampler_logprob_noise

        out = pb.SampleResponse()
        drawn: list[tuple[list[int], np.ndarray, int]] = []
        for i in range(num_samples):
            if i >= distinct:
                drawn.append(drawn[0])
                continue
            tokens, logprobs, reason = [], [], pb.STOP_REASON_LENGTH
            ctx_tok = int(prompt[-1])
            for _ in range(max_tokens):
                tok, logprob = token_sampler.draw(ctx_tok)
                tokens.append(tok)
                logprobs.append(logprob)
                if tok in stop_ids or (stop_strings and self.decode is not None and any(s in self.decode(tokens) for s in stop_strings)):
                    reason = pb.STOP_REASON_STOP
                    break
                ctx_tok = tok
            lp = np.asarray(logprobs, dtype=np.float64)
            if noise > 0 and len(lp):
                lp = self._perturb(lp, sampler, prompt, np.asarray(tokens, dtype=np.int64), b"sampled")
            drawn.append((tokens, lp, reason))
        for tokens, lp, reason in drawn:
            out.sequences.add(
                stop_reason=reason,
                tokens=np.asarray(tokens, dtype=np.int32).tobytes(),
                logprobs=lp.astype(np.float32).tobytes(),
            )
        if body.get("prompt_logprobs"):
            plp = np.full(len(prompt), np.nan, dtype=np.float64)
            if len(prompt) > 1:
                plp[1:] = scorer.logprobs(prompt[:-1], prompt[1:])
                if noise > 0:
                    plp[1:] = self._perturb(plp[1:], sampler, prompt, np.zeros(0, dtype=np.int64), b"prompt")
            last_n = body.get("prompt_logprobs_last_n")
            if last_n is not None:
                plp[: len(prompt) - int(last_n)] = np.nan
            out.prompt_logprobs = plp.astype(np.float32).tobytes()
        out.prompt_cache_hit_tokens = self._prompt_cache(sampler, prompt, [np.asarray(t, dtype=np.int64) for t, _, _ in drawn[:distinct]])
        self.log.add_sample(
            SampleRecord(
                sampler.sampling_session_id,
                len(prompt),
                num_samples,
                seed,
                max_tokens,
                int(out.prompt_cache_hit_tokens),
                len({tuple(t) for t, _, _ in drawn}),
            )
        )
        return out.SerializeToString()

    def _perturb(self, lp: np.ndarray, sampler: Sampler, prompt: np.ndarray, tokens: np.ndarray, what: bytes) -> np.ndarray:
        """Sampler-side logprobs: the true ones plus N(0, noise^2), clipped at 0 (cookbook#396: the
        sampler reports many more logprobs of exactly 0). The noise is a function of the weights,
        prompt and tokens only, so the same request on the same weights reports the same values,
        and token-identical samples get identical logprobs."""
        h = hashlib.sha256(sampler.fingerprint + what + prompt.tobytes() + b"|" + tokens.tobytes()).digest()
        z = np.random.default_rng(int.from_bytes(h[:8], "little")).standard_normal(len(lp))
        return np.minimum(lp + self.behaviour.sampler_logprob_noise * z, 0.0)

    def _prompt_cache(self, sampler: Sampler, prompt: np.ndarray, replies: list[np.ndarray]) -> int:
        """Prompt tokens that are a prefix of a sequence this sampler saw recently (an LRU of
        prompts and prompt + reply), at most len(prompt) - 1: the last prompt token is always
        computed, since its logits give the first sampled token. Then remember this request."""
        size = self.behaviour.prompt_cache_entries
        cache = sampler.prompt_cache
        if size <= 0:
            cache.clear()
            return 0
        best, best_key = 0, None
        for key, seen in cache.items():
            m = min(len(seen), len(prompt))
            eq = seen[:m] == prompt[:m]
            n = m if eq.all() else int(np.argmin(eq))
            if n > best:
                best, best_key = n, key
        if best_key is not None:
            cache.move_to_end(best_key)
        for seq in [prompt, *(np.concatenate([prompt, r]) for r in replies)]:
            key = hashlib.sha256(seq.tobytes()).digest()
            cache[key] = seq
            cache.move_to_end(key)
        while len(cache) > size:
            cache.popitem(last=False)
        return min(best, len(prompt) - 1)

    # -- direct access for tests ---------------------------------------------------------------

    def score(self, ref: str, tokens: Sequence[int]) -> np.ndarray:
        """log p(tokens[i] | tokens[i-1]) for i >= 1 under a model id, checkpoint path or
        sampling session id."""
        with self.lock:
            if ref in self.models:
                model = self.models[ref]
                base_model, params = model.base_model, model.params
            elif ref in self.checkpoints:
                base_model, params = self.checkpoints[ref].base_model, self.checkpoints[ref].params
            elif ref in self.samplers:
                base_model, params = self.samplers[ref].base_model, self.samplers[ref].params
            else:
                raise KeyError(ref)
            toks = np.asarray(tokens, dtype=np.int64)
            scorer = Scorer(base_logits(base_model, self.vocab_size, self.eos_token_ids, self.eos_rank), params)
            return scorer.logprobs(toks[:-1], toks[1:])


class TokenSampler:
    """Draws next tokens for one sampling request (fixed weights and sampling parameters) and
    reports each token's *untempered* model logprob, i.e. what forward_backward returns for it.

    Without top-k/top-p the draw is exact and O(log V + row size): the target distribution is
    p(j) ~ e_j * a_j with e_j = exp(logit_j / T) shared by all contexts and a_j = exp(W[c, j] / T)
    only on the context's few sparse entries. Propose from q(j) ~ e_j * max(a_j, 1) (a
    precomputed CDF over e plus the row's extra mass) and accept with probability min(a_j, 1).
    top-k / top-p need the sorted distribution, so they take the O(V log V) path."""

    def __init__(self, scorer: Scorer, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> None:
        self.scorer = scorer
        self.temperature = temperature
        self.top_k = top_k
        self.top_p = top_p
        self.rng = rng
        vocab = len(scorer.logits)
        self.fast = temperature > 0 and not (0 < top_k < vocab) and top_p >= 1.0
        if self.fast:
            self.powered = np.exp((scorer.logits - scorer.shift) / temperature)  # e_j
            self.cdf = np.cumsum(self.powered)

    def logprob(self, ctx: int, tok: int) -> float:
        slot = self.scorer.params.rows.get(ctx, {}).get(tok)
        w = float(self.scorer.params.w[slot]) if slot is not None else 0.0
        return float(self.scorer.logits[tok]) + w - self.scorer.shift - float(np.log(self.scorer.z(ctx)))

    def draw(self, ctx: int) -> tuple[int, float]:
        if not self.fast:
            lp = self.scorer.full_logprobs(ctx)
            tok = _draw(lp, self.temperature, self.top_k, self.top_p, self.rng)
            return tok, float(lp[tok])
        params, t = self.scorer.params, self.temperature
        toks, slots = params.row(ctx)
        boost = np.exp(params.w[slots] / t)  # a_j on the row's entries
        extra_cdf = np.cumsum(self.powered[toks] * np.maximum(boost - 1.0, 0.0))
        base_mass = float(self.cdf[-1])
        total = base_mass + (float(extra_cdf[-1]) if len(extra_cdf) else 0.0)
        row = params.rows.get(ctx, {})
        while True:
            u = self.rng.random() * total
            if u < base_mass:
                tok = min(int(np.searchsorted(self.cdf, u, side="right")), len(self.cdf) - 1)
                slot = row.get(tok)
                accept = min(1.0, float(np.exp(params.w[slot] / t))) if slot is not None else 1.0
                if accept >= 1.0 or self.rng.random() < accept:
                    break
            else:
                tok = int(toks[min(int(np.searchsorted(extra_cdf, u - base_mass, side="right")), len(toks) - 1)])
                break
        return tok, self.logprob(ctx, tok)


def _draw(logprobs: np.ndarray, temperature: float, top_k: int, top_p: float, rng: np.random.Generator) -> int:
    """Draw one token id from full logprobs with temperature / top-k / top-p (T <= 0: greedy)."""
    if temperature <= 0:
        return int(np.argmax(logprobs))
    scaled = logprobs / temperature
    candidates = np.argpartition(-scaled, top_k - 1)[:top_k] if 0 < top_k < len(scaled) else np.arange(len(scaled))
    weights = np.exp(scaled[candidates] - scaled[candidates].max())
    if top_p < 1.0:
        order = np.argsort(-weights, kind="stable")
        cum = np.cumsum(weights[order]) / weights.sum()
        keep = order[: int(np.searchsorted(cum, top_p) + 1)]
        candidates, weights = candidates[keep], weights[keep]
    cdf = np.cumsum(weights)
    index = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
    return int(candidates[min(index, len(candidates) - 1)])


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], service: TinkerService) -> None:
        super().__init__(address, _Handler)
        self.service = service
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._conn_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        """Close keep-alive connections too, so a stopped stand-in looks like a dead server."""
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so the SDK's clients keep connections alive, as with the real service.
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # plus the client's delayed ACK adds ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip().split(b";")[0], 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length else b""

    def _dispatch(self, method: str) -> None:
        body = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.service.handle(method, urlsplit(self.path).path, headers, body)
        if response.drop:
            # Close without a byte of response: the client sees "server disconnected".
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for k, v in response.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(response.body)


class StandIn:
    """A running Tinker stand-in. `start()` returns the base URL for `ServiceClient(base_url=...)`.

    Example::

        with StandIn() as standin:
            client = tinker.ServiceClient(base_url=standin.base_url, api_key="tml-test-key")
            standin.faults.http_error(503, times=2, endpoint="forward_backward")
            ...
            assert standin.log.op_count("optim_step") == 3

    Args:
        port: TCP port (0 = any free port).
        api_keys: keys accepted in X-API-Key; anything else gets 401.
        vocab_size: token ids must be below this (default: Qwen3's 151936).
        eos_token_ids: implicit stop tokens when SamplingParams.stop is None.
        eos_rank: the base model gives each EOS id the logit of its eos_rank-th likeliest token.
        seed: seeds the sampler RNG used when SamplingParams.seed is not given.
        learning_rate_scale: multiplies every AdamParams.learning_rate (the tiny model learns
            visibly slower per step than a real LoRA at the same rate; scale it up if a test
            needs big moves from realistic learning rates).
        default_max_tokens: generation length when SamplingParams.max_tokens is None.
        decode: token ids -> text, needed only to honour string stop sequences.
        use_pyqwest_transport: the client-config flag selecting the SDK's HTTP transport.
        fwdbwd_max_chunk_len: datums per forward_backward request before the SDK splits it.
        supported_models: base models to accept (None = any; with enforce_model_limits, the
            catalogue `model_specs` plus these).
        max_bigram_entries: cap on sparse parameters per model (memory bound).
        realistic: start from `Behaviour.realistic()` instead of the kind `Behaviour()`; the
            switches below, when given, override the profile's value. None (the default):
            realistic if the environment variable TINKER_STANDIN_REALISTIC is set (not 0).
        seeded_duplicate_fraction, sampler_logprob_noise, save_conflict, enforce_model_limits,
            prompt_cache_entries: see `Behaviour` (also changeable at runtime on
            `standin.behaviour`).
        model_specs: the model catalogue (default DEFAULT_MODEL_SPECS): capabilities, context
            lengths, maximum LoRA ranks, adapter sizes.
        checkpoint_bytes_per_param: {"sampler": ..., "training": ...} for the size estimate.
        billing_max_pause_s: `billing_exception_max_pause_duration_sec` in the client config:
            how long the SDK keeps pausing on 402s before raising BillingError (SDK default 3600).
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        api_keys: Iterable[str] = DEFAULT_API_KEYS,
        vocab_size: int = DEFAULT_VOCAB_SIZE,
        eos_token_ids: Sequence[int] = DEFAULT_EOS_TOKEN_IDS,
        eos_rank: int = 100,
        seed: int = 0,
        learning_rate_scale: float = 1.0,
        default_max_tokens: int = 64,
        decode: Callable[[list[int]], str] | None = None,
        use_pyqwest_transport: bool = True,
        fwdbwd_max_chunk_len: int = 1024,
        supported_models: Sequence[str] | None = None,
        max_bigram_entries: int = 2_000_000,
        realistic: bool | None = None,
        seeded_duplicate_fraction: float | None = None,
        sampler_logprob_noise: float | None = None,
        save_conflict: SaveConflict | None = None,
        enforce_model_limits: bool | None = None,
        prompt_cache_entries: int | None = None,
        model_specs: dict[str, ModelSpec] | None = None,
        checkpoint_bytes_per_param: dict[str, float] | None = None,
        billing_max_pause_s: int = 3600,
    ) -> None:
        self.host = host
        self.port = port
        self.faults = Faults()
        self.log = RequestLog()
        if realistic is None:  # TINKER_STANDIN_REALISTIC=1 runs any suite against the realistic profile
            realistic = os.environ.get(REALISTIC_ENV, "").strip().lower() not in ("", "0", "false", "no")
        behaviour = Behaviour.realistic() if realistic else Behaviour()
        overrides = {
            "seeded_duplicate_fraction": seeded_duplicate_fraction,
            "sampler_logprob_noise": sampler_logprob_noise,
            "save_conflict": save_conflict,
            "enforce_model_limits": enforce_model_limits,
            "prompt_cache_entries": prompt_cache_entries,
        }
        behaviour = dataclasses.replace(behaviour, **{k: v for k, v in overrides.items() if v is not None})
        self.service = TinkerService(
            api_keys=api_keys,
            vocab_size=vocab_size,
            eos_token_ids=eos_token_ids,
            eos_rank=eos_rank,
            seed=seed,
            learning_rate_scale=learning_rate_scale,
            default_max_tokens=default_max_tokens,
            decode=decode,
            use_pyqwest_transport=use_pyqwest_transport,
            fwdbwd_max_chunk_len=fwdbwd_max_chunk_len,
            supported_models=supported_models,
            max_bigram_entries=max_bigram_entries,
            faults=self.faults,
            log=self.log,
            behaviour=behaviour,
            model_specs=model_specs,
            checkpoint_bytes_per_param=checkpoint_bytes_per_param,
            billing_max_pause_s=billing_max_pause_s,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in is not running")
        return f"http://{self.host}:{self._server.server_address[1]}"

    def env(self, api_key: str = "tml-test-key") -> dict[str, str]:
        """Environment for a child process whose ServiceClient() takes no arguments."""
        return {"TINKER_BASE_URL": self.base_url, "TINKER_API_KEY": api_key}

    def start(self) -> str:
        if self._server is None:
            self._server = _Server((self.host, self.port), self.service)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="tinker-standin", daemon=True
            )
            self._thread.start()
        return self.base_url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.close_all_connections()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server, self._thread = None, None

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # Convenience views for assertions.

    @property
    def checkpoints(self) -> dict[str, Checkpoint]:
        with self.service.lock:
            return dict(self.service.checkpoints)

    @property
    def models(self) -> dict[str, TrainingModel]:
        with self.service.lock:
            return dict(self.service.models)

    @property
    def sessions(self) -> dict[str, float | None]:
        """session id -> time of its last heartbeat (None once the client finished it)."""
        with self.service.lock:
            return {sid: (None if s.finished else s.last_heartbeat) for sid, s in self.service.sessions.items()}

    def score(self, ref: str, tokens: Sequence[int]) -> np.ndarray:
        """log p(tokens[i] | tokens[i-1]), i >= 1, under a model id, checkpoint path or sampler id."""
        return self.service.score(ref, tokens)

    # Runtime switches.

    @property
    def behaviour(self) -> Behaviour:
        """The live switches (mutable: `standin.behaviour.seeded_duplicate_fraction = 0.5`)."""
        return self.service.behaviour

    def advance_clock(self, seconds: float) -> float:
        """Move the stand-in's clock forward (checkpoint expiry); returns the new clock time."""
        with self.service.lock:
            self.service.clock_offset += seconds
            return self.service.now()

    def now(self) -> float:
        return self.service.now()

    def retire_model(self, base_model: str) -> None:
        """Make a base model unavailable: gone from get_server_capabilities; create_model,
        create_sampling_client (base model or a checkpoint of it), loading its checkpoints and
        sampling from it answer HTTP 400. Training clients that already exist keep working."""
        with self.service.lock:
            self.service.retired_models.add(base_model)

    def restore_model(self, base_model: str) -> None:
        with self.service.lock:
            self.service.retired_models.discard(base_model)

    def block_billing(self, endpoints: Iterable[str] | None = None, detail: str | None = None) -> None:
        """Answer HTTP 402 (BillingError) until `unblock_billing()`: on `endpoints` (paths after
        /api/v1/, e.g. {"get_server_capabilities"} or {"create_session"}) or, with None, on every
        endpoint except BILLING_EXEMPT_ENDPOINTS."""
        with self.service.lock:
            self.service.billing_blocked = frozenset(endpoints) if endpoints is not None else frozenset()
            if detail is not None:
                self.service.billing_detail = detail

    def unblock_billing(self) -> None:
        with self.service.lock:
            self.service.billing_blocked = None

    def storage(self) -> StorageReport:
        """Every checkpoint ever saved (live, expired and deleted), with its TTL and estimated size."""
        with self.service.lock:
            now = self.service.now()
            rows = [
                StoredCheckpoint(
                    c.path,
                    c.kind,
                    c.base_model,
                    c.lora_rank,
                    c.size_bytes,
                    c.ttl_seconds,
                    c.created_at,
                    c.expires_at,
                    expired=c.expired(now),
                    deleted=deleted,
                )  # fmt: skip
                for deleted, group in ((False, self.service.checkpoints), (True, self.service.deleted_checkpoints))
                for c in group.values()
            ]
        return StorageReport(sorted(rows, key=lambda r: r.created_at))


@dataclass(frozen=True)
class StoredCheckpoint:
    path: str
    kind: str
    base_model: str
    lora_rank: int
    size_bytes: int
    ttl_seconds: int | None
    created_at: float
    expires_at: float | None
    expired: bool
    deleted: bool

    @property
    def live(self) -> bool:
        return not (self.expired or self.deleted)


@dataclass(frozen=True)
class StorageReport:
    """What `StandIn.storage()` returns: the checkpoints and sums over them."""

    checkpoints: list[StoredCheckpoint]

    @property
    def live(self) -> list[StoredCheckpoint]:
        return [c for c in self.checkpoints if c.live]

    @property
    def live_count(self) -> int:
        return len(self.live)

    @property
    def live_bytes(self) -> int:
        return sum(c.size_bytes for c in self.live)

    @property
    def total_bytes(self) -> int:
        """Bytes ever stored (live + expired + deleted)."""
        return sum(c.size_bytes for c in self.checkpoints)

    @property
    def without_ttl(self) -> list[StoredCheckpoint]:
        """Live checkpoints that never expire (ttl_seconds None)."""
        return [c for c in self.live if c.ttl_seconds is None]

    def by_kind(self) -> dict[str, tuple[int, int]]:
        """kind -> (live count, live bytes)."""
        out: dict[str, tuple[int, int]] = {}
        for c in self.live:
            n, b = out.get(c.kind, (0, 0))
            out[c.kind] = (n + 1, b + c.size_bytes)
        return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run a stand-in in its own process (e.g. to outlive a client that a test SIGKILLs):

    python tests/tinker_standin/server.py --port 8765
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", action="append", help="accepted key (repeatable; default tml-test-key)")
    parser.add_argument("--realistic", action="store_true", help="Behaviour.realistic() instead of the kind defaults")
    args = parser.parse_args(argv)
    standin = StandIn(args.port, args.host, api_keys=args.api_key or DEFAULT_API_KEYS, realistic=args.realistic)
    print(standin.start(), flush=True)  # the first stdout line is the base URL
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()


if __name__ == "__main__":
    main()
