"""The `explorer` command: parses arguments and calls the stages and tools; no logic of its own.

explorer pipeline | serve               the Prefect flow (flows/pipeline.py)
explorer data build                     the prepare stage
explorer baseline | demos | sft | grpo | evaluate | report      the other DVC stages
explorer eval --policy P --tasks T --out DIR
explorer inspect --id N [--tasks T] [--policy P]
explorer episodes show FILE --id ID
explorer runs compare [RUN_ID ...]
explorer cost
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from explorer import layout
from explorer.checkpoints import open_policy
from explorer.config import Params, load_params
from explorer.cost import cost_report
from explorer.data.tasks import resolve_tasks
from explorer.env import ExplorerEnv
from explorer.harness import read_episodes, run_and_record
from explorer.render import render_observation
from explorer.replay import BUDGET_RULES, pick_task, print_gold, replay, show_episode
from explorer.rollout import episode_rng, run_episode
from explorer.runs import DEFAULT_KEYS, compare_table, fetch_runs, grpo_seeds_table, latest_grpo_seeds
from explorer.stages import BAD_INPUT_EXIT, baseline, demos, evaluate, grpo, guarded, prepare, report, sft
from explorer.tracking import preflight

STAGES = {
    "baseline": baseline.main,
    "demos": demos.main,
    "sft": sft.main,
    "grpo": grpo.main,
    "evaluate": evaluate.main,
    "report": report.main,
}


def cmd_eval(args: argparse.Namespace, params: Params) -> int:
    tasks, label = resolve_tasks(args.tasks, params.data)
    with open_policy(args.policy, params) as (factory, workers):
        run_and_record(params, factory, args.policy, tasks, label, Path(args.out), args.seed, progress=not args.quiet, workers=workers)
    return 0


def cmd_inspect(args: argparse.Namespace, params: Params) -> int:
    tasks, _ = resolve_tasks(args.tasks, params.data)
    task = pick_task(tasks, args.id)
    print(BUDGET_RULES + "\n")
    if args.policy:
        with open_policy(args.policy, params) as (factory, _):
            episode = run_episode(ExplorerEnv(task, params.env, params.reward), factory(task), episode_rng(args.seed, task.id), args.policy)
        replay(task, episode, params.env, params.reward)
    else:
        print(render_observation(ExplorerEnv(task, params.env).initial_observation()))
    print_gold(task)
    return 0


def cmd_runs_compare(args: argparse.Namespace, params: Params) -> int:
    if not (args.run_ids or args.stage or args.last or args.metric):  # the default view: the GRPO seeds
        runs, evals = latest_grpo_seeds(params.tracking)
        if not runs:
            raise ValueError("no GRPO runs yet: run the pipeline (or `explorer grpo`) first")
        print(grpo_seeds_table(runs, evals))
        return 0
    runs = fetch_runs(params.tracking, args.run_ids, args.stage, args.last or 6)
    if not runs:
        raise ValueError("no runs matched")
    print(compare_table(runs, tuple(args.metric) or DEFAULT_KEYS))
    return 0


def cmd_cost(args: argparse.Namespace, params: Params) -> int:
    path = Path(args.demos) if args.demos else layout.demos_file(params.demos)
    if not path.exists():
        raise FileNotFoundError(f"no demo episodes at {path}: run `explorer demos` (or `dvc repro demos`) first, or pass --demos FILE")
    lines = read_episodes(path)
    dev = layout.split_file(params.data, "dev")
    n_dev = sum(1 for ln in dev.read_text(encoding="utf-8").splitlines() if ln.strip()) if dev.exists() else 0
    print(cost_report(params, lines, str(path), n_dev), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description="Tinker-Explorer: read less, answer better.")
    p.add_argument("--params", default="params.yaml", help="the config file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("pipeline", help="run the whole pipeline as a Prefect flow (see `explorer pipeline --help`)")
    sub.add_parser("serve", help="serve a scheduled Prefect deployment of the pipeline (see `explorer serve --help`)")

    d = sub.add_parser("data", help="build the chunked task splits")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("build", help="raw 2Wiki records -> data/prepared/{train,val,dev}.jsonl + manifest.json").set_defaults(
        func=lambda a, params: prepare.main(params)
    )
    stage_help = {
        "baseline": "the baseline stage: every baseline policy on a split (params.yaml `baseline`)",
        "demos": "the demos stage: demonstration episodes on train (params.yaml `demos`)",
        "sft": "the sft stage: the warm start, one checkpoint per seed (`sft`, `train.seeds`)",
        "grpo": "the grpo stage: GRPO from each seed's SFT checkpoint; resumes a killed run (`grpo`)",
        "evaluate": "the evaluate stage: SFT and GRPO checkpoints of every seed on val and dev (`evaluate`)",
        "report": "the report stage: reports/results.md and PNG plots",
    }
    for name, main in STAGES.items():
        sub.add_parser(name, help=stage_help[name]).set_defaults(func=lambda a, params, main=main: main(params))

    e = sub.add_parser("eval", help="evaluate one policy; writes metrics.json, predictions.json, episodes.jsonl")
    e.add_argument(
        "--policy",
        required=True,
        help="random | heuristic | read_all | oracle | PATH to a checkpoint .json (local policy or Tinker pointer)",
    )
    e.add_argument("--tasks", required=True, help="a split (train/val/dev) or a JSONL file: prepared tasks or raw 2Wiki in either layout")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("inspect", help="show a task exactly as the agent sees it, plus its gold chunks and answer")
    i.add_argument("--id", required=True, help="task id or index in the task list")
    i.add_argument("--tasks", default="dev", help="split or file (default: dev)")
    i.add_argument("--policy", help="also run this policy and show every step")
    i.add_argument("--seed", type=int, default=0)
    i.set_defaults(func=cmd_inspect)

    r = sub.add_parser("runs", help="MLflow runs of this project")
    rsub = r.add_subparsers(dest="runs_command", required=True)
    rc = rsub.add_parser("compare", help="runs side by side (default: the latest GRPO run of each seed, its best step and dev result)")
    rc.add_argument("run_ids", nargs="*", help="run ids: these runs' last metric values and the params that differ")
    rc.add_argument("--stage", help="the latest runs of this stage (eval, sft, grpo, ...)")
    rc.add_argument("--last", type=int, default=0, help="how many recent runs (with --stage or alone; default 6)")
    rc.add_argument("--metric", action="append", default=[], help="metric keys to show (repeatable)")
    rc.set_defaults(func=cmd_runs_compare)

    ep = sub.add_parser("episodes", help="look at recorded trajectories")
    esub = ep.add_subparsers(dest="episodes_command", required=True)
    show = esub.add_parser("show", help="replay one trajectory step by step")
    show.add_argument("file", help="an episodes.jsonl written by `explorer eval`")
    show.add_argument("--id", required=True, help="task id, or 0-based index of the episode in the file")
    show.set_defaults(func=lambda a, params: show_episode(Path(a.file), a.id) or 0)

    c = sub.add_parser("cost", help="tokens and dollars of a Tinker run per GRPO step, per seed and per run (from the demos)")
    c.add_argument("--demos", help="episodes.jsonl (default: the demos stage's)")
    c.set_defaults(func=cmd_cost)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    i = 0  # skip the global options to find the command
    while i < len(argv) and argv[i].startswith("-"):
        i += 2 if argv[i] == "--params" else 1
    command = argv[i] if i < len(argv) else None
    if command in ("pipeline", "serve"):
        if i > 0:
            # The flow drives `dvc repro`, and DVC stages read params.yaml in the project root only.
            print(
                f"error: `explorer {command}` takes no global options ({' '.join(argv[:i])}); it always uses "
                "params.yaml in the project root. Override keys with `explorer pipeline -S KEY=VALUE`.",
                file=sys.stderr,
            )
            return BAD_INPUT_EXIT
        # The Prefect flow's entry point (flows/entry.py) has its own options; hand them over
        # untouched. Imported here: Prefect is slow to import and reads its settings at import
        # time (flows/__init__.py sets them).
        from flows.entry import main as flow_main

        return flow_main(argv, prog="explorer")
    args = build_parser().parse_args(argv)

    def body() -> int:
        params = load_params(args.params)
        if args.command in (*STAGES, "data", "eval"):  # the commands that log MLflow runs
            preflight(params.tracking)
        return args.func(args, params)

    return guarded(body)


if __name__ == "__main__":
    sys.exit(main())
