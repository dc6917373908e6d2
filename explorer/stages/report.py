"""The `report` stage: reports/results.md and the PNG plots, from the stages' metrics files."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from explorer import layout
from explorer.config import Params
from explorer.io import atomic_write_text
from explorer.plots import plot_comparison, plot_frontier
from explorer.report import result_rows, results_markdown
from explorer.stages import run_main
from explorer.tracking import stage_run


def main(params: Params) -> int:
    split = params.baseline.split
    baselines = json.loads(layout.baseline_metrics(params.baseline).read_text())
    learned = json.loads(layout.eval_metrics(params.evaluate).read_text())
    manifest = json.loads(layout.manifest_file(params.data).read_text())
    rows = result_rows(baselines, learned, split)
    plot_frontier(rows, layout.FRONTIER_PNG)
    plot_comparison(baselines, learned, split, layout.COMPARISON_PNG)
    n = next(iter(baselines.values()))["n"] if baselines else 0
    text = results_markdown(rows, split, n, manifest, learned.get("grpo", {}).get(split, {}).get("paired"))
    atomic_write_text(layout.RESULTS_MD, text)
    print(text)
    with stage_run(params.tracking, "report", {"stage": "report"}) as run:
        run.log_metrics({f"results/{r['policy']}/{k}": r[k][0] for r in rows for k in ("f1", "em", "avg_tokens_read")})
        for path in (layout.RESULTS_MD, layout.FRONTIER_PNG, layout.COMPARISON_PNG, layout.GRPO_CURVES_PNG):
            if Path(path).exists():
                run.log_artifact(path)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
