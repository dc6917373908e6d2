"""The heuristic with its reading cap (MAX_OPENS = 6) moved, under a given `env.previews` (run by
hand; prints a table). The heuristic's ranking and its "stop when sufficient" are unchanged; only
the number of opens after which it answers anyway moves. README: "Seeing inside a paragraph".

    python bench/heuristic_caps.py --previews paragraph+cues 4 6 8 10 12
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from stop_rules import stop_rule  # bench/stop_rules.py: with partial = none = cap it is this heuristic

from explorer.config import PREVIEW_MODES, load_params
from explorer.data.tasks import resolve_tasks
from explorer.harness import evaluate_policy

ROOT = Path(__file__).resolve().parents[1]


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
        m, _ = evaluate_policy(tasks, stop_rule(cap, cap), f"heuristic-cap{cap}", env, params.reward, progress=False)
        print(f"| {cap} | {m['f1']:.3f} | {m['em']:.3f} | {m['avg_tokens_read']:.1f} | {m['avg_reward']:.3f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
