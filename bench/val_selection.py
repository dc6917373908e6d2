"""Would a validation set from dev's distribution pick better GRPO checkpoints? (run by hand after
`dvc repro`; not a DVC stage, because the dev-like file exists only where ../shared does).

    python bench/val_selection.py [--every 5] [--out reports/val_selection.md]

The grpo stage keeps the checkpoint with the best reward on val, 100 questions held out of the
official train split. The rules reader was written on train records, so on val it is nearly as
sure as on train (the README's "Against the targets"), and val cannot see what the test split pays
for reading on when the reader is unsure. This script reruns each seed's GRPO in process, on the
default params from its SFT checkpoint (the same run as the stage: its last weights must equal
models/grpo/seed{N}/last.json, which is checked), and every `--every` steps evaluates the greedy
policy on three sets:
- val: what the stage selects on;
- dev-like: official dev rows of dev200_flashrag_layout.jsonl that are not in the test split;
- test: the 250 dev questions every report uses.
It then says which step each set would choose (the best reward, ties to the later step, as the
stage does) and what that checkpoint scores on the test split, and how well each set's reward
tracks the test reward across checkpoints. Nothing here changes the pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from explorer import layout
from explorer.backends import local
from explorer.config import load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.policies.local import load_policy
from explorer.rl.grpo import GRPORun
from explorer.rl.state import fingerprint
from explorer.tracking import NullRun

DEV_LIKE = "../shared/data/2wiki/dev200_flashrag_layout.jsonl"
SETS = ("val", "dev-like", "test")
KEYS = ("avg_reward", "f1", "avg_tokens_read")
Curves = dict[str, dict[int, dict[str, float]]]  # set -> GRPO step -> metrics of the greedy policy there


def choose(curve: dict[int, dict[str, float]]) -> int:
    """The step a set picks: best reward, ties to the later step (as the grpo stage)."""
    return max(curve, key=lambda step: (round(curve[step]["avg_reward"], 12), step))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--every", type=int, default=5, help="evaluate every N GRPO steps (and at step 0)")
    ap.add_argument("--dev-like", default=DEV_LIKE)
    ap.add_argument("--out", default="reports/val_selection.md")
    args = ap.parse_args()
    params = load_params()
    train, _ = resolve_tasks("train", params.data)
    val, _ = resolve_tasks("val", params.data)
    test, _ = resolve_tasks("dev", params.data)
    test_ids, test_questions = {t.id for t in test}, {t.question for t in test}
    dev_file, label = resolve_tasks(args.dev_like, params.data)
    dev_like = [t for t in dev_file if t.id not in test_ids and t.question not in test_questions]
    print(
        f"val {len(val)}, dev-like {len(dev_like)} ({label}, {len(dev_file) - len(dev_like)} in the test split left out), test {len(test)}"
    )
    others = {"dev-like": dev_like, "test": test}  # val is scored by the run's own eval

    curves: dict[int, Curves] = {}
    for seed in params.train.seeds:
        init = layout.sft_checkpoint(params.sft, seed)
        learner, parts = local.grpo_learner(params, seed, init, train, val)
        curve: Curves = {name: {} for name in SETS}
        with tempfile.TemporaryDirectory() as tmp:
            # eval_every changes only when val is looked at: greedy evals draw nothing from the run's rng
            cfg = replace(params.grpo, eval_every=args.every, viewer_every=0)
            run = GRPORun(cfg, seed, learner, train, val, params.env, params.reward, Path(tmp), fingerprint(*parts), log=lambda *_: None)
            stage_eval = run.eval_val

            def eval_all(
                run: GRPORun = run, stage_eval: Callable[[], dict[str, float]] = stage_eval, curve: Curves = curve
            ) -> dict[str, float]:
                val_m = stage_eval()  # val as the stage scores it; the other two sets beside it
                curve["val"][run.state.step] = {"avg_reward": val_m["val/reward"], "f1": val_m["val/f1"],
                                                "avg_tokens_read": val_m["val/tokens_read"]}  # fmt: skip
                for name, tasks in others.items():
                    m, _ = evaluate_policy(tasks, run.learner.greedy_factory(), "grpo", params.env, params.reward, progress=False)
                    curve[name][run.state.step] = {k: float(m[k]) for k in KEYS}
                return val_m

            run.eval_val = eval_all
            t0 = time.perf_counter()
            run.train(NullRun())
            w_last = np.array(learner.w)
        stage_dir = layout.grpo_dir(params.grpo, seed)
        stage_last = load_policy(stage_dir / "last.json").weights
        # and the val rewards the stage logged at its own eval steps are this run's at those steps
        stage_val = {h["step"]: h["val/reward"] for h in json.loads((stage_dir / "history.json").read_text()) if "val/reward" in h}
        if not np.array_equal(w_last, stage_last) or any(
            abs(curve["val"][k]["avg_reward"] - v) > 1e-12 for k, v in stage_val.items() if k in curve["val"]
        ):
            sys.exit(f"seed {seed}: this run's last weights or val rewards differ from the stage's in {stage_dir}: "
                     "rerun `dvc repro` first (the study must be of the stage's own runs)")  # fmt: skip
        curves[seed] = curve
        print(
            f"seed {seed}: {len(curve['val'])} checkpoints on 3 sets [{time.perf_counter() - t0:.0f}s]; last weights and val rewards = the stage's"
        )

    lines = [
        "# Which validation set picks the GRPO checkpoint",
        "",
        f"Default params, GRPO of each seed rerun in process (its last weights equal the stage's), greedy evaluation every "
        f"{args.every} steps on val ({len(val)} held-out train questions, what the grpo stage selects on), dev-like "
        f"({len(dev_like)} official dev questions of `{label}` that are not in the test split) and test ({len(test)} dev "
        "questions). Written by `python bench/val_selection.py`. Reward = the training reward "
        f"({params.reward.variant}, λ {params.reward.cost_coef}); F1 @ tokens read.",
        "",
        "| seed | selected by | step | test reward | test F1 @ tokens | that set's own reward |",
        "|---|---|---|---|---|---|",
    ]
    picked: dict[str, list[dict[str, float]]] = {name: [] for name in SETS}
    for seed, curve in curves.items():
        for name in SETS:
            step = choose(curve[name])
            t = curve["test"][step]
            picked[name].append(t)
            lines.append(f"| {seed} | {name} | {step} | {t['avg_reward']:.3f} | {t['f1']:.3f} @ {t['avg_tokens_read']:.1f} | "
                         f"{curve[name][step]['avg_reward']:.3f} |")  # fmt: skip
    lines += ["", "Mean over seeds of the test scores of the checkpoint each set picks:", "",
              "| selected by | test reward | test F1 | test tokens read |", "|---|---|---|---|"]  # fmt: skip
    for name in SETS:
        rows = picked[name]
        cell = [f"{np.mean([r[k] for r in rows]):.3f} ± {np.std([r[k] for r in rows], ddof=1):.3f}" for k in ("avg_reward", "f1")]
        toks = [r["avg_tokens_read"] for r in rows]
        lines.append(f"| {name} | {cell[0]} | {cell[1]} | {np.mean(toks):.1f} ± {np.std(toks, ddof=1):.1f} |")
    lines += ["", "How each set's reward tracks the test reward across one seed's checkpoints (Pearson r):", "",
              "| seed | val | dev-like |", "|---|---|---|"]  # fmt: skip
    for seed, curve in curves.items():
        steps = sorted(curve["test"])
        y = [curve["test"][s]["avg_reward"] for s in steps]
        rs = [np.corrcoef([curve[name][s]["avg_reward"] for s in steps], y)[0, 1] for name in ("val", "dev-like")]
        lines.append(f"| {seed} | {rs[0]:+.2f} | {rs[1]:+.2f} |")
    lines += ["", "Every checkpoint (reward / F1 @ tokens read):", "", "| seed | step | val | dev-like | test |", "|---|---|---|---|---|"]
    for seed, curve in curves.items():
        for step in sorted(curve["test"]):
            cells = [
                f"{curve[n][step]['avg_reward']:.3f} / {curve[n][step]['f1']:.3f} @ {curve[n][step]['avg_tokens_read']:.0f}" for n in SETS
            ]
            lines.append(f"| {seed} | {step} | " + " | ".join(cells) + " |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps({str(s): c for s, c in curves.items()}, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
