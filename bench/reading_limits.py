"""What a reading policy can reach with this reader, by chunk size (run by hand; writes
reports/reading_limits.md). Three label-reading references on the report split:

- gold: open exactly the chunks holding supporting facts (the `gold_reading` baseline);
- prefix: open each gold paragraph from its first chunk up to its gold chunk, the cheapest reading
  a policy can discover when nothing shown tells a paragraph's chunks apart but their order;
- prefix+stop: the same, answering as soon as the reader judges the reading sufficient.

Then, at params.yaml's chunking, where the reader loses on dev what it has on train: gold reading
on both splits (and the heuristic on dev) by question type, the two-hop questions split by
whether their relation pair (the evidence triples' relations, e.g. director -> place of birth)
occurs in a train question (the reader is rules, written on the 600 train records). Last, which
step of the reader's plan decides the two-hop questions after the gold reading: the question not
parsed, the first hop missed (following the plan's first relation from the question entity's
paragraph does not reach the other gold paragraph), else the last step: the attribute read from
the bridge's paragraph, by attribute, or the second hop when the answer is a name ("Who is the
father of the director of X?"); with the F1 that each attribute's train F1 would give on dev's
mix of attributes.

    python bench/reading_limits.py [--sizes 128 96 64 48 32 0]
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from explorer.config import DataConfig, load_params
from explorer.data.records import read_records
from explorer.data.sources import resolve_source
from explorer.data.tasks import make_tasks
from explorer.harness import evaluate_policy
from explorer.io import atomic_write_text
from explorer.policies.baselines import gold_reading_policy, heuristic_act, read_passages
from explorer.reader import answer_question, is_sufficient
from explorer.reader.paragraphs import find_para, merge_chunks
from explorer.reader.questions import parse_question
from explorer.reader.relations import follow
from explorer.reward import normalize_answer, token_f1
from explorer.types import Answer, Task

ROOT = Path(__file__).resolve().parents[1]


def with_prefixes(task: Task) -> Task:
    """The task with each gold paragraph's chunks before its gold chunk counted as gold too."""
    gold = set(task.gold_chunk_ids)
    for g in task.gold_chunk_ids:
        gold |= {c.id for c in task.chunks if c.paragraph == task.chunks[g].paragraph and c.id <= g}
    return replace(task, gold_chunk_ids=tuple(sorted(gold)))


def stop_when_sufficient(task: Task):
    inner = gold_reading_policy(task)

    def act(obs, rng):
        read = read_passages(obs)
        if read and is_sufficient(obs.question, read):
            return Answer(answer_question(obs.question, read))
        return inner(obs, rng)

    return act


def relation_pair(task: Task) -> tuple[str, ...]:
    return tuple(relation for _, relation, _ in task.evidences)


TWO_HOP = ("compositional", "inference")
RARE_TRIPLES = 10  # a relation in fewer train evidence triples than this is rare


def reader_groups(task: Task, train_pairs: set[tuple[str, ...]], train_relations: Counter[str]) -> list[str]:
    """The table's rows a question counts in: all, its type, and for a two-hop question whether
    its relation pair occurs in train and whether its rarest relation is rare there."""
    groups = ["all", task.type]
    if task.type in TWO_HOP:
        pair = relation_pair(task)
        groups.append(f"two-hop, relation pair {'seen' if pair in train_pairs else 'not seen'} in train")
        rare = min(train_relations[r] for r in pair) < RARE_TRIPLES
        groups.append(f"two-hop, rarest relation in {'<' if rare else '≥'} {RARE_TRIPLES} train triples")
    return groups


def by_reader_group(train: list[Task], dev: list[Task], params) -> list[str]:
    """Rows of the table by question type, relation pair seen in train and relation rarity."""
    train_pairs = {relation_pair(t) for t in train if t.type in TWO_HOP}
    train_relations = Counter(r for t in train for r in relation_pair(t))

    def f1_by_group(tasks: list[Task], factory) -> dict[str, list[float]]:
        _, episodes = evaluate_policy(tasks, factory, "limit", params.env, params.reward, progress=False)
        groups: dict[str, list[float]] = {}
        for t, ep in zip(tasks, episodes, strict=True):
            for g in reader_groups(t, train_pairs, train_relations):
                groups.setdefault(g, []).append(ep.metrics["f1"])
        return groups

    def mean(f1s: list[float]) -> str:
        return f"{sum(f1s) / len(f1s):.3f}" if f1s else "-"

    # 1.0 where one gold answer, normalized as the scorer does, is in the gold chunks' titles or text: what
    # an extractive reader could copy after the gold reading (yes/no answers count as there)
    in_gold_text: dict[str, list[float]] = {}
    for t in dev:
        text = f" {normalize_answer(' '.join(f'{t.chunks[i].title} {t.chunks[i].text}' for i in t.gold_chunk_ids))} "
        there = any(normalize_answer(a) in ("yes", "no") or f" {normalize_answer(a)} " in text for a in t.gold_answers)
        for g in reader_groups(t, train_pairs, train_relations):
            in_gold_text.setdefault(g, []).append(float(there))

    gold_train, gold_dev = f1_by_group(train, gold_reading_policy), f1_by_group(dev, gold_reading_policy)
    heuristic_dev = f1_by_group(dev, lambda task: heuristic_act)
    rows = [
        "| questions | train n | gold reading, train | dev n | gold reading, dev | heuristic, dev | dev answer in its gold chunks |",
        "|---|---|---|---|---|---|---|",
    ]
    for group in sorted(gold_train.keys() | gold_dev.keys(), key=lambda g: (g == "all", g)):
        tr, dv, hd, there = (by.get(group, []) for by in (gold_train, gold_dev, heuristic_dev, in_gold_text))
        rows.append(f"| {group} | {len(tr)} | {mean(tr)} | {len(dv)} | {mean(dv)} | {mean(hd)} | {mean(there)} |")
    return rows


