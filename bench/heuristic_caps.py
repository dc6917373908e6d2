"""The heuristic with its reading cap (MAX_OPENS = 6) moved, under a given `env.previews` (run by
hand; prints a table). The heuristic's ranking and its "stop when sufficient" are unchanged; only
the number of opens after which it answers anyway moves. README: "Seeing inside a paragraph".

    python bench/heuristic_caps.py --previews paragraph+cues 4 6 8 10 12
"""

from __future__ import annotations

import argparse
import random
import sys
from dataclasses import replace
from pathlib import Path

from explorer.config import PREVIEW_MODES, load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy
from explorer.policies.baselines import affordable, most_relevant, read_passages
from explorer.reader import answer_question, is_sufficient
from explorer.types import Action, Answer, Observation

ROOT = Path(__file__).resolve().parents[1]


def capped_heuristic(cap: int):
    def act(obs: Observation, rng: random.Random) -> Action:
        read, candidates = read_passages(obs), affordable(obs)
        n_opened = sum(c.opened for c in obs.chunks)
        if not candidates or n_opened >= cap or obs.max_steps - obs.step <= 1 or (read and is_sufficient(obs.question, read)):
            return Answer(answer_question(obs.question, read))
        return most_relevant(obs, read, candidates)

    return act


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("caps", nargs="+", type=int)
    ap.add_argument("--previews", choices=PREVIEW_MODES, default=None, help="default: env.previews of params.yaml")
    ap.add_argument("--split", default=None, help="default: baseline.split of params.yaml")
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    env = replace(params.env, previews=args.previews or params.env.previews)
    split = args.split or params.baseline.split
    tasks, _ = resolve_tasks(split, params.data)
    print(f"{len(tasks)} {split} questions; env.previews {env.previews}")
    print("| cap (opens) | F1 | EM | tokens read | reward |\n|---|---|---|---|---|")
    for cap in args.caps:
        policy = capped_heuristic(cap)
        m, _ = evaluate_policy(tasks, lambda t, policy=policy: policy, f"heuristic-cap{cap}", env, params.reward, progress=False)
        print(f"| {cap} | {m['f1']:.3f} | {m['em']:.3f} | {m['avg_tokens_read']:.1f} | {m['avg_reward']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
