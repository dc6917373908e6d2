"""Which chunks does each reading *order* find, apart from when it stops? (run by hand; writes
reports/order_limits.md). On the report split, for each order:

- gold recall after k opens: the share of a question's gold chunks among its first k opens;
- the heuristic's stop rules on top (answer once the reader is sufficient, or after a cap of
  5 / 6 / 8 opens): F1 @ tokens read, so orders are compared at one stopping rule;
- how often its next open is the heuristic's, along the heuristic's own trajectories;
- its F1 against the heuristic's order, both stopped by the heuristic's rules (cap 6), paired over
  the questions with a 95% bootstrap interval (explorer/stats.py).

Orders: the heuristic's (`most_relevant`), gold reading's (reads the labels: a reference), the
open actions of the workspace's SFT and GRPO checkpoints ranked by their weights (run `dvc repro`
first), and a gradient-boosted ranker (scikit-learn, which MLflow installs) fitted on the train
split to say "this open is a gold chunk" from the very features the local policy sees, as a
check of whether a learner with more capacity than a weighted sum finds more from the same view.
The ranker is fitted three times (seeds of its early-stopping split); spread is over those fits.

    python bench/order_limits.py [--previews paragraph paragraph+cues]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from explorer import layout
from explorer.config import EnvConfig, load_params
from explorer.data.tasks import resolve_tasks
from explorer.env import ExplorerEnv
from explorer.io import atomic_write_text
from explorer.policies.baselines import MAX_OPENS, affordable, gold_reading_policy, most_relevant, read_passages
from explorer.policies.features import FEATURES, ActionSet, action_set
from explorer.policies.local import load_policy
from explorer.reader import answer_question, is_sufficient
from explorer.reward import token_f1
from explorer.stats import paired_comparison
from explorer.types import Observation, Open, Task

ROOT = Path(__file__).resolve().parents[1]
MAX_K = 8  # opens walked per question: past the heuristic's cap of 6
CAPS = (5, MAX_OPENS, 8)
OPEN_FEATURES = [i for i, name in enumerate(FEATURES) if name.startswith("open")]
# an order: (task, observation) -> the next chunk to open
Order = Callable[[Task, Observation], Open]


@dataclass(frozen=True)
class Walk:
    """One question read in one order: the gold recall and (tokens read, F1, reader sufficient)
    after each open, index 0 = nothing read."""

    recall: tuple[float, ...]
    points: tuple[tuple[int, float, bool], ...]


def open_indices(aset: ActionSet) -> list[int]:
    return [i for i, a in enumerate(aset.actions) if isinstance(a, Open)]


def heuristic_order(task: Task, obs: Observation) -> Open:
    return most_relevant(obs, read_passages(obs), affordable(obs))


def gold_order(task: Task, obs: Observation) -> Open:
    act = gold_reading_policy(task)(obs, None)
    return act if isinstance(act, Open) else heuristic_order(task, obs)  # all gold read: go on as the heuristic


def scored_order(score: Callable[[np.ndarray], np.ndarray]) -> Order:
    """Open the chunk whose features score highest (ties: the first listed)."""

    def order(task: Task, obs: Observation) -> Open:
        aset = action_set(obs)
        idx = open_indices(aset)
        return aset.actions[idx[int(np.argmax(score(aset.features[idx])))]]

    return order


def weights_order(checkpoint: Path) -> Order:
    """A local policy checkpoint's ranking of the open actions (its stop and answer choices aside)."""
    weights = load_policy(checkpoint).weights
    return scored_order(lambda feats: feats @ weights)


def reading(task: Task, env_cfg: EnvConfig, order: Order, n_opens: int) -> Iterator[tuple[Observation, Open, Observation]]:
    """(state, the chunk `order` opens there, the state after) for its first `n_opens` opens,
    while a chunk still fits the budget."""
    env = ExplorerEnv(task, env_cfg)
    obs = env.observation()
    for _ in range(n_opens):
        if not affordable(obs):
            return
        act = order(task, obs)
        after = env.step(act).observation
        yield obs, act, after
        obs = after


