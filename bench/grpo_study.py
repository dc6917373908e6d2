"""GRPO with other training questions or settings, measured on the test split (run by hand after
`dvc repro`; not a DVC stage, because the dev-like file exists only where ../shared does).

    python bench/grpo_study.py [--val 50] [--questions dev-like|both|train] [--set SECTION.KEY=VALUE ...]
                               [--out reports/grpo_study-QUESTIONS[-valN][-SECTION.KEY_VALUE...].md]

The rules reader was written on the train records: there it is rarely unsure once the gold
chunks are read, so the train reward never shows the policy what reading on costs when the reader
cannot extract the answer, which is where GRPO's extra tokens go on dev (README, "Against the
targets"). This study keeps the default pipeline (params, each seed's SFT start from the train
demos, the GRPO loop) and changes what GRPO trains on, or a grpo or reward setting (`--set`; a
reward setting applies to the evaluation too, so every row of a report is scored alike):
- dev-like: official dev questions of dev200_flashrag_layout.jsonl that are not in the test
  split, split (seeded) into GRPO's training questions and `--val` for checkpoint selection;
- both: those training questions and the train split's, selected on the same dev-like `--val`;
- train: the train split, selected on val, as the grpo stage (with no `--grpo` this reruns the
  stage's own runs: their test numbers must equal the stage's).
Each seed's best checkpoint is evaluated on the 250 test questions beside the heuristic, its SFT
start and the stage's own GRPO, with paired per-question comparisons (reward and F1), and the
report gives the trend of the training episodes (first 10 steps against the last 10). No test
question is trained or selected on.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import yaml

from explorer import layout
from explorer.backends import local
from explorer.checkpoints import open_policy
from explorer.config import GRPOConfig, from_dict, load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.report import paired_lines
from explorer.reward import RewardConfig
from explorer.rl.grpo import GRPORun
from explorer.rl.state import fingerprint
from explorer.stats import mean_std, paired_comparison
from explorer.tracking import NullRun

DEV_LIKE = "../shared/data/2wiki/dev200_flashrag_layout.jsonl"
KEYS = ("f1", "em", "avg_tokens_read", "avg_reward")


def first_last(history: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean of steps 1-10 and of the last 10 steps of a GRPO history (step 0, the start's val eval, has no rollouts)."""
    steps = [m for m in history if "reward/mean" in m]
    return {k: (float(np.mean([m[k] for m in steps[:10]])), float(np.mean([m[k] for m in steps[-10:]])))
            for k in ("reward/mean", "budget/tokens_read", "groups/kept")}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--val", type=int, default=50, help="dev-like questions held out for checkpoint selection")
    ap.add_argument("--questions", choices=("dev-like", "both", "train"), default="dev-like",
                    help="GRPO's training questions: the dev-like ones, those and the train split's, or the train split's "
                         "alone (then selected on val, as the grpo stage)")  # fmt: skip
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a grpo or reward setting for these runs and their evaluation (repeatable)",
    )
    ap.add_argument("--dev-like", default=DEV_LIKE)
    ap.add_argument("--out", help="default: reports/grpo_study-QUESTIONS[-valN][-SECTION.KEY_VALUE...].md")
    args = ap.parse_args()
    if args.out is None:
        name = "-".join([f"grpo_study-{args.questions}", *([f"val{args.val}"] if args.val != 50 else []),
                         *(item.replace("=", "_") for item in args.set)])  # fmt: skip
        args.out = f"reports/{name}.md"
    params = load_params()
    stage = params
    for item in args.set:
        key, _, value = item.partition("=")
        section, _, field = key.partition(".")
        if section not in ("grpo", "reward") or not field or not value:
            sys.exit(f"--set {item!r}: expected grpo.KEY=VALUE or reward.KEY=VALUE")
        cls = GRPOConfig if section == "grpo" else RewardConfig
        params = replace(
            params, **{section: from_dict(cls, asdict(getattr(params, section)) | {field: yaml.safe_load(value)}, f"--set {item}")}
        )
    test, _ = resolve_tasks("dev", params.data)
    test_ids, test_questions = {t.id for t in test}, {t.question for t in test}
    dev_file, label = resolve_tasks(args.dev_like, params.data)
    dev_like = [t for t in dev_file if t.id not in test_ids and t.question not in test_questions]
    order = np.random.default_rng(params.data.seed).permutation(len(dev_like))
    val = [dev_like[i] for i in order[: args.val]]
    train = [dev_like[i] for i in order[args.val :]]
    trained_on, selected_on = f"{len(train)} dev-like questions", f"{len(val)} dev-like"
    if args.questions != "dev-like":
        own = resolve_tasks("train", params.data)[0]
        train, trained_on = train + own, f"{trained_on} and the {len(own)} of the train split"
    if args.questions == "train":
        val, _ = resolve_tasks("val", params.data)
        train, trained_on, selected_on = own, f"the {len(own)} of the train split", f"the {len(val)} of val"
    changed = {f"{sec}.{k}": v for sec in ("grpo", "reward") for k, v in asdict(getattr(params, sec)).items()
               if asdict(getattr(stage, sec))[k] != v}  # fmt: skip
    print(f"GRPO on {trained_on}, selected on {selected_on} ({label}); settings changed: {changed or 'none'}; test: {len(test)}")

    def on_test(policy: str) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
        with open_policy(policy, params) as (factory, workers):
            m, episodes = evaluate_policy(
                test, factory, policy, params.env, params.reward, params.baseline.seed, progress=False, workers=workers
            )
        return ({k: float(m[k]) for k in KEYS}, {e.task_id: float(e.metrics["f1"]) for e in episodes},
                {e.task_id: float(e.reward) for e in episodes})  # fmt: skip

    results: dict[str, tuple] = {"heuristic": on_test("heuristic")}
    best_steps: dict[int, int] = {}
    trend: dict[str, dict[str, tuple[float, float]]] = {}  # run -> metric -> (mean of steps 1-10, of the last 10)
    for seed in params.train.seeds:
        init = layout.sft_checkpoint(params.sft, seed)
        results[f"sft seed {seed}"] = on_test(str(init))
        results[f"grpo (stage) seed {seed}"] = on_test(str(layout.grpo_best(params.grpo, seed)))
        learner, parts = local.grpo_learner(params, seed, init, train, val)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            run = GRPORun(
                params.grpo, seed, learner, train, val, params.env, params.reward, Path(tmp), fingerprint(*parts), log=lambda *_: None
            )
            best_steps[seed] = run.train(NullRun())["best"]["step"]
            trend[f"{trained_on}, seed {seed}"] = first_last([m for _, m in run.history])
            results[f"grpo (study) seed {seed}"] = on_test(str(Path(tmp) / "best.json"))
        stage_history = json.loads((layout.grpo_dir(params.grpo, seed) / "history.json").read_text())
        trend[f"the train split (the grpo stage), seed {seed}"] = first_last(stage_history)
        m = results[f"grpo (study) seed {seed}"][0]
        print(f"seed {seed}: best at step {best_steps[seed]}; test F1 {m['f1']:.3f} @ {m['avg_tokens_read']:.1f} reward {m['avg_reward']:.3f} "
              f"[{time.perf_counter() - t0:.0f}s]")  # fmt: skip

    lines = [
        f"# GRPO trained on {trained_on}" + (f" ({', '.join(f'{k} {v}' for k, v in changed.items())})" if changed else ""),
        "",
        f"Default params and SFT starts; GRPO trained on {trained_on} and selected on {selected_on}: the dev-like questions are "
        f"official dev questions of `{label}` that are not in the test split (seeded split); every policy evaluated on the "
        f"{len(test)} test questions. Written by `python bench/grpo_study.py`. Reward = the training reward "
        f"({params.reward.variant}, λ {params.reward.cost_coef}). These runs' settings that differ from the stage's (the evaluation's reward too): "
        f"{', '.join(f'{k} {v}' for k, v in changed.items()) or 'none'}.",
        "",
        "| policy | F1 | EM | avg tokens read | reward |",
        "|---|---|---|---|---|",
    ]
    for name, (m, _, _) in results.items():
        lines.append(f"| {name} | {m['f1']:.3f} | {m['em']:.3f} | {m['avg_tokens_read']:.1f} | {m['avg_reward']:.3f} |")
    for kind in ("sft", "grpo (stage)", "grpo (study)"):
        ms = {k: mean_std([results[f"{kind} seed {s}"][0][k] for s in params.train.seeds]) for k in KEYS}
        lines.append(f"| **{kind}** (mean ± std, {len(params.train.seeds)} seeds) | "
                     + " | ".join(f"{ms[k]['mean']:.{nd}f} ± {ms[k]['std']:.{nd}f}" for k, nd in zip(KEYS, (3, 3, 1, 3), strict=True)) + " |")  # fmt: skip
    lines += ["", f"Best val step per seed: {', '.join(f'seed {s}: {step}' for s, step in best_steps.items())}.", "",
              "GRPO's training episodes, mean of steps 1-10 → mean of the last 10 steps:", "",
              "| GRPO questions | train reward | tokens read | groups kept (of 8) |", "|---|---|---|---|",
              *[f"| {s} | " + " | ".join(f"{a:.3f} → {b:.3f}" if k == "reward/mean" else f"{a:.1f} → {b:.1f}" for k, (a, b) in t.items()) + " |"
                for s, t in trend.items()], "",
              "Paired per-question comparisons on the test split (10,000 bootstrap resamples):", ""]  # fmt: skip
    paired: dict[str, dict] = {"reward": {}, "f1": {}}
    for seed in params.train.seeds:
        mine = results[f"grpo (study) seed {seed}"]
        for other in ("heuristic", f"sft seed {seed}", f"grpo (stage) seed {seed}"):
            key = f"study_vs_{other.split(' seed')[0].replace(' ', '-').replace('(', '').replace(')', '')}/seed{seed}"
            paired["reward"][key] = paired_comparison(mine[2], results[other][2])
            paired["f1"][key] = paired_comparison(mine[1], results[other][1])
    lines += [f"- {line}" for line in paired_lines(paired)]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(
        {"tasks": label, "trained_on": trained_on, "selected_on": selected_on, "grpo_changed": changed, "best_steps": best_steps, "train_trend": trend,
         "metrics": {k: v[0] for k, v in results.items()}, "paired": paired}, indent=1))  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
