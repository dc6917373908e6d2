"""A param sweep as DVC experiments: the whole pipeline at several values of one params.yaml key,
F1 vs tokens read of SFT and GRPO (mean ± std over seeds) beside the rule baselines of each run
(run by hand; results in reports/sweep-<key>.{md,json} and reports/plots/sweep-<key>.png).

    python bench/sweep.py reward.cost_coef 0.25 1.0      # the reading-cost frontier over λ
    python bench/sweep.py data.max_chunk_tokens 128 0    # the chunking study
    python bench/sweep.py env.previews paragraph+cues    # cue marks per chunk in the free text
    python bench/sweep.py local_policy.max_opens 0 5 6 --with env.previews=paragraph+cues \
        --with local_policy.answer_when_sufficient=true  # learned order under the heuristic's stop rules

Each value other than the workspace's own is `dvc exp run --temp -n sweep-<key>-<value> -S
<key>=<value>` (a temporary copy of the repo; DVC reruns only the stages that read the key); the
workspace's own value is read from its outputs (run `dvc repro` first). With `--with KEY=VALUE`
every point, the workspace's own value included, is an experiment with those settings added. Every point is the GRPO
best checkpoint (and the SFT checkpoint) of each seed of `train.seeds` on the report split.
`--reuse` reads experiments that already exist instead of running them again;
`python bench/sweep.py --replot reports/sweep-<...>.json` redraws a written sweep's plot.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import dvc.api

from explorer import layout
from explorer.config import load_params
from explorer.io import atomic_write_json, atomic_write_text
from explorer.plots import plot_sweep, sweep_order

ROOT = Path(__file__).resolve().parents[1]
POINT_KEYS = ("f1", "em", "avg_tokens_read", "avg_reward")


def exp_name(key: str, value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"sweep-{key}-{value}")


def own_value(params: object, key: str) -> str:
    section, name = key.split(".")
    value = getattr(getattr(params, section), name)
    return value if isinstance(value, str) else f"{value:g}"


def same_value(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def read_metrics(rev: str | None, path: Path) -> dict:
    """A metrics file of the workspace (rev None) or of an experiment."""
    if rev is None:
        return json.loads((ROOT / path).read_text())
    return json.loads(dvc.api.read(str(path), repo=str(ROOT), rev=rev))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("key", help="a params.yaml key, e.g. reward.cost_coef; with --replot, a sweep's reports/sweep-*.json")
    ap.add_argument("values", nargs="*", help="values besides the workspace's own")
    ap.add_argument("--replot", action="store_true", help="redraw the plot of a written sweep (KEY is its .json), run nothing")
    ap.add_argument("--reuse", action="store_true", help="read existing sweep experiments instead of running them")
    ap.add_argument("--with", dest="extra", action="append", default=[], metavar="KEY=VALUE", help="set in every point of the sweep")
    args = ap.parse_args()
    if args.replot:
        doc_path = Path(args.key)
        if doc_path.suffix != ".json" or not doc_path.is_file():
            ap.error(f"--replot {args.key}: expected a sweep's reports/sweep-*.json")
        print(plot_sweep(json.loads(doc_path.read_text()), ROOT / layout.PLOTS_DIR / f"{doc_path.stem}.png"))
        return 0
    if not args.values:
        ap.error("give at least one value to sweep")
    params = load_params(ROOT / "params.yaml")
    for item in args.extra:
        if "=" not in item or item.split("=", 1)[0] == args.key:
            ap.error(f"--with {item}: expected KEY=VALUE with a key other than {args.key}")
    split, params_value = params.baseline.split, own_value(params, args.key)
    # the value whose run the baselines are read from: the workspace's own run, or (with --with,
    # where every point is an experiment) the first point
    runs: dict[str, str | None] = {} if args.extra else {params_value: None}
    suffix = "".join(f"-with-{item}" for item in args.extra)
    for value in dict.fromkeys(args.values if args.extra else [v for v in args.values if not same_value(v, params_value)]):
        name = exp_name(args.key, value + suffix)
        if not args.reuse:
            sets = [x for item in [f"{args.key}={value}", *args.extra] for x in ("-S", item)]
            print(f"dvc exp run --temp -n {name} {' '.join(sets)}", flush=True)
            subprocess.run([sys.executable, "-m", "dvc", "exp", "run", "--temp", "-n", name, "-f", *sets], cwd=ROOT, check=True)
        runs[value] = name
    reference = params_value if params_value in runs else next(iter(runs))
    points, baselines = [], {}
    for value, rev in sorted(runs.items(), key=lambda kv: sweep_order(kv[0])):
        learned = read_metrics(rev, layout.eval_metrics(params.evaluate))
        base = read_metrics(rev, layout.baseline_metrics(params.baseline))
        baselines[value] = {p: {k: base[p][k] for k in ("f1", "em", "avg_tokens_read")} for p in base}
        for name in ("sft", "grpo"):
            m = learned[name][split]
            points.append({"value": value, "policy": name, "seeds": m["seeds"], **{k: m[k] for k in POINT_KEYS if k in m}})
    # The baselines read the reward only for its value: with a reward key they are the same in every run.
    shared = all(b == baselines[reference] for b in baselines.values())
    doc = {"split": split, "key": args.key, "own": reference, "baselines": baselines[reference] if shared else baselines, "points": points}
    # with --with: e.g. sweep-local_policy.max_opens-with-previews_paragraph+cues (the settings' last key parts)
    stem = f"sweep-{args.key}" + "".join(
        "-with-" + re.sub(r"[^A-Za-z0-9_.+-]", "_", x.split("=")[0].split(".")[-1] + "=" + x.split("=", 1)[1]) for x in args.extra
    )
    atomic_write_json(ROOT / f"reports/{stem}.json", doc)
    plot_sweep(doc, ROOT / layout.PLOTS_DIR / f"{stem}.png")
    lines = [
        f"# Sweep of `{args.key}`" + (f" with {', '.join(f'`{x}`' for x in args.extra)}" if args.extra else ""),
        "",
        f"`{split}` split; the pipeline at {args.key} = {', '.join(runs)} (params.yaml: {params_value})"
        + (f", every point with {', '.join(f'`{x}`' for x in args.extra)}" if args.extra else "")
        + f"; learned policies: mean ± sample std over seeds {points[0]['seeds']}. Written by `python bench/sweep.py {args.key} ..."
        f"{''.join(f' --with {x}' for x in args.extra)}` (DVC experiments); plot: `plots/{stem}.png`.",
        "",
        "| policy | value | F1 | EM | tokens read | reward |",
        "|---|---|---|---|---|---|",
    ]
    for value, base in baselines.items() if not shared else [("all", baselines[reference])]:
        for p, m in base.items():
            lines.append(f"| {p} | {value} | {m['f1']:.3f} | {m['em']:.3f} | {m['avg_tokens_read']:.1f} | - |")
    for pt in points:
        lines.append(
            f"| {pt['policy']} | {pt['value']} | {pt['f1']['mean']:.3f} ± {pt['f1']['std']:.3f} | {pt['em']['mean']:.3f} ± {pt['em']['std']:.3f} | "
            f"{pt['avg_tokens_read']['mean']:.1f} ± {pt['avg_tokens_read']['std']:.1f} | {pt['avg_reward']['mean']:.3f} |"
        )
    lines += ["", "Each GRPO point against the heuristic and read-all of the same run (dominates: higher F1 at fewer tokens; "
              "dominated: lower F1 at more tokens):", ""]  # fmt: skip
    for pt in (p for p in points if p["policy"] == "grpo"):
        f1, tok = pt["f1"]["mean"], pt["avg_tokens_read"]["mean"]
        for ref in ("heuristic", "read_all"):
            b = baselines[reference][ref] if shared else baselines[pt["value"]][ref]
            verdict = (
                "dominates"
                if f1 > b["f1"] and tok < b["avg_tokens_read"]
                else "dominated"
                if f1 < b["f1"] and tok > b["avg_tokens_read"]
                else "neither"
            )
            lines.append(
                f"- GRPO at {pt['value']}: F1 {f1:.3f} at {tok:.0f} tokens vs {ref} {b['f1']:.3f} at {b['avg_tokens_read']:.0f}: **{verdict}**"
            )
    atomic_write_text(ROOT / f"reports/{stem}.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
