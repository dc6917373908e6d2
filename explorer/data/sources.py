"""Where the raw records come from (auto | local:PATH | hub:ID) and how they become splits.

`data.source: auto` uses $EXPLORER_2WIKI_DIR if set, else ../shared/data/2wiki (beside the project
root) if it holds the train file, else the hub id; the choice and the reason are always printed
and recorded in the manifest. A named source that fails is an error, never a silent fallback.
Val is held out of the official train split (a seeded shuffle), so checkpoint selection never sees
the dev questions we report on.
"""

from __future__ import annotations

import os
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explorer.config import DataConfig, project_root
from explorer.data.records import LoadReport, RawRecord, load_hub_records, read_records
from explorer.data.tasks import make_tasks
from explorer.types import Task

SHARED_2WIKI_DIR = Path("../shared/data/2wiki")  # relative to the project root


@dataclass(frozen=True)
class ResolvedSource:
    kind: str  # local | hub
    location: str  # folder path or hub id
    why: str


def _local_folder(path: str) -> str:
    """A folder as the user wrote it. A relative one is read against the project root, not the
    current folder (`local_folder_path`), so a `dvc exp run --temp` copy reads the same files as
    the workspace and records the same manifest (DVC's run cache may hand that manifest back to
    the workspace: it must not depend on where the stage ran)."""
    return str(Path(path).expanduser())


def local_folder_path(location: str) -> Path:
    p = Path(location)
    return p if p.is_absolute() else project_root() / p


def resolve_source(cfg: DataConfig, environ: dict[str, str] | None = None) -> ResolvedSource:
    env = os.environ if environ is None else environ
    spec = cfg.source
    if spec.startswith("local:"):
        return ResolvedSource("local", _local_folder(spec.removeprefix("local:")), "data.source names a local folder")
    if spec.startswith("hub:"):
        return ResolvedSource("hub", spec.removeprefix("hub:"), "data.source names a hub id")
    if spec != "auto":
        raise ValueError(f"data.source must be auto, local:PATH or hub:ID, got {spec!r}")
    if env.get("EXPLORER_2WIKI_DIR"):
        return ResolvedSource("local", _local_folder(env["EXPLORER_2WIKI_DIR"]), "data.source=auto and $EXPLORER_2WIKI_DIR is set")
    if (local_folder_path(str(SHARED_2WIKI_DIR)) / cfg.train_file).exists():
        return ResolvedSource("local", str(SHARED_2WIKI_DIR), f"data.source=auto and {SHARED_2WIKI_DIR} exists")
    return ResolvedSource("hub", cfg.hub_id, f"data.source=auto, no $EXPLORER_2WIKI_DIR and no {SHARED_2WIKI_DIR}")


def load_source(src: ResolvedSource, cfg: DataConfig) -> tuple[list[RawRecord], LoadReport, list[RawRecord], LoadReport]:
    if src.kind == "local":
        # read from the project root; named as written (so the manifest is the same from any folder)
        folder, shown = local_folder_path(src.location), Path(src.location)
        train, train_rep = read_records(folder / cfg.train_file, cfg.on_error, label=str(shown / cfg.train_file))
        dev, dev_rep = read_records(folder / cfg.dev_file, cfg.on_error, label=str(shown / cfg.dev_file))
    else:
        train, train_rep = load_hub_records(src.location, cfg.hub_train_split, cfg.on_error)
        dev, dev_rep = load_hub_records(src.location, cfg.hub_dev_split, cfg.on_error)
    return train, train_rep, dev, dev_rep


def build_splits(
    train_records: list[RawRecord], dev_records: list[RawRecord], cfg: DataConfig
) -> tuple[dict[str, list[RawRecord]], list[str]]:
    """Pure split logic: val is held out of the official train split (a seeded shuffle), so
    checkpoint selection never sees the dev questions we report on. Returns splits and notes
    about any size that had to be capped."""
    notes = []
    shuffled = list(train_records)
    random.Random(cfg.seed).shuffle(shuffled)
    if cfg.val_size >= len(shuffled):
        raise ValueError(f"data.val_size={cfg.val_size} leaves no training records (source has {len(shuffled)})")
    val = shuffled[: cfg.val_size]
    rest = shuffled[cfg.val_size :]
    if cfg.train_size > len(rest):
        notes.append(f"train: data.train_size={cfg.train_size} but the source has {len(rest)} after the val hold-out; using {len(rest)}")
    train = rest[: cfg.train_size]
    dev = dev_records if cfg.dev_size <= 0 else dev_records[: cfg.dev_size]
    if 0 < len(dev_records) < cfg.dev_size:
        notes.append(f"dev: data.dev_size={cfg.dev_size} but the source has {len(dev_records)}; using {len(dev_records)}")
    return {"train": train, "val": val, "dev": dev}, notes


def build(cfg: DataConfig) -> tuple[dict[str, list[Task]], dict[str, Any]]:
    """Read the source and build every split in memory, with the manifest that describes them
    (nothing is written here: the prepare stage writes the files, atomically, manifest last)."""
    src = resolve_source(cfg)
    print(f"data source: {src.kind} {src.location} ({src.why})", file=sys.stderr)
    train_recs, train_rep, dev_recs, dev_rep = load_source(src, cfg)
    splits, notes = build_splits(train_recs, dev_recs, cfg)
    tasks: dict[str, list[Task]] = {}
    warnings: list[str] = []
    for name, recs in splits.items():
        tasks[name], w = make_tasks(recs, cfg)
        warnings.extend(w)
    for msg in notes + train_rep.skipped + dev_rep.skipped + warnings:
        print(f"warning: {msg}", file=sys.stderr)
    manifest = {
        "source": {"kind": src.kind, "location": src.location, "why": src.why},
        "inputs": {
            name: {"source": rep.source, "records": rep.records, "sha256": rep.sha256, "skipped": rep.skipped}
            for name, rep in (("train", train_rep), ("dev", dev_rep))
        },
        "splits": {
            name: {
                "tasks": len(ts),
                "types": dict(Counter(t.type for t in ts)),
                "chunks": sum(len(t.chunks) for t in ts),
                "avg_tokens_all": round(sum(t.all_reading_cost for t in ts) / max(1, len(ts)), 1),
                "avg_tokens_gold": round(sum(t.min_reading_cost for t in ts) / max(1, len(ts)), 1),
            }
            for name, ts in tasks.items()
        },
        "params": {
            k: getattr(cfg, k) for k in ("train_size", "val_size", "dev_size", "seed", "max_chunk_tokens", "preview_tokens", "on_error")
        },
        "notes": notes,
        "warnings": warnings,
    }
    return tasks, manifest
