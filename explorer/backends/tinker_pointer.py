"""Tinker pointer files: the checkpoints of the Tinker backend (models/sft/seed{N}/policy.json,
models/grpo/seed{N}/best.json and last.json) hold the tinker:// paths the service returned, never
the key. `pointer_policy` is what `explorer eval --policy PATH` runs for one: the greedy LLM policy
on the pointer's sampler weights, many episodes in flight at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from explorer.backends.tinker_sdk import service_session
from explorer.config import TinkerConfig
from explorer.io import atomic_write_json, read_json_object
from explorer.policies.llm import LLMPolicy
from explorer.types import PolicyFactory

TINKER_POINTER_FORMAT = "tinker-explorer/tinker-pointer/v1"
EVAL_WORKERS = 256  # greedy eval episodes in flight at once (each waits on its sample requests)


def write_pointer(
    path: Path, cfg: TinkerConfig, *, stage: str, seed: int, state_path: str, sampler_path: str, step: int, **extra: Any
) -> dict:
    """A DVC-tracked pointer to Tinker weights: what `explorer eval --policy PATH` loads. It holds
    the tinker:// paths the service returned, never the key."""
    doc = {
        "format": TINKER_POINTER_FORMAT, "stage": stage, "seed": seed, "base_model": cfg.base_model, "lora_rank": cfg.lora_rank,
        "state_path": state_path, "sampler_path": sampler_path, "step": step, "thinking": cfg.thinking, "max_tokens": cfg.max_tokens,
        **extra,
    }  # fmt: skip
    atomic_write_json(path, doc)
    return doc


def is_tinker_pointer(path: Path | str) -> bool:
    """Whether a checkpoint path is a Tinker pointer file (else: a local policy checkpoint)."""
    path = Path(path)
    return path.suffix == ".json" and path.is_file() and read_json_object(path, "checkpoint file").get("format") == TINKER_POINTER_FORMAT


def read_pointer(path: Path | str) -> dict[str, Any]:
    doc = read_json_object(path, "Tinker pointer file")
    if doc.get("format") != TINKER_POINTER_FORMAT:
        raise ValueError(f"{path}: not a Tinker pointer file (format {doc.get('format')!r}, expected {TINKER_POINTER_FORMAT!r})")
    for key in ("state_path", "sampler_path"):
        if not str(doc.get(key, "")).startswith("tinker://"):
            raise ValueError(f"{path}: {key} must be a tinker:// path, got {doc.get(key)!r}")
    return doc


@contextmanager
def pointer_policy(path: Path | str, cfg: TinkerConfig) -> Iterator[tuple[PolicyFactory, int]]:
    """The greedy LLM policy on a pointer's sampler weights, as a factory and how many episodes
    to run at once. Fails at once on a rejected key or a service without the pointer's model."""
    doc = read_pointer(path)
    cfg = replace(cfg, base_model=str(doc.get("base_model", cfg.base_model)))
    with service_session(cfg) as session:
        hint = (f"If {doc['sampler_path']} is gone from the service (checkpoints expire after tinker.checkpoint_ttl_seconds, "
                f"or were deleted), the checkpoint {path} names can no longer be evaluated: train it again")  # fmt: skip
        sampler = session.sampler(doc["sampler_path"], int(doc.get("max_tokens", cfg.max_tokens)), hint=hint)
        thinking = bool(doc.get("thinking", cfg.thinking))
        yield (lambda task: LLMPolicy(sampler, thinking=thinking, temperature=0.0, name=str(path))), EVAL_WORKERS