def reader_step(task: Task) -> str:
    """The step of the reader's plan that decides a two-hop question after the gold reading."""
    passages = tuple((task.chunks[i].title, task.chunks[i].text) for i in task.gold_chunk_ids)
    paras = merge_chunks(passages)
    plan = parse_question(task.question, paras)
    if plan.kind != "chain" or not plan.entities or not plan.via or not task.evidences:
        return "question not parsed as a chain"
    start = find_para(plan.entities[0], paras)
    # the gold paragraphs are the question entity's and the bridge's: a hop that resolves to a
    # paragraph reached the bridge; a name read that resolves to none did not (the solver then
    # falls back to any paragraph with the attribute)
    bridge = follow(plan.via[0], start, paras)[1] if start is not None else None
    if bridge is None or bridge.title == start.title:
        return "first hop missed"
    return "second hop (the answer is a name)" if plan.attr == "name" else f"last read: {plan.attr}"


def by_reader_step(train: list[Task], dev: list[Task]) -> list[str]:
    """Rows: two-hop questions after the gold reading by the reader step that decides them."""

    def f1_by_step(tasks: list[Task]) -> dict[str, list[float]]:
        steps: dict[str, list[float]] = {}
        for t in tasks:
            if t.type in TWO_HOP:
                passages = [(t.chunks[i].title, t.chunks[i].text) for i in t.gold_chunk_ids]
                answer = answer_question(t.question, passages)
                steps.setdefault(reader_step(t), []).append(max(token_f1(answer, g) for g in t.gold_answers))
        return steps

    train_steps, dev_steps = f1_by_step(train), f1_by_step(dev)
    rows = ["| reader step (two-hop, gold reading) | train n | train F1 | dev n | dev F1 |", "|---|---|---|---|---|"]
    for step in sorted(train_steps.keys() | dev_steps.keys()):
        tr, dv = train_steps.get(step, []), dev_steps.get(step, [])
        f1 = [f"{sum(xs) / len(xs):.3f}" if xs else "-" for xs in (tr, dv)]
        rows.append(f"| {step} | {len(tr)} | {f1[0]} | {len(dv)} | {f1[1]} |")
    # dev's mix of attribute reads at train's F1 per attribute; an attribute train never asks
    # counts 0, or train's F1 over all attribute reads (the two bounds of the estimate)
    last = {k: v for k, v in dev_steps.items() if k.startswith("last read")}
    train_last = [f1 for k, v in train_steps.items() if k.startswith("last read") for f1 in v]
    train_mean = sum(train_last) / len(train_last)
    n_last, at_dev = sum(len(v) for v in last.values()), sum(sum(v) for v in last.values())
    bounds = [
        sum(len(v) * (sum(train_steps[k]) / len(train_steps[k]) if k in train_steps else unseen) for k, v in last.items()) / n_last
        for unseen in (0.0, train_mean)
    ]
    rows += ["", f"Attribute reads: train F1 {train_mean:.3f} on train's mix; on dev's mix, train's F1 per attribute would "
             f"give {bounds[0]:.3f} to {bounds[1]:.3f} (attributes train never asks at 0 or at {train_mean:.3f}); "
             f"dev gets {at_dev / n_last:.3f} ({n_last} questions)."]  # fmt: skip
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[128, 96, 64, 48, 32, 0])
    args = ap.parse_args()
    params = load_params(ROOT / "params.yaml")
    src = resolve_source(params.data)
    records, _ = read_records(Path(src.location) / params.data.dev_file)
    lines = ["# What reading can reach with this reader", "", f"{len(records)} official dev questions ({src.location}); "
             "F1 @ average tokens read. Written by `python bench/reading_limits.py`.", "",
             "| data.max_chunk_tokens | gold | prefix | prefix + stop when sufficient |", "|---|---|---|---|"]  # fmt: skip
    for size in args.sizes:
        tasks, _ = make_tasks(records, replace(DataConfig(), max_chunk_tokens=size))
        prefix = [with_prefixes(t) for t in tasks]
        cells = []
        for ts, factory in ((tasks, gold_reading_policy), (prefix, gold_reading_policy), (prefix, stop_when_sufficient)):
            m, _ = evaluate_policy(ts, factory, "limit", params.env, params.reward, progress=False)
            cells.append(f"{m['f1']:.3f} @ {m['avg_tokens_read']:.0f}")
        lines.append(f"| {size or 'one sentence'} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    train_records, _ = read_records(Path(src.location) / params.data.train_file)
    train, _ = make_tasks(train_records, params.data)
    dev, _ = make_tasks(records, params.data)
    lines += ["", f"## Where the reader loses on dev (data.max_chunk_tokens {params.data.max_chunk_tokens}; F1)", "",
              "Rows overlap: a question counts in `all`, in its type and, if two-hop (compositional, inference), in one row of "
              "each split of two-hop questions: whether their relation pair occurs in a train question, and how often their "
              "rarest relation occurs among all train questions' evidence triples (counted over train, its own included). "
              "The last column: an answer, normalized as the scorer does, appears in the gold chunks' titles or text "
              "(yes/no answers count as there).", "",
              *by_reader_group(train, dev, params), "", *by_reader_step(train, dev)]  # fmt: skip
    print("\n".join(lines[-30:]), flush=True)
    atomic_write_text(ROOT / "reports/reading_limits.md", "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
