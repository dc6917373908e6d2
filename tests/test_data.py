from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import hub_record, raw_record, write_jsonl

from explorer import tokens
from explorer.config import DataConfig, Params
from explorer.data.records import DataError, DataSourceError, load_hub_records, parse_record, read_records
from explorer.data.sources import build_splits, load_source, resolve_source
from explorer.data.tasks import make_task, make_tasks, read_tasks, task_from_dict, task_to_dict
from explorer.stages.prepare import prepare


def test_raw_and_hub_layouts_give_the_same_task(tmp_path):
    raw = raw_record()
    recs_raw, _ = read_records(write_jsonl(tmp_path / "raw.jsonl", [raw]))
    recs_hub, _ = read_records(write_jsonl(tmp_path / "hub.jsonl", [hub_record(raw)]))
    t_raw, _ = make_task(recs_raw[0], DataConfig())
    t_hub, _ = make_task(recs_hub[0], DataConfig())
    assert replace(t_raw, evidences=()) == t_hub  # the hub layout carries no evidences
    assert t_raw.answer == "Graz" and t_raw.type == "compositional"
    assert [c.title for c in t_raw.chunks] == ["Red Hill", "Blue Lake", "Max Huber", "Ann Lee"]
    assert t_raw.gold_chunk_ids == (1, 2)
    assert t_raw.evidences[0] == ("Blue Lake", "director", "Max Huber")


def test_hub_golden_answers_beyond_the_first_are_aliases(tmp_path):
    hub = hub_record(raw_record()) | {"golden_answers": ["Graz", "Graz, Austria", "Graz", " "]}
    recs, _ = read_records(write_jsonl(tmp_path / "hub.jsonl", [hub]))
    t, _ = make_task(recs[0], DataConfig())
    assert t.answer == "Graz" and t.answer_aliases == ("Graz, Austria",)  # deduplicated, blanks dropped
    assert task_from_dict(json.loads(json.dumps(task_to_dict(t)))) == t  # survives the prepared file
    plain, _ = make_task(read_records(write_jsonl(tmp_path / "raw.jsonl", [raw_record()]))[0][0], DataConfig())
    assert "answer_aliases" not in task_to_dict(plain)  # raw-layout tasks serialise as before


def test_chunks_carry_exact_token_counts_and_previews(task):
    for c in task.chunks:
        assert c.n_tokens == tokens.count(c.text)
        assert c.text.startswith(c.preview) and tokens.count(c.preview) <= DataConfig().preview_tokens


def test_long_paragraphs_split_at_sentence_boundaries():
    sents = [f"Sentence number {i} talks about the Blue Lake film and its director." for i in range(12)]
    rec = parse_record(raw_record(context=[["Blue Lake", sents], ["Max Huber", ["Max Huber was born in Graz."]]],
                                  supporting_facts=[["Blue Lake", 7], ["Max Huber", 0]]), "f", 1)  # fmt: skip
    cfg = DataConfig(max_chunk_tokens=40)
    task, _ = make_task(rec, cfg)
    lake = [c for c in task.chunks if c.title == "Blue Lake"]
    assert len(lake) > 1
    assert all(c.n_tokens <= 40 for c in lake)
    assert " ".join(c.text for c in lake) == " ".join(sents)  # nothing lost, nothing cut mid-sentence
    assert sum(c.n_sentences for c in lake) == 12
    gold_lake = [i for i in task.gold_chunk_ids if task.chunks[i].title == "Blue Lake"]
    (g,) = gold_lake  # only the chunk holding sentence 7 is gold
    c = task.chunks[g]
    assert c.first_sentence <= 7 < c.first_sentence + c.n_sentences


def test_a_single_overlong_sentence_stays_whole():
    long = "word " * 200
    rec = parse_record(raw_record(context=[["Blue Lake", [long.strip(), "Short."]], ["Max Huber", ["Born in Graz."]]],
                                  supporting_facts=[["Blue Lake", 0], ["Max Huber", 0]]), "f", 1)  # fmt: skip
    task, _ = make_task(rec, DataConfig(max_chunk_tokens=32))
    assert task.chunks[0].text == long.strip() and task.chunks[0].n_tokens > 32
    assert task.chunks[1].text == "Short."


