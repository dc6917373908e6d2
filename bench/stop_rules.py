"""Where the learned policy sits against the heuristic's own trade-off curve (run by hand; writes
reports/stop_rules.md). On the report split:

- stop rules: the heuristic's reading order (the most relevant unopened chunk next) with other
  stopping rules: answer when the reader judges the reading sufficient, or when it has an answer
  from the passages (not its no-reading guess) after `partial` opens, or has none after `none`
  opens. The heuristic itself is partial = none = 6 (its MAX_OPENS).
- the GRPO best checkpoint of each seed (models/grpo/seed*/best.json), greedy, as the pipeline
  evaluates it, and its own trajectories cut after K opens (answered with the reader's answer at
  that point): how much of its F1 it had at the heuristic's token count.

A learned point *above* the curve (more F1 than every stop rule that reads no more) would be a
better reading order; on the curve, it trades tokens for F1 as a stop rule does.

    python bench/stop_rules.py [--split dev]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np

from explorer import layout
from explorer.config import load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.policies.baselines import MAX_OPENS, affordable, most_relevant, read_passages
from explorer.policies.local import load_policy
from explorer.reader import answer_question, is_sufficient
from explorer.reward import token_f1
from explorer.types import Answer, Episode, Observation, Open, Task

ROOT = Path(__file__).resolve().parents[1]
PARTIAL_CAPS = (3, 4, 6, 8)
NONE_CAPS = (4, 6, 8, 12, 16, 24)
CUTS = (3, 4, 5, 6, 8, 10)


def stop_rule(partial_cap: int, none_cap: int):
    """The heuristic with its stop rule replaced (partial_cap = none_cap = MAX_OPENS: the heuristic)."""

    def act(obs: Observation, rng: random.Random):
        read = read_passages(obs)
        k = sum(c.opened for c in obs.chunks)
        candidates = affordable(obs)
        answer = Answer(answer_question(obs.question, read))
        if not candidates or obs.max_steps - obs.step <= 1 or (read and is_sufficient(obs.question, read)):
            return answer
        # an answer from the passages, not the guess the reader makes with nothing read
        has_answer = bool(read) and answer.text != answer_question(obs.question, [])
        if k >= (partial_cap if has_answer else none_cap):
            return answer
        return most_relevant(obs, read, candidates)

    return lambda task: act


def cut(task: Task, episode: Episode, k: int) -> tuple[float, float]:
    """(F1, tokens read) of the episode stopped after its first k opens."""
    opened = [t.action.chunk_id for t in episode.transitions if isinstance(t.action, Open)]
    if len(opened) <= k:
        return episode.metrics["f1"], episode.metrics["tokens_read"]
    opened = opened[:k]
    answer = answer_question(task.question, [(task.chunks[i].title, task.chunks[i].text) for i in opened])
    return max(token_f1(answer, g) for g in task.gold_answers), float(sum(task.chunks[i].n_tokens for i in opened))


def best_below(curve: list[tuple[str, float, float]], tokens: float) -> tuple[str, float, float] | None:
    fits = [p for p in curve if p[2] <= tokens]
    return max(fits, key=lambda p: p[1]) if fits else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--split", default=None, help="default: baseline.split of params.yaml")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    split = args.split or params.baseline.split
    tasks, _ = resolve_tasks(split, params.data)
    by_id = {t.id: t for t in tasks}

    curve: list[tuple[str, float, float]] = []
    for p_cap in PARTIAL_CAPS:
        for n_cap in NONE_CAPS:
            m, _ = evaluate_policy(tasks, stop_rule(p_cap, n_cap), "stop_rule", params.env, params.reward, progress=False)
            name = "heuristic" if p_cap == n_cap == MAX_OPENS else f"partial {p_cap}, none {n_cap}"
            curve.append((name, m["f1"], m["avg_tokens_read"]))
            print(f"stop rule {name}: F1 {m['f1']:.3f} @ {m['avg_tokens_read']:.1f}", flush=True)
    curve.sort(key=lambda p: p[2])

    learned, cuts = [], {k: [] for k in CUTS}
    for seed in params.train.seeds:
        path = layout.grpo_dir(params.grpo, seed) / "best.json"
        if not path.exists():
            print(f"no {path}: run `dvc repro` first", file=sys.stderr)
            return 1
        policy = load_policy(path)
        m, episodes = evaluate_policy(tasks, lambda t, policy=policy: policy, "grpo", params.env, params.reward, progress=False)
        learned.append((m["f1"], m["avg_tokens_read"]))
        for k in CUTS:
            pts = np.array([cut(by_id[e.task_id], e, k) for e in episodes])
            cuts[k].append(pts.mean(axis=0))
        print(f"grpo seed {seed}: F1 {m['f1']:.3f} @ {m['avg_tokens_read']:.1f}", flush=True)

    lines = ["# The learned policy against the heuristic's stop rules", "",
             f"Split `{split}` ({len(tasks)} questions), this chunking (`data.max_chunk_tokens` {params.data.max_chunk_tokens}). "
             "Written by `python bench/stop_rules.py`.", "",
             "Stop rules: the heuristic's reading order, answering when the reader is sufficient, or has an answer from the "
             "passages after *partial* opens, or none after *none* opens (the heuristic: 6 and 6). Sorted by tokens read.", "",
             "| stop rule | F1 | tokens read |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {name} | {f1:.3f} | {tok:.1f} |" for name, f1, tok in curve]
    lines += ["", f"GRPO best checkpoints (seeds {list(params.train.seeds)}), and the best stop rule that reads no more:", "",
              "| GRPO | F1 | tokens read | best stop rule at ≤ those tokens | its F1 | above the curve by |", "|---|---|---|---|---|---|"]  # fmt: skip

    def row(label: str, f1: float, tok: float) -> str:
        ref = best_below(curve, tok)
        if ref is None:
            return f"| {label} | {f1:.3f} | {tok:.1f} | none reads so little | - | - |"
        return f"| {label} | {f1:.3f} | {tok:.1f} | {ref[0]} ({ref[2]:.1f} tokens) | {ref[1]:.3f} | {f1 - ref[1]:+.3f} |"

    for seed, (f1, tok) in zip(params.train.seeds, learned, strict=True):
        lines.append(row(f"seed {seed}", f1, tok))
    for k in CUTS:
        f1, tok = np.mean(cuts[k], axis=0)
        lines.append(row(f"its trajectories cut after {k} opens (mean of seeds)", float(f1), float(tok)))
    lines.append("")
    out = ROOT / "reports" / "stop_rules.md"
    atomic_write_text(out, "\n".join(lines))
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
