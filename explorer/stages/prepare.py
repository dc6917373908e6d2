"""The `prepare` stage: raw 2Wiki records -> data/prepared/{train,val,dev}.jsonl + manifest.json.

Nothing is written until every split is built; then each file is written atomically (temp file +
rename), the manifest last, so a crash leaves whole files, never a half-written one.
"""

from __future__ import annotations

import sys
from typing import Any

from explorer import layout
from explorer.config import DataConfig, Params
from explorer.data.sources import build
from explorer.data.tasks import task_to_dict
from explorer.io import atomic_write_json, atomic_write_jsonl
from explorer.stages import run_main
from explorer.tracking import stage_run


def prepare(cfg: DataConfig) -> dict[str, Any]:
    """Build every split, then write them and the manifest; returns the manifest."""
    tasks, manifest = build(cfg)
    for name, ts in tasks.items():
        atomic_write_jsonl(layout.split_file(cfg, name), (task_to_dict(t) for t in ts))
    atomic_write_json(layout.manifest_file(cfg), manifest)
    return manifest


def main(params: Params) -> int:
    cfg = params.data
    manifest = prepare(cfg)
    source = f"{manifest['source']['kind']}:{manifest['source']['location']}"
    with stage_run(params.tracking, "prepare", {"stage": "prepare", "data.source": source}) as run:
        run.log_params({f"data.{k}": v for k, v in manifest["params"].items()} | {"data.source": cfg.source})
        run.log_metrics({f"data/{name}_tasks": v["tasks"] for name, v in manifest["splits"].items()})
        run.set_tags({f"data.{name}.sha256": v["sha256"] for name, v in manifest["inputs"].items()})
        run.log_artifact(layout.manifest_file(cfg))
    sizes = ", ".join(f"{k} {v['tasks']}" for k, v in manifest["splits"].items())
    print(f"prepared {sizes} tasks from {manifest['source']['kind']} {manifest['source']['location']} -> {cfg.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