@pytest.mark.parametrize(
    "line, field",
    [
        ("{not json", "<json>"),
        (json.dumps({k: v for k, v in raw_record().items() if k != "question"}), "question"),
        (json.dumps(raw_record(answer=5)), "answer"),
        (json.dumps(raw_record(context=[["T", "not a list"]])), "context[0]"),
        (json.dumps(raw_record(supporting_facts=[["Nowhere", 0]])), "supporting_facts[0]"),
        (json.dumps(raw_record(supporting_facts=[["Blue Lake"]])), "supporting_facts[0]"),
        ("[1, 2]", "<record>"),
    ],
)
def test_bad_input_names_file_line_and_field(tmp_path, line, field):
    path = write_jsonl(tmp_path / "bad.jsonl", [raw_record(_id="ok1"), line, raw_record(_id="ok3")])
    with pytest.raises(DataError) as e:
        read_records(path, on_error="stop")
    assert e.value.file == str(path) and e.value.line == 2 and e.value.field == field
    assert f"{path}:2: field '{field}'" in str(e.value)
    records, report = read_records(path, on_error="skip")
    assert [r.id for r in records] == ["ok1", "ok3"]
    assert len(report.skipped) == 1 and f"{path}:2" in report.skipped[0]


def test_supporting_fact_past_paragraph_end_warns_and_clamps(tmp_path):
    path = write_jsonl(tmp_path / "q.jsonl", [raw_record(supporting_facts=[["Blue Lake", 5], ["Max Huber", 0]])])
    records, _ = read_records(path)
    task, warnings = make_task(records[0], DataConfig())
    assert task.gold_chunk_ids == (1, 2)
    assert len(warnings) == 1
    assert f"{path}:1: field 'supporting_facts[0]'" in warnings[0] and "past the end" in warnings[0]


def test_prepared_tasks_round_trip(tmp_path, task):
    assert task_from_dict(json.loads(json.dumps(task_to_dict(task)))) == task


def _write_source(folder: Path, n_train: int, n_dev: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "train.jsonl", [raw_record(_id=f"t{i}") for i in range(n_train)])
    write_jsonl(folder / "dev.jsonl", [raw_record(_id=f"d{i}") for i in range(n_dev)])
    return folder


def test_splits_hold_val_out_of_train_and_cap_loudly():
    recs = [parse_record(raw_record(_id=f"t{i}"), "f", i + 1) for i in range(10)]
    dev = [parse_record(raw_record(_id=f"d{i}"), "f", i + 1) for i in range(4)]
    splits, notes = build_splits(recs, dev, DataConfig(train_size=50, val_size=3, dev_size=2))
    assert len(splits["val"]) == 3 and len(splits["train"]) == 7 and len(splits["dev"]) == 2
    assert not {r.id for r in splits["val"]} & {r.id for r in splits["train"]}
    assert any("train_size=50" in n and "using 7" in n for n in notes)
    again, _ = build_splits(recs, dev, DataConfig(train_size=50, val_size=3, dev_size=2))
    assert again == splits  # seeded
    with pytest.raises(ValueError, match="val_size"):
        build_splits(recs, dev, DataConfig(val_size=10))


def test_resolve_source_order(tmp_path, monkeypatch):
    cfg = DataConfig()
    assert resolve_source(DataConfig(source="hub:org/name")).location == "org/name"
    assert resolve_source(DataConfig(source="local:/x")).location == "/x"
    src = resolve_source(cfg, {"EXPLORER_2WIKI_DIR": "/data/2wiki"})
    assert (src.kind, src.location) == ("local", "/data/2wiki") and "EXPLORER_2WIKI_DIR" in src.why
    monkeypatch.chdir(tmp_path)  # no ../shared/data/2wiki from here
    src = resolve_source(cfg, {})
    assert (src.kind, src.location) == ("hub", cfg.hub_id) and "no" in src.why
    with pytest.raises(ValueError, match="data.source"):
        resolve_source(DataConfig(source="s3://x"), {})


def test_relative_local_source_resolves_against_project_root(tmp_path, monkeypatch):
    # `dvc exp run --temp` runs in <repo>/.dvc/tmp/exps/<tmp>; a relative data folder must still
    # mean the one beside the real repo, not a missing one inside the throwaway copy, and the
    # manifest must say the same as in the workspace (DVC's run cache can restore it there).
    repo = tmp_path / "repo"
    exp_copy = repo / ".dvc" / "tmp" / "exps" / "tmpabc"
    exp_copy.mkdir(parents=True)
    _write_source(tmp_path / "shared" / "data" / "2wiki", 4, 2)
    monkeypatch.delenv("EXPLORER_PROJECT_ROOT", raising=False)
    for cwd in (exp_copy, repo):
        monkeypatch.chdir(cwd)
        for src in (
            resolve_source(DataConfig(source="local:../shared/data/2wiki"), {}),
            resolve_source(DataConfig(), {"EXPLORER_2WIKI_DIR": "../shared/data/2wiki"}),
            resolve_source(DataConfig(), {}),  # auto finds ../shared/data/2wiki beside the repo
        ):
            assert (src.kind, src.location) == ("local", "../shared/data/2wiki"), cwd
            train, train_report, dev, _ = load_source(src, DataConfig())
            assert [r.id for r in train] == ["t0", "t1", "t2", "t3"] and len(dev) == 2, cwd
            assert train_report.source == "../shared/data/2wiki/train.jsonl", cwd  # the manifest's name for it


