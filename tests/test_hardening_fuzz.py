"""Property-based tests (hypothesis): random mutations of real records and prepared tasks, random
bytes and random model text never raise anything but the documented error, and never leave
partial outputs. Bounded and derandomized, so CI cannot flake."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from helpers import SHARED_2WIKI, raw_record
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from explorer.cli import main
from explorer.config import DataConfig
from explorer.data.records import DataError, parse_record, read_records
from explorer.data.tasks import make_task, read_tasks, task_from_dict, task_to_dict
from explorer.render import parse_action
from explorer.types import Answer, Open, Summarize, Unparsable

FAST = settings(max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _real_records() -> list[dict]:
    path = SHARED_2WIKI / "train.jsonl"
    if not path.exists():
        return [raw_record()]
    with path.open(encoding="utf-8") as f:
        return [json.loads(next(f)) for _ in range(5)]


RECORDS = _real_records()
JUNK = st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), st.booleans(), st.text(max_size=30), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=5), st.integers(), max_size=2), st.just("x" * 100_000))  # fmt: skip


@st.composite
def mutated_record(draw) -> dict:
    """A real record with one to three random mutations: a field dropped, retyped, a string
    truncated or blown up, a nested list replaced or nested one level deeper."""
    rec = copy.deepcopy(draw(st.sampled_from(RECORDS)))
    for _ in range(draw(st.integers(1, 3))):
        key = draw(st.sampled_from(sorted(rec)))
        kind = draw(st.sampled_from(["drop", "retype", "truncate", "nest", "inner"]))
        if kind == "drop":
            rec.pop(key, None)
        elif kind == "retype":
            rec[key] = draw(JUNK)
        elif kind == "truncate" and isinstance(rec.get(key), str):
            rec[key] = rec[key][: draw(st.integers(0, 3))]
        elif kind == "nest":
            rec[key] = [rec.get(key)]
        elif kind == "inner" and isinstance(rec.get(key), list) and rec[key]:
            i = draw(st.integers(0, len(rec[key]) - 1))
            rec[key][i] = draw(JUNK)
    return rec


@FAST
@given(mutated_record())
def test_a_mutated_record_parses_or_is_a_data_error(rec):
    try:
        parsed = parse_record(rec, "fuzz.jsonl", 1)
    except DataError as e:
        assert "fuzz.jsonl:1: field" in str(e)
        return
    task, _ = make_task(parsed, DataConfig())  # whatever parses also chunks
    assert task.chunks and all(0 <= g < len(task.chunks) for g in task.gold_chunk_ids)


@FAST
@given(st.binary(max_size=400))
def test_random_bytes_in_a_file_are_a_data_error(tmp_path, data):
    path = tmp_path / "f.jsonl"
    path.write_bytes(json.dumps(raw_record()).encode() + b"\n" + data + b"\n")
    try:
        records, _ = read_records(path)
    except DataError as e:
        assert str(e).startswith(f"{path}:")
        return
    assert records


@FAST
@given(mutated_record(), st.sampled_from(["chunks", "gold_chunk_ids", "id", "answer", "evidences", "answer_aliases"]), JUNK)
def test_a_mutated_prepared_task_loads_or_is_a_data_error(rec, key, junk):
    try:
        task, _ = make_task(parse_record(rec, "r", 1), DataConfig())
    except DataError:
        return
    d = task_to_dict(task)
    d[key] = junk
    try:
        loaded = task_from_dict(d, "p.jsonl", 7)
    except DataError as e:
        assert "p.jsonl:7: field" in str(e)
        return
    assert loaded.id == d["id"] if isinstance(d["id"], str) else True


@settings(max_examples=25, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(mutated_record(), min_size=1, max_size=3))
def test_eval_of_a_mutated_file_writes_everything_or_nothing(tmp_path_factory, monkeypatch, records):
    tmp = tmp_path_factory.mktemp("fuzz")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp}/mlflow.db")
    monkeypatch.chdir(tmp)
    tasks = tmp / "t.jsonl"
    tasks.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp / "out"
    rc = main(["eval", "--policy", "heuristic", "--tasks", str(tasks), "--out", str(out), "--quiet"])
    assert rc in (0, 2)
    if rc == 2:
        assert not out.exists()
    else:
        assert sorted(p.name for p in out.iterdir()) == ["episodes.jsonl", "metrics.json", "predictions.json", "viewer.html"]
        assert len(json.loads((out / "predictions.json").read_text())) == len(read_tasks(tasks))


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.text(max_size=200))
def test_any_model_text_parses_to_an_action(text):
    a = parse_action(text)
    assert isinstance(a, Open | Summarize | Answer | Unparsable)
    if isinstance(a, Unparsable):
        assert a.raw == text and a.error


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.sampled_from(["OPEN", "open", "ANSWER", "Summarize"]), st.text(max_size=40))
def test_action_keywords_with_random_arguments(keyword, rest):
    a = parse_action(f"<think>{rest}</think>{keyword} {rest}")
    assert isinstance(a, Open | Summarize | Answer | Unparsable)


@pytest.mark.real_data
def test_the_fuzz_starts_from_real_records():
    if not (SHARED_2WIKI / "train.jsonl").exists():
        pytest.skip("real 2Wiki records not found")
    assert len(RECORDS) == 5 and all(isinstance(parse_record(r, "real", i), object) for i, r in enumerate(RECORDS, 1))
    assert Path(SHARED_2WIKI).exists()
