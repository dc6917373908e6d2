"""The `explorer` command: thin I/O around the pure modules.

explorer data build                     the prepare stage (params.yaml `data`)
explorer baseline                       the baseline stage: every baseline policy on a split
explorer eval --policy P --tasks T --out DIR
explorer inspect --id N [--tasks T] [--policy P]
explorer episodes show FILE --id ID
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.config import ConfigError, EnvConfig, Params, load_params
from explorer.data import SPLITS, DataError, read_tasks, split_path, task_from_dict
from explorer.reward import RewardConfig
from explorer.types import Episode, Task

BUDGET_RULES = (
    "Budget rules: opening a chunk charges its full text's Qwen3 tokens (shown as 'tok'); a note "
    "charges its tokens. The question, titles, previews and instructions are free. An open or note "
    "costing more than the budget left ends the episode unanswered."
)


def resolve_tasks(spec: str, params: Params) -> tuple[list[Task], str]:
    """A split name (train/val/dev, from the prepare stage) or a file: prepared or raw 2Wiki."""
    if spec in SPLITS:
        path = split_path(params.data, spec)
        if not path.exists():
            raise FileNotFoundError(
                f"split {spec!r} is not prepared yet ({path} missing): run `explorer data build` or `dvc repro prepare`"
            )
        return read_tasks(path), spec
    return read_tasks(spec, params.data), spec


def _pick_task(tasks: list[Task], key: str) -> Task:
    for t in tasks:
        if t.id == key:
            return t
    if key.isdigit() and int(key) < len(tasks):
        return tasks[int(key)]
    raise SystemExit(f"no task with id or index {key!r} (there are {len(tasks)})")


def _print_gold(task: Task) -> None:
    print("\n--- gold (not shown to the agent) ---")
    aliases = f"    aliases (also scored as correct): {', '.join(task.answer_aliases)}" if task.answer_aliases else ""
    print(f"answer: {task.answer}    type: {task.type}    id: {task.id}{aliases}")
    print(f"gold chunks: {list(task.gold_chunk_ids)} (minimum reading cost {task.min_reading_cost} tokens of {task.all_reading_cost})")
    for i in task.gold_chunk_ids:
        c = task.chunks[i]
        print(f"  [{i}] {c.title}: {c.text}")
    if task.evidences:
        print("evidences: " + "; ".join(" | ".join(e) for e in task.evidences))


def replay(task: Task, episode: Episode, env_cfg: EnvConfig, reward_cfg: RewardConfig) -> None:
    """Print every observation the agent saw and what it did, by re-running the env."""
    from explorer.env import ExplorerEnv
    from explorer.render import render_action, render_observation

    env = ExplorerEnv(task, env_cfg, reward_cfg)
    obs = env.initial_observation()
    for i, t in enumerate(episode.transitions):
        print(f"=============== step {i + 1} — what the agent sees ===============")
        print(render_observation(obs))
        r = env.step(t.action)
        outcome = f"refused: {r.invalid}" if r.invalid else f"cost {r.cost}, budget left {r.observation.budget_left}"
        print(f">>> {render_action(t.action)}    ({outcome})")
        obs = r.observation
    print(f"=============== end: {env.stop_reason} ===============")
    print(f"answer: {env.answer!r}   " + "  ".join(f"{k}={v:g}" for k, v in env.final_metrics.items()))
    if env.final_metrics != episode.metrics:
        print(f"warning: replay metrics differ from the recorded ones: {episode.metrics}")


def cmd_inspect(args: argparse.Namespace, params: Params) -> int:
    from explorer.env import ExplorerEnv
    from explorer.evaluate import episode_rng, run_episode
    from explorer.policies import make_policy
    from explorer.render import render_observation

    tasks, _ = resolve_tasks(args.tasks, params)
    task = _pick_task(tasks, args.id)
    print(BUDGET_RULES + "\n")
    if args.policy:
        ep = run_episode(task, make_policy(args.policy, task), params.env, params.reward, episode_rng(args.seed, task.id), args.policy)
        replay(task, ep, params.env, params.reward)
    else:
        print(render_observation(ExplorerEnv(task, params.env).initial_observation()))
    _print_gold(task)
    return 0


def cmd_episodes_show(args: argparse.Namespace, params: Params) -> int:
    path = Path(args.file)
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            d = json.loads(line)
            # --id is a task id or a 0-based index, as in `explorer inspect --id`.
            if d["task_id"] == args.id or str(line_no - 1) == args.id:
                task = task_from_dict(d["task"], str(path), line_no)
                print(f"episode of policy {d['policy']} on task {task.id} ({path}:{line_no})\n{BUDGET_RULES}\n")
                replay(task, Episode.from_dict(d), EnvConfig(**d["env_config"]), RewardConfig(**d["reward_config"]))
                _print_gold(task)
                return 0
    raise SystemExit(f"no episode for task id (or 0-based index) {args.id!r} in {path}")


def cmd_eval(args: argparse.Namespace, params: Params) -> int:
    from explorer.evaluate import run_and_record

    tasks, label = resolve_tasks(args.tasks, params)
    run_and_record(params, args.policy, tasks, label, Path(args.out), args.seed, progress=not args.quiet)
    return 0


def cmd_baseline(args: argparse.Namespace, params: Params) -> int:
    from explorer.evaluate import run_and_record
    from explorer.io import atomic_write_json, atomic_write_text
    from explorer.report import baseline_table

    cfg = params.baseline
    tasks, label = resolve_tasks(cfg.split, params)
    out = Path(cfg.out_dir)
    results = {p: run_and_record(params, p, tasks, label, out / "runs" / p, cfg.seed) for p in cfg.policies}
    atomic_write_json(
        out / "metrics.json", {p: {k: v for k, v in m.items() if k != "by_type"} | {"by_type": m["by_type"]} for p, m in results.items()}
    )
    atomic_write_text(out / "table.md", baseline_table(results, label))
    print(f"wrote {out / 'table.md'}")
    return 0


def cmd_demos(args: argparse.Namespace, params: Params) -> int:
    from explorer.train import demos

    return demos.main(params)


def cmd_sft(args: argparse.Namespace, params: Params) -> int:
    from explorer.train import sft

    return sft.main(params)


def cmd_grpo(args: argparse.Namespace, params: Params) -> int:
    from explorer.train import grpo

    return grpo.main(params)


def cmd_evaluate(args: argparse.Namespace, params: Params) -> int:
    from explorer.evaluate import main_evaluate_stage

    return main_evaluate_stage(params)


def cmd_report(args: argparse.Namespace, params: Params) -> int:
    from explorer import report

    return report.main(params)


def cmd_runs_compare(args: argparse.Namespace, params: Params) -> int:
    from explorer.runs import DEFAULT_KEYS, compare_table, fetch_runs

    runs = fetch_runs(params.tracking, args.run_ids, args.stage, args.last)
    if not runs:
        raise ValueError("no runs matched")
    print(compare_table(runs, tuple(args.metric) or DEFAULT_KEYS))
    return 0


def cmd_data_build(args: argparse.Namespace, params: Params) -> int:
    from explorer import data

    return data.main(params)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="explorer", description="Tinker-Explorer: read less, answer better.")
    p.add_argument("--params", default="params.yaml", help="the config file (default: params.yaml)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("pipeline", help="run the whole pipeline as a Prefect flow (see `explorer pipeline --help`)")
    sub.add_parser("serve", help="serve a scheduled Prefect deployment of the pipeline (see `explorer serve --help`)")

    d = sub.add_parser("data", help="build the chunked task splits")
    dsub = d.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("build", help="raw 2Wiki records -> data/prepared/{train,val,dev}.jsonl + manifest.json").set_defaults(
        func=cmd_data_build
    )

    b = sub.add_parser("baseline", help="evaluate every baseline policy (params.yaml `baseline`)")
    b.set_defaults(func=cmd_baseline)

    sub.add_parser("demos", help="the demos stage: heuristic episodes on train (params.yaml `demos`)").set_defaults(func=cmd_demos)
    sub.add_parser("sft", help="the sft stage: behaviour cloning, one checkpoint per seed (`sft`, `train.seeds`)").set_defaults(
        func=cmd_sft
    )
    sub.add_parser("grpo", help="the grpo stage: GRPO from each seed's SFT checkpoint; resumes a killed run (`grpo`)").set_defaults(
        func=cmd_grpo
    )
    sub.add_parser("evaluate", help="the evaluate stage: SFT and GRPO checkpoints of every seed on val and dev (`evaluate`)").set_defaults(
        func=cmd_evaluate
    )

    sub.add_parser("report", help="the report stage: reports/results.md and PNG plots").set_defaults(func=cmd_report)

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
    rc = rsub.add_parser("compare", help="runs side by side: last metric values and the params that differ")
    rc.add_argument("run_ids", nargs="*", help="run ids (default: the latest runs)")
    rc.add_argument("--stage", help="only runs of this stage (eval, sft, grpo, ...)")
    rc.add_argument("--last", type=int, default=6, help="how many recent runs (default 6)")
    rc.add_argument("--metric", action="append", default=[], help="metric keys to show (repeatable)")
    rc.set_defaults(func=cmd_runs_compare)

    ep = sub.add_parser("episodes", help="look at recorded trajectories")
    esub = ep.add_subparsers(dest="episodes_command", required=True)
    show = esub.add_parser("show", help="replay one trajectory step by step")
    show.add_argument("file", help="an episodes.jsonl written by `explorer eval`")
    show.add_argument("--id", required=True, help="task id, or 0-based index of the episode in the file")
    show.set_defaults(func=cmd_episodes_show)
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
            return 2
        # The Prefect flow's entry point (flows/entry.py) has its own options; hand them over untouched.
        from flows.entry import main as flow_main

        return flow_main(argv, prog="explorer")
    args = build_parser().parse_args(argv)
    try:
        params = load_params(args.params)
        return args.func(args, params)
    except (ConfigError, DataError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
