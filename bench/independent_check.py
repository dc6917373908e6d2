"""A second test set for the learned policies (run by hand after `dvc repro`; not a DVC stage,
because the file it reads exists only where ../shared does).

    python bench/independent_check.py [--tasks ../shared/data/2wiki/dev200_flashrag_layout.jsonl]
                                      [--out reports/independent_check.md]

dev200_flashrag_layout.jsonl holds official dev rows 0-199 in the FlashRAG hub layout: the rules
answerer was never tuned on it, and only the questions also in dev.jsonl (10 here) overlap the main
test split. It lists answer aliases, so scores take the best alias, as the official evaluation
does. The script evaluates the rule baselines and every seed's SFT and GRPO-best checkpoint on
it, and compares each GRPO seed with its SFT start and with the heuristic question by question.
The studies bench/val_selection.py and bench/grpo_study.py select and train on its questions
(never the pipeline's checkpoints): what they find was seen on this file.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from explorer import layout
from explorer.checkpoints import open_policy
from explorer.config import load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.report import paired_lines
from explorer.stats import compare_seeds, mean_std

DEFAULT_TASKS = "../shared/data/2wiki/dev200_flashrag_layout.jsonl"
KEYS = ("f1", "em", "avg_opens", "avg_tokens_read")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=DEFAULT_TASKS)
    ap.add_argument("--out", default="reports/independent_check.md")
    args = ap.parse_args()
    params = load_params()
    tasks, label = resolve_tasks(args.tasks, params.data)
    main_tasks, _ = resolve_tasks(params.baseline.split, params.data)
    main_ids, main_questions = {t.id for t in main_tasks}, {t.question for t in main_tasks}
    overlap = sum(t.id in main_ids or t.question in main_questions for t in tasks)

    policies = {p: p for p in params.baseline.policies}
    for seed in params.train.seeds:
        policies[f"sft seed {seed}"] = str(layout.sft_checkpoint(params.sft, seed))
        policies[f"grpo seed {seed}"] = str(layout.grpo_best(params.grpo, seed))
    metrics, f1_by_question = {}, {}
    for name, policy in policies.items():
        if not Path(policy).suffix or Path(policy).exists():
            t0 = time.perf_counter()
            with open_policy(policy, params) as (factory, workers):
                m, episodes = evaluate_policy(
                    tasks, factory, policy, params.env, params.reward, params.baseline.seed, progress=False, workers=workers
                )
            metrics[name] = m
            f1_by_question[name] = {e.task_id: float(e.metrics["f1"]) for e in episodes}
            print(f"{name}: F1 {m['f1']:.3f} EM {m['em']:.3f} tokens {m['avg_tokens_read']:.1f} [{time.perf_counter() - t0:.1f}s]")
        else:
            print(f"{name}: no checkpoint at {policy}; skipped", file=sys.stderr)

    lines = [
        "# Independent check",
        "",
        f"`{label}`: {len(tasks)} questions, {overlap} of them also in the `{params.baseline.split}` split. "
        "Written by `python bench/independent_check.py` (not a DVC stage).",
        "",
        "| policy | F1 | EM | avg opens | avg tokens read |",
        "|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(f"| {name} | {m['f1']:.3f} | {m['em']:.3f} | {m['avg_opens']:.2f} | {m['avg_tokens_read']:.1f} |")
    for kind in ("sft", "grpo"):
        runs = [metrics[f"{kind} seed {s}"] for s in params.train.seeds if f"{kind} seed {s}" in metrics]
        if runs:
            ms = {k: mean_std([m[k] for m in runs]) for k in KEYS}
            lines.append(
                f"| **{kind}** (mean ± std, {len(runs)} seeds) | "
                + " | ".join(f"{ms[k]['mean']:.{nd}f} ± {ms[k]['std']:.{nd}f}" for k, nd in zip(KEYS, (3, 3, 2, 1), strict=True))
                + " |"
            )

    def by_seed(kind: str) -> dict[int, dict[str, float]]:
        return {s: f1_by_question[f"{kind} seed {s}"] for s in params.train.seeds if f"{kind} seed {s}" in f1_by_question}

    paired = compare_seeds(by_seed("grpo"), by_seed("sft"), f1_by_question.get("heuristic"))
    lines += ["", "Paired per-question comparison:", "", *[f"- {line}" for line in paired_lines(paired)], ""]
    atomic_write_text(args.out, "\n".join(lines))
    atomic_write_text(
        Path(args.out).with_suffix(".json"),
        json.dumps({"tasks": label, "n": len(tasks), "overlap": overlap, "metrics": metrics, "paired": paired}, indent=1),
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
