"""A thin layer over the Tinker SDK (pinned: tinker==0.38.0): the key, the client, the access
check, samples, datums and readable errors. The Tinker backend (explorer/backends/tinker.py)
builds on it.

- The API key is read from $TINKER_API_KEY only (never params.yaml, never the SDK's stored
  credentials) and passed to the SDK explicitly. A missing or malformed key fails here, before
  any request; a key the service rejects (401/403) fails on the first call.
- The service: params.yaml `tinker.base_url`, else $TINKER_BASE_URL, else the SDK's default (the
  real service).
- Every stage starts with one `get_server_capabilities` request sent the way
  `tinker.auth.raise_if_tinker_not_accessible()` sends it (not retried, not paused on HTTP 402),
  so a rejected key or a billing block ends the stage in about a second; the answer's model list
  checks `base_model`, `lora_rank` and gives the context length every sample request is
  clamped to (`TinkerSampler`).
- Two kinds of failure. `TinkerUserError` (a ValueError; `TinkerKeyError` is one): the request
  itself or the account is at fault (HTTP 400/402/403/404/422, a `RequestFailedError` of category
  user, a rank or prompt the model cannot take): the CLI prints one line and exits 2, which the
  pipeline flow does not retry, since a rerun would fail the same way. `TinkerServiceError` (a
  RuntimeError, exit 1): the service failed or could not be reached after the SDK's own retries
  (429, 5xx, dropped connections): a rerun (Prefect's stage retry) resumes from the last saved
  state. No retry loops here.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from explorer.config import TinkerConfig
from explorer.policies.llm import STOP_TOKENS, ContextFull, Conversation, Sample

if TYPE_CHECKING:
    import tinker

KEY_ENV = "TINKER_API_KEY"


class TinkerUserError(ValueError):
    """The service refused a request because of what it asked for or the account's state (billing,
    permissions, bad input): rerunning the stage would fail the same way."""


class TinkerKeyError(TinkerUserError):
    """TINKER_API_KEY is missing, malformed or rejected by the service."""


class TinkerServiceError(RuntimeError):
    """The Tinker service failed a request or could not be reached (after the SDK's retries)."""


def one_line(text: str) -> str:
    """`text` on one line, with the API key (if it appears) replaced: for anything we print or raise."""
    key = os.environ.get(KEY_ENV, "")
    text = " ".join(str(text).split())
    return text.replace(key, "tml-***") if len(key) >= 4 else text


def failure_text(e: Any) -> str:
    """A RequestFailedError's message without the SDK's wrapping ("Request failed: ... for
    self.request_id=... and expected type ...")."""
    m = re.match(r"^Request failed: (.*?)(?: for self\.request_id=.*)?$", one_line(getattr(e, "message", e)))
    return m.group(1) if m else one_line(getattr(e, "message", e))


def api_key() -> str:
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise TinkerKeyError(
            f"{KEY_ENV} is not set: train.backend is tinker, which needs a Tinker API key in the environment "
            f"(export {KEY_ENV}=tml-...). The key is read from the environment only."
        )
    if not key.startswith("tml-"):
        raise TinkerKeyError(f"{KEY_ENV} does not hold a Tinker API key (Tinker keys start with 'tml-'); check the variable's value")
    return key


def base_url(cfg: TinkerConfig) -> str | None:
    return cfg.base_url or os.environ.get("TINKER_BASE_URL") or None


def service_label(cfg: TinkerConfig) -> str:
    return base_url(cfg) or "the Tinker service (SDK default URL)"


def connect(cfg: TinkerConfig) -> tinker.ServiceClient:
    """A ServiceClient for the configured service with the key from the environment. Lazy: the
    first request is where a rejected key or an unreachable service shows."""
    key = api_key()
    try:
        import tinker
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("train.backend is tinker but the Tinker SDK is not installed: pip install -e '.[tinker]'") from e
    return tinker.ServiceClient(base_url=base_url(cfg), api_key=key)


def close(service: tinker.ServiceClient, ok: bool) -> None:
    """Finish the service session. After an error wait at most 30 s and never raise: the original
    error matters, and a dead service would keep the SDK retrying the finish call for minutes."""
    future = service.close("success" if ok else "errored")
    try:
        future.result(timeout=None if ok else 30)
    except Exception:
        if ok:
            raise


@dataclass(frozen=True)
class ModelLimits:
    """What the service says about `base_model`: its context length (prompt + max_tokens of a
    sample request, and the length of a training datum) and, where it lists them, its LoRA ranks.
    None: not reported (then the service's own 400 is the check)."""

    max_context_length: int | None = None
    lora_ranks: tuple[int, ...] | None = None


def _capabilities(service: tinker.ServiceClient) -> dict[str, Any]:
    """GET get_server_capabilities exactly as `tinker.auth.raise_if_tinker_not_accessible()` sends
    it (ServiceClient._check_accessible: the session-less REST connection, no billing pause, no
    retries above the HTTP layer), on this client (its URL and key, not the environment's), and the
    raw JSON: the SDK's SupportedModel keeps only the fields it knows."""
    import httpx
    from tinker.lib.client_connection_pool_type import ClientConnectionPoolType

    holder = service._get_rest_holder()

    async def get() -> dict[str, Any]:
        with holder.aclient(ClientConnectionPoolType.TRAIN) as client:
            return (await client.get("/api/v1/get_server_capabilities", cast_to=httpx.Response)).json()

    return holder.run_coroutine_threadsafe(get()).result()


def check_access(service: tinker.ServiceClient, cfg: TinkerConfig, lora_rank: int | None = None) -> ModelLimits:
    """One fast authenticated request, so a rejected key or a billing block fails a stage at once,
    even a stage with nothing left to do; then `base_model` (and `lora_rank`, for a stage that
    creates a training run) against the service's model list. Returns the model's limits."""
    with sdk_errors("the access check (get_server_capabilities)", cfg):
        caps = _capabilities(service)
    models = {m.get("model_name"): m for m in caps.get("supported_models") or []}
    if not models:
        return ModelLimits()
    if cfg.base_model not in models:
        raise TinkerUserError(
            f"{service_label(cfg)} does not offer tinker.base_model {cfg.base_model!r}; it offers {', '.join(map(str, models))}"
        )
    spec = models[cfg.base_model]
    ranks = spec.get("supported_lora_ranks")
    if ranks is None and spec.get("max_lora_rank"):
        ranks = [1 << i for i in range(int(spec["max_lora_rank"]).bit_length())]
    if lora_rank is not None and ranks is not None and lora_rank not in ranks:
        raise TinkerUserError(f"tinker.lora_rank {lora_rank} is not a rank {cfg.base_model} takes on {service_label(cfg)}: "
                              f"use one of {', '.join(map(str, ranks))}")  # fmt: skip
    context = spec.get("max_context_length")
    if context is not None and cfg.max_tokens >= context:
        raise TinkerUserError(
            f"tinker.max_tokens {cfg.max_tokens} leaves no room for a prompt in {cfg.base_model}'s context of {context} tokens"
        )
    return ModelLimits(context, tuple(ranks) if ranks is not None else None)


@dataclass
class TinkerSession:
    """A stage's connection: the ServiceClient, a RestClient (checkpoint listing and deletion) and
    the model's limits from the access check."""

    service: Any  # tinker.ServiceClient
    cfg: TinkerConfig
    limits: ModelLimits

    @functools.cached_property
    def rest(self) -> Any:
        import tinker

        return tinker.RestClient(base_url=base_url(self.cfg), api_key=api_key())

    def sampler(self, path: str, max_tokens: int, counts: TokenCounts | None = None, hint: str = "") -> TinkerSampler:
        """A sampler of the weights saved at `path` (a tinker:// path)."""
        with sdk_errors("create_sampling_client", self.cfg, hint):
            client = self.service.create_sampling_client(model_path=path).result()
        return TinkerSampler(client, max_tokens, path, self.cfg, counts, self.limits.max_context_length)


@contextmanager
def service_session(cfg: TinkerConfig, lora_rank: int | None = None) -> Iterator[TinkerSession]:
    """A stage's TinkerSession, closed at the end. The access check comes first: a missing,
    malformed or rejected key, a billing block or a model or rank the service does not take fails
    before any work."""
    service = connect(cfg)
    try:
        session = TinkerSession(service, cfg, check_access(service, cfg, lora_rank))
        yield session
    except BaseException:
        close(service, ok=False)
        raise
    close(service, ok=True)


USER_STATUSES = (400, 402, 403, 404, 413, 422)  # the request or the account, not the service


@contextmanager
def sdk_errors(what: str, cfg: TinkerConfig | None = None, hint: str = "") -> Iterator[None]:
    """Turn the SDK's exceptions raised by `what` into TinkerUserError / TinkerKeyError (exit 2, not
    retried) or TinkerServiceError (retried), with one line that says what failed and what to do;
    `hint` is added to user errors. Wrap the `.result()` calls too: futures raise there."""
    import tinker

    where = service_label(cfg) if cfg is not None else "the Tinker service"
    hint = f" {hint}" if hint else ""
    try:
        yield
    except tinker.AuthenticationError:
        raise TinkerKeyError(f"{where} rejected the API key in {KEY_ENV} (HTTP 401) during {what}: set {KEY_ENV} to a valid key") from None
    except tinker.PermissionDeniedError as e:
        raise TinkerKeyError(f"{where} refused {what} for the key in {KEY_ENV} (HTTP 403): {one_line(e)}") from None
    except tinker.BillingError:
        raise TinkerUserError(
            f"{where} refused {what} with HTTP 402 (billing): the Tinker account has no working payment method or is out of "
            "credits; fix billing in the Tinker console, then rerun the stage"
        ) from None
    except tinker.RequestFailedError as e:
        category = getattr(e.category, "value", e.category)
        if str(category).lower() == "user":
            raise TinkerUserError(f"Tinker {what} was refused as a user error: {failure_text(e)}.{hint}") from None
        raise TinkerServiceError(
            f"Tinker {what} failed on the server (category {category}): {failure_text(e)}. "
            "Work up to the last saved state is kept: rerun the stage to resume."
        ) from None
    except tinker.APIConnectionError as e:
        raise TinkerServiceError(f"could not reach {where} for {what} (the SDK retried): {one_line(e)}") from None
    except tinker.APIStatusError as e:
        if e.status_code in USER_STATUSES:
            raise TinkerUserError(f"{where} refused {what} (HTTP {e.status_code}): {one_line(e)}.{hint}") from None
        raise TinkerServiceError(f"Tinker {what} failed: HTTP {e.status_code}: {one_line(e)}") from None
    except tinker.TinkerError as e:
        if "api_key" in str(e) or "tml-" in str(e):
            raise TinkerKeyError(f"{KEY_ENV}: {one_line(e)}") from None
        raise TinkerServiceError(f"Tinker {what} failed: {one_line(e)}") from None


@dataclass
class TokenCounts:
    """What sample requests sent and got back (what Tinker bills sampling by). Shared by the
    threads of one rollout batch, hence the lock."""

    prompt: int = 0  # prompt tokens of every sample request
    cached: int = 0  # of those, tokens the service reported as prompt-cache hits
    sampled: int = 0
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, prompt: int = 0, cached: int = 0, sampled: int = 0, requests: int = 0) -> None:
        with self.lock:
            self.prompt, self.cached, self.sampled, self.requests = (
                self.prompt + prompt,
                self.cached + cached,
                self.sampled + sampled,
                self.requests + requests,
            )

    def take(self) -> dict[str, int]:
        """The counts so far, and zero them."""
        with self.lock:
            out = {"prompt": self.prompt, "cached": self.cached, "sampled": self.sampled, "requests": self.requests}
            self.prompt = self.cached = self.sampled = self.requests = 0
        return out


