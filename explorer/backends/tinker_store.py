"""What a Tinker run stores on the service and what it costs, as it goes.

`CheckpointStore` makes every save of a run: each with `ttl_seconds = tinker.checkpoint_ttl_seconds`
(the service deletes it then), each surviving the service's HTTP 409 on a save the SDK re-sends
after losing the first answer, and, unless `tinker.keep_old_checkpoints`, deleting the ones this
process saved that no file points at any more (old resume points, a superseded best).

The 409: the SDK re-sends a save whose answer it lost; the service then answers 409 ("checkpoint
already exists": the first save ran), which the SDK itself keeps re-sending for 5 minutes before
it raises `ConflictError`. So while a save is pending, every `SAVE_POLL_S` seconds the store asks
the service (`RestClient.list_checkpoints`) whether a checkpoint of that name exists; if it does,
that is the save (the names of one training run are never reused: they carry the step), the
pending retries are cancelled and its path is used.

`RunCost` keeps the run's cumulative counts (what `explorer cost` estimates before a run) and
turns them into `cost/*` metrics with `tinker.prices`. Storage is charged as if every checkpoint
lived its whole TTL, less the time left when the store deletes it.
"""

from __future__ import annotations

import concurrent.futures
import time
from dataclasses import dataclass
from typing import Any

from explorer.backends.tinker_sdk import TinkerSession, one_line, sdk_errors
from explorer.config import TinkerConfig

SAVE_POLL_S = 5.0  # a pending save checks this often whether its checkpoint exists already
MONTH_S = 30 * 24 * 3600
GB = 1e9
# LoRA parameters per unit of rank with MLP, attention and unembedding adapted (tinker-cookbook's
# hyperparam_utils); other models are estimated with Qwen3-8B's. Bytes per parameter: fp32
# weights (sampler), plus Adam's two moments (training state). Estimates: the service does not
# publish checkpoint sizes, and where `list_checkpoints` reports `size_bytes` that is used instead.
LORA_PARAMS_PER_RANK = {"Qwen/Qwen3-8B": 2_883_968, "Qwen/Qwen3-8B-Base": 2_883_968}
BYTES_PER_PARAM = {"state": 12, "sampler": 4}
KIND_SEGMENT = {"state": "weights", "sampler": "sampler_weights"}


def estimated_bytes(cfg: TinkerConfig, kind: str) -> int:
    per_rank = LORA_PARAMS_PER_RANK.get(cfg.base_model, LORA_PARAMS_PER_RANK["Qwen/Qwen3-8B"])
    return cfg.lora_rank * per_rank * BYTES_PER_PARAM[kind]


COUNT_KEYS = ("prefill", "cached", "sampled", "train", "requests", "storage_bytes", "gb_months")


class RunCost:
    """Cumulative counts of one run (restored from its resume point) and their `cost/*` metrics."""

    def __init__(self, cfg: TinkerConfig, totals: dict[str, float] | None = None):
        self.cfg = cfg
        self.totals = {k: 0.0 for k in COUNT_KEYS} | {k: float(v) for k, v in (totals or {}).items() if k in COUNT_KEYS}

    def add(self, **counts: float) -> None:
        for k, v in counts.items():
            self.totals[k] += float(v)

    def metrics(self, live_bytes: float) -> dict[str, float]:
        t, p = self.totals, self.cfg.prices
        return {
            "cost/prefill_tokens": t["prefill"], "cost/prefill_cached_tokens": t["cached"],
            "cost/prefill_uncached_tokens": t["prefill"] - t["cached"], "cost/sampled_tokens": t["sampled"],
            "cost/train_tokens": t["train"], "cost/storage_gb_written": t["storage_bytes"] / GB,
            "cost/storage_gb_live": live_bytes / GB,
            "cost/dollars_storage": p.dollars(gb_months=t["gb_months"]),
            "cost/dollars": p.dollars(t["prefill"], t["cached"], t["sampled"], t["train"], t["gb_months"]),
        }  # fmt: skip


@dataclass
class Saved:
    path: str
    kind: str
    size_bytes: int
    created: float
    deleted: bool = False


class CheckpointStore:
    """The checkpoints one process saves for one run: saved with the TTL, 409-safe, counted into
    `cost`, and deleted once nothing points at them (unless tinker.keep_old_checkpoints)."""

    def __init__(self, session: TinkerSession, cost: RunCost, log: Any = print):
        self.session, self.cfg, self.cost, self.log = session, session.cfg, cost, log
        self.saved: list[Saved] = []

    def save(self, tc: Any, kind: str, name: str) -> str:
        """Save the training client's current weights as a training state (kind "state": weights
        and optimizer, to resume from) or sampler weights ("sampler"); the tinker:// path."""
        ttl = self.cfg.checkpoint_ttl_seconds
        with sdk_errors(f"save_{kind}", self.cfg):
            future = tc.save_state(name, ttl_seconds=ttl) if kind == "state" else tc.save_weights_for_sampler(name, ttl_seconds=ttl)
        while True:
            try:
                with sdk_errors(f"save_{kind}", self.cfg):
                    path = future.result(timeout=SAVE_POLL_S).path
                break
            except concurrent.futures.TimeoutError:
                listed = self._listed(tc.model_id, kind, name)
                if listed is not None:
                    future.future().cancel()  # the SDK is re-sending a save that has run (HTTP 409)
                    path = listed.tinker_path
                    self.log(f"{kind} checkpoint {name}: saved (the service lists it); the SDK's re-sent save is dropped")
                    break
        size = self._size(tc.model_id, path, kind)
        self.saved.append(Saved(path, kind, size, time.time()))
        self.cost.add(storage_bytes=size, gb_months=size / GB * ttl / MONTH_S)
        return path

    def _list(self, model_id: str) -> list[Any]:
        try:
            return list(self.session.rest.list_checkpoints(model_id).result(timeout=60).checkpoints)
        except Exception as e:  # a listing is only a look: a failure means "not known yet"
            self.log(f"note: could not list the checkpoints of {model_id}: {one_line(e)}")
            return []

    def _listed(self, model_id: str, kind: str, name: str) -> Any | None:
        suffix = f"/{KIND_SEGMENT[kind]}/{name}"
        return next((c for c in self._list(model_id) if c.tinker_path.endswith(suffix)), None)

    def _size(self, model_id: str, path: str, kind: str) -> int:
        listed = next((c for c in self._list(model_id) if c.tinker_path == path), None)
        size = getattr(listed, "size_bytes", None)
        return int(size) if size else estimated_bytes(self.cfg, kind)

    def live_bytes(self) -> int:
        return sum(s.size_bytes for s in self.saved if not s.deleted)

    def collect(self, keep: set[str]) -> None:
        """Delete what this process saved and `keep` does not name (unless keep_old_checkpoints).
        A failed delete is only a note: the checkpoint still expires with its TTL."""
        if self.cfg.keep_old_checkpoints:
            return
        for s in self.saved:
            if s.deleted or s.path in keep:
                continue
            try:
                self.session.rest.delete_checkpoint_from_tinker_path(s.path).result(timeout=60)
            except Exception as e:
                self.log(f"note: could not delete {s.path} (it expires with its TTL): {one_line(e)}")
                continue
            s.deleted = True
            left = max(0.0, self.cfg.checkpoint_ttl_seconds - (time.time() - s.created))
            self.cost.add(gb_months=-s.size_bytes / GB * left / MONTH_S)