def walk(task: Task, env_cfg: EnvConfig, order: Order) -> Walk:
    opened, gold = [], set(task.gold_chunk_ids)
    points = [(0, token_f1(answer_question(task.question, []), task.answer), False)]
    for _, act, after in reading(task, env_cfg, order, MAX_K):
        opened.append(act.chunk_id)
        read = read_passages(after)
        points.append((sum(task.chunks[i].n_tokens for i in opened), token_f1(answer_question(task.question, read), task.answer),
                       is_sufficient(task.question, read)))  # fmt: skip
    recall = [len(gold.intersection(opened[:k])) / len(gold) for k in range(1, MAX_K + 1)]
    return Walk(tuple(recall), tuple(points))


def under_stop_rules(w: Walk, cap: int) -> tuple[int, float]:
    """(tokens, F1) where the heuristic's stop rules end this walk: sufficient, or `cap` opens."""
    i = next((i for i in range(1, len(w.points)) if w.points[i][2] or i >= cap), len(w.points) - 1)
    return w.points[i][0], w.points[i][1]


def agreement(tasks: list[Task], env_cfg: EnvConfig, order: Order) -> float:
    """Share of the heuristic's states (its first MAX_OPENS opens) where `order` opens its chunk."""
    same = [order(task, obs) == rules for task in tasks for obs, rules, _ in reading(task, env_cfg, heuristic_order, MAX_OPENS)]
    return sum(same) / max(1, len(same))


def ranker_rows(tasks: list[Task], env_cfg: EnvConfig) -> tuple[np.ndarray, np.ndarray]:
    """(open features, is a gold chunk) at the states of the heuristic's and gold reading's walks."""
    xs, ys = [], []
    for task in tasks:
        for order in (heuristic_order, gold_order):
            for obs, _, _ in reading(task, env_cfg, order, MAX_K):
                aset = action_set(obs)
                idx = open_indices(aset)
                xs.append(aset.features[idx][:, OPEN_FEATURES])
                ys.append([float(aset.actions[i].chunk_id in task.gold_chunk_ids) for i in idx])
    return np.vstack(xs), np.concatenate(ys)


def fit_ranker(x: np.ndarray, y: np.ndarray, seed: int) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier  # installed with mlflow

    model = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05, early_stopping=True, random_state=seed).fit(x, y)
    return lambda feats: model.predict_proba(feats[:, OPEN_FEATURES])[:, 1]


def summarize(walks_by_fit: list[list[Walk]], agree: list[float], tasks: list[Task], heuristic: list[Walk] | None) -> dict[str, object]:
    """Mean (and spread over fits) of recall@k and of F1 @ tokens under each cap; and each fit's
    F1 against the heuristic's order at the heuristic's own cap (paired over the questions)."""
    recall = np.array([np.mean([w.recall for w in walks], axis=0) for walks in walks_by_fit])
    caps = {cap: np.array([np.mean([under_stop_rules(w, cap) for w in walks], axis=0) for walks in walks_by_fit]) for cap in CAPS}
    vs = []
    if heuristic is not None:
        base = {t.id: under_stop_rules(w, MAX_OPENS)[1] for t, w in zip(tasks, heuristic, strict=True)}
        for walks in walks_by_fit:
            vs.append(paired_comparison({t.id: under_stop_rules(w, MAX_OPENS)[1] for t, w in zip(tasks, walks, strict=True)}, base))
    return {"recall": recall, "caps": caps, "agree": np.array(agree), "vs_heuristic": vs}


def measure(orders: list[Order], tasks: list[Task], env_cfg: EnvConfig, heuristic: list[Walk]) -> dict[str, object]:
    """`summarize` of one walk per question for each order (seed or fit)."""
    walks = [[walk(t, env_cfg, o) for t in tasks] for o in orders]
    return summarize(walks, [agreement(tasks, env_cfg, o) for o in orders], tasks, heuristic)