class _SampleFuture:
    def __init__(self, future: Any, cfg: TinkerConfig | None, counts: TokenCounts | None):
        self.future, self.cfg, self.counts = future, cfg, counts

    def result(self) -> list[Sample]:
        with sdk_errors("sample", self.cfg):
            response = self.future.result()
        samples = [Sample(list(s.tokens), list(s.logprobs or [])) for s in response.sequences]
        if self.counts is not None:
            cached = int(getattr(response, "prompt_cache_hit_tokens", None) or 0)
            self.counts.add(cached=cached, sampled=sum(len(s.tokens) for s in samples))
        return samples


class TinkerSampler:
    """Samples replies from one set of sampler weights (a `tinker://.../sampler_weights/...`
    path, or the ephemeral weights of `save_weights_and_get_sampling_client`). Stops on
    <|im_end|> / <|endoftext|> (kept in the reply) or after `max_tokens`, which is cut to what the
    model's context leaves after the prompt; a prompt that leaves no room is not sent
    (`ContextFull`: the policy makes it a refused step). Counts what it sends."""

    def __init__(self, client: tinker.SamplingClient, max_tokens: int, path: str | None, cfg: TinkerConfig | None = None,
                 counts: TokenCounts | None = None, context_length: int | None = None):  # fmt: skip
        self.client, self.max_tokens, self.path, self.cfg, self.counts = client, max_tokens, path, cfg, counts
        self.context_length = context_length

    def submit(self, prompt: list[int], num_samples: int, temperature: float, seed: int) -> _SampleFuture:
        from tinker import types

        max_tokens = self.max_tokens
        if self.context_length is not None:
            max_tokens = min(max_tokens, self.context_length - len(prompt))
            if max_tokens < 1:
                raise ContextFull(f"the conversation fills the model's context ({len(prompt)} of {self.context_length} tokens)")
        # Greedy (temperature <= 0) as top_k=1 at temperature 1: argmax in every sampler, with no
        # division by a zero temperature anywhere.
        greedy = temperature <= 0
        params = types.SamplingParams(max_tokens=max_tokens, temperature=1.0 if greedy else temperature, top_k=1 if greedy else -1,
                                      seed=int(seed), stop=list(STOP_TOKENS))  # fmt: skip
        with sdk_errors("sample", self.cfg):
            future = self.client.sample(types.ModelInput.from_ints(prompt), num_samples, params)
        if self.counts is not None:
            self.counts.add(prompt=len(prompt), requests=1)
        return _SampleFuture(future, self.cfg, self.counts)


def sft_datum(conv: Conversation) -> tinker.types.Datum:
    """Cross-entropy datum: weight 1 on the policy's tokens, 0 on everything else."""
    from tinker import types

    model_input, targets, weights, _ = conv.training_arrays()
    return types.Datum(model_input=types.ModelInput.from_ints(model_input), loss_fn_inputs={"target_tokens": targets, "weights": weights})


def rl_datum(conv: Conversation, advantage: float) -> tinker.types.Datum:
    """importance_sampling / ppo datum of one whole episode: the episode's advantage and the
    sampler's logprob on every sampled token, 0 on observation and template tokens."""
    from tinker import types

    model_input, targets, weights, logprobs = conv.training_arrays()
    return types.Datum(
        model_input=types.ModelInput.from_ints(model_input),
        loss_fn_inputs={"target_tokens": targets, "logprobs": logprobs, "advantages": [advantage * w for w in weights]},
    )
