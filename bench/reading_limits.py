"""What a reading policy can reach with this reader, by chunk size (run by hand; writes
reports/reading_limits.md). Three label-reading references on the report split:

- gold: open exactly the chunks holding supporting facts (the `gold_reading` baseline);
- prefix: open each gold paragraph from its first chunk up to its gold chunk, the cheapest reading
  a policy can discover when nothing shown tells a paragraph's chunks apart but their order;
- prefix+stop: the same, answering as soon as the reader judges the reading sufficient.

    python bench/reading_limits.py [--sizes 128 96 64 48 32 0]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from explorer.config import DataConfig, load_params
from explorer.data.records import read_records
from explorer.data.sources import resolve_source
from explorer.data.tasks import make_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.policies.baselines import gold_reading_policy, read_passages
from explorer.reader import answer_question, is_sufficient
from explorer.types import Answer, Task

ROOT = Path(__file__).resolve().parents[1]


def with_prefixes(task: Task) -> Task:
    """The task with each gold paragraph's chunks before its gold chunk counted as gold too."""
    gold = set(task.gold_chunk_ids)
    for g in task.gold_chunk_ids:
        gold |= {c.id for c in task.chunks if c.paragraph == task.chunks[g].paragraph and c.id <= g}
    return replace(task, gold_chunk_ids=tuple(sorted(gold)))


def stop_when_sufficient(task: Task):
    inner = gold_reading_policy(task)

    def act(obs, rng):
        read = read_passages(obs)
        if read and is_sufficient(obs.question, read):
            return Answer(answer_question(obs.question, read))
        return inner(obs, rng)

    return act


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 96, 64, 48, 32, 0])
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    src = resolve_source(params.data)
    records, _ = read_records(Path(src.location) / params.data.dev_file)
    lines = ["# What reading can reach with this reader", "", f"{len(records)} official dev questions ({src.location}); "
             "F1 @ average tokens read. Written by `python bench/reading_limits.py`.", "",
             "| data.max_chunk_tokens | gold | prefix | prefix + stop when sufficient |", "|---|---|---|---|"]  # fmt: skip
    for size in args.sizes:
        tasks, _ = make_tasks(records, replace(DataConfig(), max_chunk_tokens=size))
        prefix = [with_prefixes(t) for t in tasks]
        cells = []
        for ts, factory in ((tasks, gold_reading_policy), (prefix, gold_reading_policy), (prefix, stop_when_sufficient)):
            m, _ = evaluate_policy(ts, factory, "limit", params.env, params.reward, progress=False)
            cells.append(f"{m['f1']:.3f} @ {m['avg_tokens_read']:.0f}")
        lines.append(f"| {size or 'one sentence'} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    atomic_write_text(ROOT / "reports/reading_limits.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