def cell(values: np.ndarray, fmt: str) -> str:
    return f"{values.mean():{fmt}}" + (f" ± {values.std(ddof=1):{fmt}}" if len(values) > 1 else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--previews", nargs="+", default=["paragraph", "paragraph+cues"])
    ap.add_argument("--fits", type=int, default=3, help="ranker fits (seeds)")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    split = params.baseline.split
    tasks, label = resolve_tasks(split, params.data)
    train, _ = resolve_tasks("train", params.data)
    seeds = params.train.seeds
    seeds_label = ", ".join(map(str, seeds))
    checkpoints = {f"SFT (seeds {seeds_label})": [layout.sft_checkpoint(params.sft, s) for s in seeds],
                   f"GRPO best (seeds {seeds_label})": [layout.grpo_best(params.grpo, s) for s in seeds]}  # fmt: skip
    lines = [
        "# Reading orders under one stop rule",
        "",
        f"{len(tasks)} questions of {label} (`{split}`); written by `python bench/order_limits.py`. Each order is walked for "
        f"{MAX_K} opens; *recall@k*: gold chunks among the first k opens; *stop rules*: the heuristic's (answer once the reader "
        "is sufficient, or after the cap), F1 @ tokens read; *= heuristic*: how often its next open is the heuristic's, on the "
        "heuristic's own states. Checkpoints: the workspace's, under the previews they were trained with (`env.previews: "
        f"{params.env.previews}`); the ranker: fitted on the {len(train)} train questions, mean ± std over {args.fits} fits.",
    ]
    for previews in args.previews:
        env_cfg = replace(params.env, previews=previews)
        print(f"[{previews}] walking the orders ...", flush=True)
        heuristic = [walk(t, env_cfg, heuristic_order) for t in tasks]
        rows = {"heuristic": summarize([heuristic], [1.0], tasks, None)}
        rows["gold reading (labels)"] = measure([gold_order], tasks, env_cfg, heuristic)
        for name, paths in checkpoints.items() if previews == params.env.previews else ():  # their weights never saw other previews
            if not all(p.is_file() for p in paths):
                print(f"  {name}: checkpoints missing ({paths[0]} ...): run `dvc repro` first; left out", flush=True)
                continue
            rows[name] = measure([weights_order(p) for p in paths], tasks, env_cfg, heuristic)
        print(f"[{previews}] fitting the ranker on train ...", flush=True)
        x, y = ranker_rows(train, env_cfg)
        rankers = [scored_order(fit_ranker(x, y, seed)) for seed in range(args.fits)]
        rows["gradient-boosted ranker"] = measure(rankers, tasks, env_cfg, heuristic)
        lines += ["", f"## env.previews: {previews}", "", f"Ranker: {len(y)} (state, open) rows, {y.mean():.1%} of them gold.", ""]
        lines += ["| order | recall@1 | @2 | @3 | @4 | @6 | " + " | ".join(f"stop rules, cap {c}" for c in CAPS) + " | = heuristic | F1 − heuristic, cap 6, per seed / fit (95% CI) |",
                  "|---|" + "---|" * (5 + len(CAPS) + 2)]  # fmt: skip
        for name, r in rows.items():
            rec = " | ".join(cell(r["recall"][:, k - 1], ".2f") for k in (1, 2, 3, 4, 6))
            caps = " | ".join(f"{cell(r['caps'][c][:, 1], '.3f')} @ {cell(r['caps'][c][:, 0], '.1f')}" for c in CAPS)
            vs = ", ".join(f"{c['mean_diff']:+.3f} [{c['ci95'][0]:+.3f}, {c['ci95'][1]:+.3f}]" for c in r["vs_heuristic"]) or "-"
            lines.append(f"| {name} | {rec} | {caps} | {cell(r['agree'], '.3f')} | {vs} |")
            print(f"  {name}: {rec} | {caps} | = heuristic {cell(r['agree'], '.3f')} | {vs}", flush=True)
    out = ROOT / "reports/order_limits.md"
    atomic_write_text(out, "\n".join(lines) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
