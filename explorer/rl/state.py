"""The record a training run resumes from, and the fingerprint that says whether it may.

`RunState` (cf. tinker-cookbook's `CheckpointRecord`) is written atomically to `<run dir>/state.json`
after the work it describes is saved: the step, the run's numpy rng state, the learner's snapshot
(local: weights and Adam moments; Tinker: the tinker:// path of a saved training state), the best
checkpoint so far, every step's metrics, the metrics not yet sent to MLflow and the MLflow run id.
A finished run replaces it with `done.json` (fingerprint and result, no run id: the run's outputs
stay a pure function of its inputs). Both carry a fingerprint of everything that shapes the run;
a state or done marker with another fingerprint is ignored, and the stage says so.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from explorer.io import atomic_write_json

STATE_FORMAT = "tinker-explorer/run-state/v2"
STATE_FILE = "state.json"
DONE_FILE = "done.json"


def now_ms() -> float:
    """A metric timestamp (ms): kept with a pending metric, so re-sending it adds no duplicate."""
    return float(int(time.time() * 1000))


def fingerprint(*parts: Any) -> str:
    """What a saved state must match to be resumed: params, seed, start checkpoint, the tasks'
    content hash, the code hash (explorer.codedeps.code_hash) — whatever the caller passes."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class RunState:
    fingerprint: str
    step: int = 0  # steps done (and saved)
    rng: dict[str, Any] | None = None  # numpy bit-generator state after `step`
    learner: dict[str, Any] = field(default_factory=dict)  # the backend's snapshot after `step`
    best: dict[str, Any] = field(default_factory=dict)  # {"step": k, "val/reward": ..., ...}
    history: list[list[Any]] = field(default_factory=list)  # [step, metrics] of every step
    pending: list[list[Any]] = field(default_factory=list)  # [step, metrics + timestamp] not yet in MLflow
    run_id: str | None = None
    format: str = STATE_FORMAT

    def save(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path, expected: str, log: Callable[[str], None]) -> RunState | None:
        """The state at `path` if it was written by a run with the `expected` fingerprint."""
        if not path.exists():
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
        if doc.get("format") != STATE_FORMAT or doc.get("fingerprint") != expected:
            log(f"{path} was written with other params, data, start checkpoint or code; starting fresh")
            return None
        return cls(**doc)

    def add_metrics(self, step: int, metrics: dict[str, float], now_ms: float) -> None:
        self.history.append([step, metrics])
        self.pending.append([step, {**metrics, "timestamp": now_ms}])

    def flush(self, run: Any, log: Callable[[str], None] = print) -> bool:
        """Send the pending metrics to MLflow, oldest first. Called only after the state that holds
        them is on disk; re-sending the same (key, step, timestamp, value) after a crash adds no
        duplicate. If the server does not take them, the rest stay pending (and in the next saved
        state) and go with a later flush: a tracking server that dies mid-run loses no metrics.
        Returns whether everything was sent."""
        while self.pending:
            step, m = self.pending[0]
            try:
                run.log_metrics({k: v for k, v in m.items() if k != "timestamp"}, step=int(step), timestamp=int(m["timestamp"]))
            except Exception as e:  # the server's, not ours: keep the metrics, train on
                log(
                    f"warning: MLflow did not take the metrics of step {step} ({type(e).__name__}); {len(self.pending)} step(s) kept for later"
                )
                return False
            self.pending.pop(0)
        return True


def finished_result(run_dir: Path, expected: str, outputs: tuple[str, ...]) -> dict[str, Any] | None:
    """The result of an identical run (same fingerprint) that already finished in `run_dir`, if
    its outputs are all there: a rerun killed during a later seed does not retrain this one."""
    done = run_dir / DONE_FILE
    if not done.exists() or not all((run_dir / f).exists() for f in outputs):
        return None
    doc = json.loads(done.read_text(encoding="utf-8"))
    return doc["result"] if doc.get("fingerprint") == expected else None


def mark_done(run_dir: Path, fp: str, result: dict[str, Any]) -> None:
    """done.json first, then state.json goes: a kill in between leaves one of the two, never neither."""
    atomic_write_json(run_dir / DONE_FILE, {"fingerprint": fp, "result": result})
    (run_dir / STATE_FILE).unlink(missing_ok=True)