def test_prepare_writes_splits_and_manifest(tmp_path, monkeypatch):
    src = _write_source(tmp_path / "src", 12, 5)
    out = tmp_path / "out"
    params = Params(data=DataConfig(source=f"local:{src}", val_size=2, train_size=100, out_dir=str(out)))
    manifest = prepare(params.data)
    assert {p.name for p in out.iterdir()} == {"train.jsonl", "val.jsonl", "dev.jsonl", "manifest.json"}
    assert manifest["splits"]["train"]["tasks"] == 10 and manifest["splits"]["dev"]["tasks"] == 5
    assert manifest["source"] == {"kind": "local", "location": str(src), "why": "data.source names a local folder"}
    assert manifest["inputs"]["train"]["records"] == 12 and len(manifest["inputs"]["dev"]["sha256"]) == 64
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert len(read_tasks(out / "val.jsonl")) == 2


def test_prepare_stops_on_bad_input_without_touching_outputs(tmp_path):
    src = _write_source(tmp_path / "src", 6, 3)
    out = tmp_path / "out"
    params = Params(data=DataConfig(source=f"local:{src}", val_size=2, out_dir=str(out)))
    prepare(params.data)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with (src / "dev.jsonl").open("a") as f:
        f.write('{"_id": "broken"\n')
    with pytest.raises(DataError, match=r"dev.jsonl:4: field '<json>'"):
        prepare(params.data)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # old outputs intact, no temp files
    manifest = prepare(replace(params.data, on_error="skip"))
    assert manifest["splits"]["dev"]["tasks"] == 3 and len(manifest["inputs"]["dev"]["skipped"]) == 1


def test_hub_loader_path_runs_through_datasets(tmp_path):
    # The hub path calls datasets.load_dataset(hub_id, split=...). Here the builder is "json" on a
    # local file in the hub layout, so the same code runs with no network.

    path = write_jsonl(tmp_path / "hub.jsonl", [hub_record(raw_record(_id=f"h{i}")) for i in range(3)])
    records, report = load_hub_records("json", "train", data_files=str(path), cache_dir=str(tmp_path / "cache"))
    assert [r.id for r in records] == ["h0", "h1", "h2"]
    assert report.source == "hub:json[train]" and report.records == 3 and len(report.sha256) == 64
    assert make_tasks(records, DataConfig())[0][0].gold_chunk_ids == (1, 2)


# ----------------------------------------------------------------------------- real files


@pytest.mark.real_data
def test_real_files_load_in_both_layouts(shared_2wiki):
    train, _ = read_records(shared_2wiki / "train.jsonl")
    dev, _ = read_records(shared_2wiki / "dev.jsonl")
    flash, _ = read_records(shared_2wiki / "dev200_flashrag_layout.jsonl")
    assert (len(train), len(dev), len(flash)) == (600, 250, 200)
    tasks, warnings = make_tasks(dev, DataConfig())
    assert all(len({c.paragraph for c in t.chunks}) == 10 for t in tasks)
    assert all(t.gold_chunk_ids for t in tasks)
    # the one real dev record whose supporting fact points past its paragraph
    assert len(warnings) == 1 and "77f5a3dc0bb011ebab90acde48001122" in warnings[0]
    assert "dev.jsonl:120: field 'supporting_facts[0]'" in warnings[0]
    ftasks, _ = make_tasks(flash, DataConfig())
    assert {t.type for t in ftasks} <= {"compositional", "comparison", "inference", "bridge_comparison"}


def test_an_unreachable_hub_source_is_a_clear_error(tmp_path):

    with pytest.raises(DataSourceError, match=r"could not load 2Wiki records from the dataset hub \('json', split 'train'\).*local:PATH"):
        load_hub_records("json", "train", data_files=str(tmp_path / "missing.jsonl"), cache_dir=str(tmp_path / "c"))
