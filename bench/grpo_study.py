"""GRPO with other training questions or settings, measured on the test split (run by hand after
`dvc repro`; not a DVC stage, because the dev-like file exists only where ../shared does).

    python bench/grpo_study.py [--val 50] [--questions dev-like|both|train] [--set SECTION.KEY=VALUE ...]
                               [--out reports/grpo_study-QUESTIONS[-valN][-SECTION.KEY_VALUE...].md]

The rules reader was written on the train records: there it is rarely unsure once the gold
chunks are read, so the train reward never shows the policy what reading on costs when the reader
cannot extract the answer, which is where GRPO's extra tokens go on dev (README, "Against the
targets"). This study keeps the default pipeline (params, each seed's SFT start from the train
demos, the GRPO loop) and changes what GRPO trains on, or a grpo or reward setting (`--set`; a
reward setting applies to the evaluation too, so every row of the test table is scored alike; the
training trend of the stage stays at its own reward):
- dev-like: official dev questions of dev200_flashrag_layout.jsonl that are not in the test
  split, split (seeded) into GRPO's training questions and `--val` for checkpoint selection;
- both: those training questions and the train split's, selected on the same dev-like `--val`;
- train: the train split, selected on val, as the grpo stage (with no `--set` this reruns the
  stage's own runs: their test scores must equal the stage's, which is checked).
Each seed's best checkpoint is evaluated on the 250 test questions beside the heuristic, its SFT
start and the stage's own GRPO, with paired per-question comparisons (reward and F1), and the
report gives the trend of the training episodes (first 10 steps against the last 10) and what
GRPO's groups are made of at the SFT start (equal rewards, equal F1 with unequal reading, unequal
F1, and how much reading more goes with more F1 in a group). No test question is trained or
selected on.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

import explorer.rl.grpo as grpo_loop
from explorer import layout
from explorer.backends import local
from explorer.checkpoints import open_policy
from explorer.config import DEFAULT_PARAMS, Params, from_dict, load_params, parse_set_params, read_yaml, set_dotted
from explorer.data.tasks import resolve_tasks
from explorer.env import ExplorerEnv
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.report import paired_lines
from explorer.rl.grpo import GRPORun
from explorer.rl.state import fingerprint
from explorer.rollout import EpisodeJob, run_episodes
from explorer.stats import mean_std, paired_comparison
from explorer.tracking import NullRun
from explorer.types import Episode, Task

DEV_LIKE = "../shared/data/2wiki/dev200_flashrag_layout.jsonl"
KEYS = ("f1", "em", "avg_tokens_read", "avg_reward")


class Scored(NamedTuple):
    """One policy on the test split: its metrics, and F1 and reward per question (for paired comparisons)."""

    metrics: dict[str, float]
    f1: dict[str, float]
    reward: dict[str, float]


KINDS = ("equal reward", "equal F1, reading differs", "F1 differs")


def group_kinds(params: Params, init: Path, tasks: list[Task]) -> dict[str, float]:
    """The share of questions whose group of `grpo.group_size` sampled episodes (the SFT policy at
    `grpo.temperature`, as GRPO's first step samples them) is of each kind in KINDS, and "reading
    pays": the mean over groups of unequal F1 of the correlation of tokens read with F1. A fresh
    learner and rng: the GRPO runs are untouched."""
    learner, _ = local.grpo_learner(params, 0, init, tasks, tasks)
    rng, size = np.random.default_rng(10_000), params.grpo.group_size
    jobs = []
    for task in tasks:
        for _ in range(size):
            policy, episode_rng = learner.rollout_policy(rng)
            jobs.append(EpisodeJob(ExplorerEnv(task, params.env, params.reward), policy, episode_rng, learner.name))
    return kinds_of(run_episodes(jobs, learner.workers), size)


def kinds_of(episodes: list[Episode], size: int) -> dict[str, float]:
    """Groups of `size` consecutive episodes (one question each, as GRPO runs them) by kind, and
    "reading pays" (the mean correlation of tokens read with F1 over the groups of unequal F1)."""
    counts, pays = dict.fromkeys(KINDS, 0), []
    n_groups = len(episodes) // size
    for i in range(n_groups):
        group = episodes[i * size : (i + 1) * size]
        f1_G = np.array([e.metrics["f1"] for e in group])
        tokens_G = np.array([e.metrics["tokens_read"] for e in group], dtype=float)
        if len({e.reward for e in group}) == 1:
            counts["equal reward"] += 1
        elif np.ptp(f1_G) == 0:
            counts["equal F1, reading differs"] += 1
        else:
            counts["F1 differs"] += 1
            if np.ptp(tokens_G) > 0:  # does reading more go with more F1 in this group?
                pays.append(float(np.corrcoef(tokens_G, f1_G)[0, 1]))
    return {kind: n / n_groups for kind, n in counts.items()} | {"reading pays": float(np.mean(pays)) if pays else float("nan")}


TREND = ("reward/mean", "budget/tokens_read", "groups/kept", "equal F1, reading differs", "reading pays")


def first_last(steps: list[dict[str, float]]) -> dict[str, tuple[float, float]]:
    """Mean of steps 1-10 and of the last 10 steps of a GRPO run's per-step metrics (nan where a
    metric was not recorded: the stage's history has no group kinds)."""

    def mean(rows: list[dict[str, float]], k: str) -> float:
        if not all(k in m for m in rows):
            return float("nan")
        values = [m[k] for m in rows if not np.isnan(m[k])]  # "reading pays" is nan in a step with no group of unequal F1
        return float(np.mean(values)) if values else float("nan")

    return {k: (mean(steps[:10], k), mean(steps[-10:], k)) for k in TREND}


def trend_cell(key: str, first: float, last: float) -> str:
    if np.isnan(first):
        return "-"
    fmt = {"reward/mean": ".3f", "budget/tokens_read": ".1f", "groups/kept": ".1f", "reading pays": "+.2f"}.get(key, ".2f")
    return f"{first:{fmt}} → " + ("-" if np.isnan(last) else f"{last:{fmt}}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--val", type=int, default=50, help="dev-like questions held out for checkpoint selection")
    ap.add_argument("--questions", choices=("dev-like", "both", "train"), default="dev-like",
                    help="GRPO's training questions: the dev-like ones, those and the train split's, or the train split's "
                         "alone (then selected on val, as the grpo stage)")  # fmt: skip
    ap.add_argument(
        "-S",
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
        held_out = [f"val{args.val}"] if args.val != 50 and args.questions != "train" else []
        name = "-".join([f"grpo_study-{args.questions}", *held_out, *(re.sub(r"[^\w.+-]", "_", item) for item in args.set)])
        args.out = f"reports/{name}.md"
    stage = load_params()
    # the project's own -S parsing and dotted-key merge, validated as params.yaml is
    overrides = parse_set_params(args.set)
    if bad := [key for key in overrides if key.split(".")[0] not in ("grpo", "reward")]:
        sys.exit(f"--set {', '.join(bad)}: only grpo.* and reward.* settings change these runs")
    merged = copy.deepcopy(read_yaml(DEFAULT_PARAMS))
    for key, value in overrides.items():
        set_dotted(merged, key, value)
    params = from_dict(Params, merged, f"{DEFAULT_PARAMS} with --set {overrides}") if overrides else stage
    test, _ = resolve_tasks("dev", params.data)
    test_ids, test_questions = {t.id for t in test}, {t.question for t in test}
    dev_file, label = resolve_tasks(args.dev_like, params.data)
    dev_like = [t for t in dev_file if t.id not in test_ids and t.question not in test_questions]
    order = np.random.default_rng(params.data.seed).permutation(len(dev_like))
    stage_train, _ = resolve_tasks("train", params.data)
    if args.questions == "train":
        train = stage_train
        val, _ = resolve_tasks("val", params.data)
        trained_on, selected_on = f"the {len(train)} of the train split", f"the {len(val)} of val"
    else:
        val = [dev_like[i] for i in order[: args.val]]
        train = [dev_like[i] for i in order[args.val :]]
        trained_on, selected_on = f"{len(train)} dev-like questions", f"{len(val)} dev-like"
        if args.questions == "both":
            train, trained_on = train + stage_train, f"{trained_on} and the {len(stage_train)} of the train split"
    changed = {f"{sec}.{k}": v for sec in ("grpo", "reward") for k, v in asdict(getattr(params, sec)).items()
               if asdict(getattr(stage, sec))[k] != v}  # fmt: skip
    print(f"GRPO on {trained_on}, selected on {selected_on} ({label}); settings changed: {changed or 'none'}; test: {len(test)}")

    def on_test(policy: str) -> Scored:
        with open_policy(policy, params) as (factory, workers):
            m, episodes = evaluate_policy(
                test, factory, policy, params.env, params.reward, params.baseline.seed, progress=False, workers=workers
            )
        return Scored({k: float(m[k]) for k in KEYS}, {e.task_id: float(e.metrics["f1"]) for e in episodes},
                      {e.task_id: float(e.reward) for e in episodes})  # fmt: skip

    results: dict[str, Scored] = {"heuristic": on_test("heuristic")}
    # what GRPO's groups are made of at seed 0's SFT start, on these questions and on the stage's
    kinds = {trained_on: group_kinds(params, layout.sft_checkpoint(params.sft, 0), train)}
    if args.questions != "train":
        kinds[f"the {len(stage_train)} of the train split (the grpo stage's)"] = group_kinds(
            params, layout.sft_checkpoint(params.sft, 0), stage_train
        )
    best_steps: dict[int, int] = {}
    trend: dict[str, dict[str, tuple[float, float]]] = {}  # run -> metric -> (mean of steps 1-10, of the last 10)
    for seed in params.train.seeds:
        init = layout.sft_checkpoint(params.sft, seed)
        results[f"sft seed {seed}"] = on_test(str(init))
        results[f"grpo (stage) seed {seed}"] = on_test(str(layout.grpo_best(stage.grpo, seed)))
        learner, parts = local.grpo_learner(params, seed, init, train, val)
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = replace(params.grpo, viewer_every=0)  # no HTML pages: they would go to the temporary folder
            run = GRPORun(cfg, seed, learner, train, val, params.env, params.reward, Path(tmp), fingerprint(*parts), log=lambda *_: None)
            # each training step's groups, as the loop runs them (greedy evals go through the harness, not this name)
            step_kinds: list[dict[str, float]] = []

            def recording(jobs: list[EpisodeJob], workers: int, step_kinds: list[dict[str, float]] = step_kinds) -> list[Episode]:
                episodes = run_episodes(jobs, workers)  # the function the loop imported
                step_kinds.append(kinds_of(episodes, params.grpo.group_size))
                return episodes

            grpo_loop.run_episodes = recording
            try:
                best_steps[seed] = run.train(NullRun())["best"]["step"]
            finally:
                grpo_loop.run_episodes = run_episodes
            steps = [m for _, m in run.history if "reward/mean" in m]  # step 0 (the start's val eval) has no rollouts
            trend[f"{trained_on}, seed {seed}"] = first_last([m | k for m, k in zip(steps, step_kinds, strict=True)])
            results[f"grpo (study) seed {seed}"] = on_test(str(Path(tmp) / "best.json"))
        stage_history = json.loads((layout.grpo_dir(stage.grpo, seed) / "history.json").read_text())
        # the stage's rewards are its own λ's: comparable with the study's only if the reward is unchanged
        own_reward = "" if params.reward == stage.reward else f", rewards at its own λ {stage.reward.cost_coef}"
        trend[f"the train split (the grpo stage{own_reward}), seed {seed}"] = first_last([m for m in stage_history if "reward/mean" in m])
        if args.questions == "train" and not changed and results[f"grpo (study) seed {seed}"] != results[f"grpo (stage) seed {seed}"]:
            sys.exit(f"seed {seed}: the rerun of the stage's GRPO scores otherwise than {layout.grpo_best(stage.grpo, seed)}: "
                     "rerun `dvc repro` first")  # fmt: skip
        m = results[f"grpo (study) seed {seed}"].metrics
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
        ms = {k: mean_std([results[f"{kind} seed {s}"].metrics[k] for s in params.train.seeds]) for k in KEYS}
        lines.append(f"| **{kind}** (mean ± std, {len(params.train.seeds)} seeds) | "
                     + " | ".join(f"{ms[k]['mean']:.{nd}f} ± {ms[k]['std']:.{nd}f}" for k, nd in zip(KEYS, (3, 3, 1, 3), strict=True)) + " |")  # fmt: skip
    lines += ["", f"Best val step per seed: {', '.join(f'seed {s}: {step}' for s, step in best_steps.items())}.", "",
              "GRPO's training episodes, mean of steps 1-10 → mean of the last 10 steps:", "",
              f"| GRPO questions | train reward | tokens read | groups kept (of {params.grpo.batch_size}) | share of groups: equal F1, "
              "reading differs | r(tokens, F1) where F1 differs |", "|---|---|---|---|---|---|",
              *[f"| {s} | " + " | ".join(trend_cell(k, a, b) for k, (a, b) in t.items()) + " |" for s, t in trend.items()], "",
              f"GRPO's groups at seed 0's SFT start ({params.grpo.group_size} sampled episodes of each question; the share of "
              "questions whose group has equal rewards (dropped), equal F1 but unequal reading (its only signal is the cost), "
              "or unequal F1; and, over the groups of unequal F1, the mean correlation of tokens read with F1 in a group):", "",
              "| questions | equal reward | equal F1, reading differs | F1 differs | r(tokens, F1) where F1 differs |", "|---|---|---|---|---|",
              *[f"| {q} | " + " | ".join(f"{k[name]:.2f}" for name in KINDS) + f" | {k['reading pays']:+.2f} |" for q, k in kinds.items()], "",
              "Paired per-question comparisons on the test split (10,000 bootstrap resamples):", ""]  # fmt: skip
    paired: dict[str, dict[str, dict[str, Any]]] = {"reward": {}, "f1": {}}
    for seed in params.train.seeds:
        mine = results[f"grpo (study) seed {seed}"]
        for other in ("heuristic", f"sft seed {seed}", f"grpo (stage) seed {seed}"):
            key = f"study_vs_{other.split(' seed')[0].replace(' ', '-').replace('(', '').replace(')', '')}/seed{seed}"
            paired["reward"][key] = paired_comparison(mine.reward, results[other].reward)
            paired["f1"][key] = paired_comparison(mine.f1, results[other].f1)
    lines += [f"- {line}" for line in paired_lines(paired)]
    atomic_write_text(args.out, "\n".join(lines) + "\n")
    atomic_write_text(Path(args.out).with_suffix(".json"), json.dumps(
        {"tasks": label, "trained_on": trained_on, "selected_on": selected_on, "changed": changed, "best_steps": best_steps, "train_trend": trend,
         "group_kinds": kinds, "metrics": {k: v.metrics for k, v in results.items()}, "paired": paired}, indent=1))  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
