"""A thin layer over the Tinker SDK (pinned: tinker==0.38.0): the key, the client, samples,
datums and readable errors. The Tinker backend (explorer/backends/tinker.py) builds on it.

- The API key is read from $TINKER_API_KEY only (never params.yaml, never the SDK's stored
  credentials) and passed to the SDK explicitly. A missing or malformed key fails here, before
  any request; a key the service rejects (401/403) fails on the first call. Both raise
  `TinkerKeyError`, whose message names TINKER_API_KEY and never contains the key. It is a
  ValueError, so the CLI prints it without a traceback and exits 2 (the pipeline flow does not
  retry exit 2: a bad key would fail again).
- The service: params.yaml `tinker.base_url`, else $TINKER_BASE_URL, else the SDK's default (the
  real service).
- No retry loops here: the SDK itself retries 429 / 5xx / dropped connections. A request the
  service fails (`RequestFailedError`) or an unreachable service becomes `TinkerServiceError`
  (a RuntimeError): the stage stops, and rerunning it (by hand or Prefect's stage retry) resumes
  from the last saved state.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from explorer.config import TinkerConfig
from explorer.policies.llm import STOP_TOKENS, Conversation, Sample

if TYPE_CHECKING:
    import tinker

KEY_ENV = "TINKER_API_KEY"


class TinkerKeyError(ValueError):
    """TINKER_API_KEY is missing, malformed or rejected by the service."""


class TinkerServiceError(RuntimeError):
    """The Tinker service failed a request or could not be reached (after the SDK's retries)."""


def redact(text: str) -> str:
    """`text` with the API key (if it appears) replaced, for anything we print or raise."""
    key = os.environ.get(KEY_ENV, "")
    return text.replace(key, "tml-***") if len(key) >= 4 else text


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
    first `create_*` call is where a rejected key or an unreachable service shows."""
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


def check_access(cfg: TinkerConfig) -> None:
    """One cheap authenticated request, so a rejected key fails a stage at once, even a stage with
    nothing left to do; and, if the service lists its models, that it offers `base_model`."""
    import tinker

    with sdk_errors("checking the key", cfg):
        caps = tinker.RestClient(base_url=base_url(cfg), api_key=api_key()).get_server_capabilities().result()
    offered = [m.model_name for m in caps.supported_models or []]
    if offered and cfg.base_model not in offered:
        raise ValueError(f"{service_label(cfg)} does not offer tinker.base_model {cfg.base_model!r}; it offers {', '.join(offered)}")


@contextmanager
def service_session(cfg: TinkerConfig) -> Iterator[Any]:
    """A ServiceClient for a stage, closed at the end. The key is checked first, with one cheap
    request: a missing, malformed or rejected key fails before any work."""
    service = connect(cfg)
    try:
        check_access(cfg)
        yield service
    except BaseException:
        close(service, ok=False)
        raise
    close(service, ok=True)


@contextmanager
def sdk_errors(what: str, cfg: TinkerConfig | None = None) -> Iterator[None]:
    """Turn the SDK's exceptions raised by `what` into TinkerKeyError / TinkerServiceError with a
    message that says what failed and what to do. Wrap the `.result()` calls too: futures raise
    there."""
    import tinker

    where = service_label(cfg) if cfg is not None else "the Tinker service"
    try:
        yield
    except tinker.AuthenticationError:
        raise TinkerKeyError(f"{where} rejected the API key in {KEY_ENV} (HTTP 401) during {what}: set {KEY_ENV} to a valid key") from None
    except tinker.PermissionDeniedError as e:
        raise TinkerKeyError(f"{where} refused {what} for the key in {KEY_ENV} (HTTP 403): {redact(str(e))}") from None
    except tinker.RequestFailedError as e:
        raise TinkerServiceError(
            f"Tinker {what} failed on the server (category {getattr(e.category, 'value', e.category)}): {redact(e.message)}. "
            "Work up to the last saved state is kept: rerun the stage to resume."
        ) from None
    except tinker.APIConnectionError as e:
        raise TinkerServiceError(f"could not reach {where} for {what} (the SDK retried): {redact(str(e))}") from None
    except tinker.APIStatusError as e:
        raise TinkerServiceError(f"Tinker {what} failed: HTTP {e.status_code}: {redact(str(e))}") from None
    except tinker.TinkerError as e:
        if "api_key" in str(e) or "tml-" in str(e):
            raise TinkerKeyError(f"{KEY_ENV}: {redact(str(e))}") from None
        raise TinkerServiceError(f"Tinker {what} failed: {redact(str(e))}") from None


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
    <|im_end|> / <|endoftext|> (kept in the reply) or after `max_tokens`. Counts what it sends."""

    def __init__(self, client: tinker.SamplingClient, max_tokens: int, path: str | None, cfg: TinkerConfig | None = None,
                 counts: TokenCounts | None = None):  # fmt: skip
        self.client, self.max_tokens, self.path, self.cfg, self.counts = client, max_tokens, path, cfg, counts

    @classmethod
    def from_path(cls, service: tinker.ServiceClient, path: str, max_tokens: int, cfg: TinkerConfig | None = None,
                  counts: TokenCounts | None = None) -> TinkerSampler:  # fmt: skip
        with sdk_errors("create_sampling_client", cfg):
            client = service.create_sampling_client(model_path=path).result()
        return cls(client, max_tokens, path, cfg, counts)

    def submit(self, prompt: list[int], num_samples: int, temperature: float, seed: int) -> _SampleFuture:
        from tinker import types

        # Greedy (temperature <= 0) as top_k=1 at temperature 1: argmax in every sampler, with no
        # division by a zero temperature anywhere.
        greedy = temperature <= 0
        params = types.SamplingParams(max_tokens=self.max_tokens, temperature=1.0 if greedy else temperature, top_k=1 if greedy else -1,
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
