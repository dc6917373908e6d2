"""Shared test helpers (records in both layouts, file writers). Fixtures are in conftest.py."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

SHARED_2WIKI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "2wiki"


def raw_record(**overrides) -> dict:
    """A small but realistic raw-layout record: a compositional question with 2 gold paragraphs
    and 2 distractors."""
    rec = {
        "_id": "q1",
        "type": "compositional",
        "question": "Where was the director of film Blue Lake born?",
        "answer": "Graz",
        "context": [
            ["Red Hill", ["Red Hill is a 1950 film.", "It was directed by Ann Lee."]],
            ["Blue Lake", ["Blue Lake is a 1961 Austrian film.", "It was directed by Max Huber."]],
            ["Max Huber", ["Max Huber (6 June 1906, Graz – 2 November 1994, Paris) was an Austrian director."]],
            ["Ann Lee", ["Ann Lee (born 1920 in Leeds) was a British director."]],
        ],
        "supporting_facts": [["Blue Lake", 1], ["Max Huber", 0]],
        "evidences": [["Blue Lake", "director", "Max Huber"], ["Max Huber", "place of birth", "Graz"]],
    }
    rec.update(overrides)
    return rec


def hub_record(raw: dict) -> dict:
    """The same record in the FlashRAG hub dict-of-lists layout."""
    return {
        "id": raw["_id"],
        "question": raw["question"],
        "golden_answers": [raw["answer"]],
        "metadata": {
            "type": raw["type"],
            "supporting_facts": {"title": [t for t, _ in raw["supporting_facts"]], "sent_id": [i for _, i in raw["supporting_facts"]]},
            "context": {"title": [t for t, _ in raw["context"]], "content": [s for _, s in raw["context"]]},
        },
    }


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_project(root: Path, n_train: int, n_dev: int, params: dict) -> Path:
    """root/src/{train,dev}.jsonl of tiny records, and root/project/params.yaml reading them
    (`data.source` set here; `params` gives the rest). Returns the project folder."""
    src = root / "src"
    src.mkdir(parents=True)
    write_jsonl(src / "train.jsonl", tiny_records(n_train, "t"))
    write_jsonl(src / "dev.jsonl", tiny_records(n_dev, "d"))
    project = root / "project"
    project.mkdir()
    data = {"source": f"local:{src}", **params.get("data", {})}
    (project / "params.yaml").write_text(yaml.safe_dump({**params, "data": data}))
    return project


def tiny_records(n: int, prefix: str) -> list[dict]:
    """Compositional and comparison questions over small made-up paragraphs."""
    rows = []
    for i in range(n):
        film, director, place = f"Film{prefix}{i}", f"Director{prefix}{i}", ["Graz", "Leeds", "Paris", "Oslo"][i % 4]
        if i % 3 == 2:
            rows.append(raw_record(_id=f"{prefix}{i}", type="comparison", question=f"Which film came out first, {film} or Other{i}?", answer=film,
                                   context=[[film, [f"{film} is a 19{40 + i % 50} film."]], [f"Other{i}", [f"Other{i} is a 1999 film."]],
                                            ["Noise", ["Noise is a band."]]],
                                   supporting_facts=[[film, 0], [f"Other{i}", 0]]))  # fmt: skip
        else:
            rows.append(raw_record(_id=f"{prefix}{i}", question=f"Where was the director of film {film} born?", answer=place,
                                   context=[["Noise", ["Noise is a band from Rome."]], [film, [f"{film} is a 1961 film.", f"It was directed by {director}."]],
                                            [director, [f"{director} (6 June 1906, {place} – 2 November 1994) was a director."]], ["Other", ["Other was born in Rome."]]],
                                   supporting_facts=[[film, 1], [director, 0]]))  # fmt: skip
    return rows


def run_task(task, policy, env_cfg=None, reward_cfg=None, rng=None, name: str = "test"):
    """One episode of `policy` on `task` through the project's one episode loop."""
    import random

    from explorer.env import ExplorerEnv
    from explorer.rollout import run_episode

    return run_episode(ExplorerEnv(task, env_cfg, reward_cfg), policy, rng if rng is not None else random.Random(0), name)
