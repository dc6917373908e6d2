from __future__ import annotations

import json
from pathlib import Path

import pytest

from explorer.config import DataConfig
from explorer.data import RawRecord, make_task

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


@pytest.fixture
def task():
    from explorer.data import parse_record

    rec: RawRecord = parse_record(raw_record(), "fixture.jsonl", 1)
    t, warnings = make_task(rec, DataConfig())
    assert warnings == []
    return t


@pytest.fixture
def shared_2wiki() -> Path:
    if not (SHARED_2WIKI / "dev.jsonl").exists():
        pytest.skip(f"real 2Wiki records not found at {SHARED_2WIKI} (they live in the workplace's shared/ folder)")
    return SHARED_2WIKI
