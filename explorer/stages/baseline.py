"""The `baseline` stage: every rule baseline (params.yaml `baseline.policies`) on one split,
through the eval harness; reports/baseline/{metrics.json, table.md, runs/<policy>/}."""

from __future__ import annotations

import sys

from explorer import layout
from explorer.config import Params
from explorer.data.tasks import resolve_tasks
from explorer.harness import run_and_record
from explorer.io import atomic_write_json, atomic_write_text
from explorer.policies import baseline_factory
from explorer.report import baseline_table
from explorer.stages import run_main


def main(params: Params) -> int:
    cfg = params.baseline
    tasks, label = resolve_tasks(cfg.split, params.data)
    results = {p: run_and_record(params, baseline_factory(p), p, tasks, label, layout.baseline_dir(cfg, p), cfg.seed) for p in cfg.policies}
    # by_type last in each policy's entry, as the table reads it
    atomic_write_json(
        layout.baseline_metrics(cfg),
        {p: {k: v for k, v in m.items() if k != "by_type"} | {"by_type": m["by_type"]} for p, m in results.items()},
    )
    table = layout.baseline_metrics(cfg).with_name("table.md")
    atomic_write_text(table, baseline_table(results, label))
    print(f"wrote {table}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
