"""Real 2Wiki train records for the reader's tests (tests/test_reader_*.py).

The records are read at run time from ../shared/data/2wiki/train.jsonl (never copied into the
repository); tests pick them by `_id` and a paragraph by its title, and assert the value the
reader should get from that real text."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from helpers import SHARED_2WIKI


class TrainRecords:
    def __init__(self, records: dict[str, dict]):
        self.records = records

    def question(self, rid: str) -> str:
        return self.records[rid]["question"]

    def answer(self, rid: str) -> str:
        return self.records[rid]["answer"]

    def paragraph(self, rid: str, title: str) -> str:
        """The paragraph's sentences joined as the chunker joins them (explorer/data.py)."""
        for t, sentences in self.records[rid]["context"]:
            if t == title:
                return " ".join(s.strip() for s in sentences).strip()
        raise KeyError(f"record {rid} has no paragraph titled {title!r}")

    def passages(self, rid: str, *titles: str) -> list[tuple[str, str]]:
        return [(t, self.paragraph(rid, t)) for t in titles]

    def gold_passages(self, rid: str) -> list[tuple[str, str]]:
        """The supporting-fact paragraphs, in the order the record lists them."""
        titles = dict.fromkeys(t for t, _ in self.records[rid]["supporting_facts"])
        return self.passages(rid, *titles)


@cache
def _read(path: Path) -> TrainRecords:
    with path.open(encoding="utf-8") as f:
        return TrainRecords({rec["_id"]: rec for rec in map(json.loads, f)})


def load_train() -> TrainRecords:
    """The 600 train records, read once per test session; skips where the folder is absent."""
    path = SHARED_2WIKI / "train.jsonl"
    if not path.exists():
        pytest.skip(f"real 2Wiki records not found at {SHARED_2WIKI} (they live in the workplace's shared/ folder)")
    return _read(path)


def known_wrong(reason: str) -> pytest.MarkDecorator:
    """A real case the rules get wrong: the test states the right value and must fail on it
    (strict, and only by its assertion), so a rule change that fixes or moves it shows up."""
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)
