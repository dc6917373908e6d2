from __future__ import annotations

import json

import pytest
from helpers import hub_record, raw_record, write_jsonl

from explorer.cli import main

REQUIRED = {"n", "f1", "em", "answer_rate", "avg_opens", "avg_tokens_read"}


@pytest.fixture
def tracking(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def _raw_file(tmp_path):
    rows = [raw_record(_id="a"), raw_record(_id="b", type="comparison", question="Which film came out first, Blue Lake or Red Hill?", answer="Red Hill",
                                           supporting_facts=[["Blue Lake", 0], ["Red Hill", 0]])]  # fmt: skip
    return write_jsonl(tmp_path / "never_seen.jsonl", rows)


def test_eval_on_a_raw_file_writes_the_contract(tmp_path, tracking, capsys):
    out = tmp_path / "out"
    assert main(["eval", "--policy", "heuristic", "--tasks", str(_raw_file(tmp_path)), "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert REQUIRED <= set(metrics) and metrics["n"] == 2
    assert set(metrics["by_type"]) == {"compositional", "comparison"}
    assert REQUIRED <= set(metrics["by_type"]["comparison"])
    preds = json.loads((out / "predictions.json").read_text())
    assert preds == {"a": "Graz", "b": "Red Hill"}
    assert metrics["f1"] == 1.0
    lines = (out / "episodes.jsonl").read_text().splitlines()
    assert [json.loads(ln)["task_id"] for ln in lines] == ["a", "b"]
    assert "eval heuristic on" in capsys.readouterr().out

    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking)
    (run,) = client.search_runs([client.get_experiment_by_name("tinker-explorer").experiment_id])
    assert run.data.params["policy"] == "heuristic" and run.data.metrics["eval/f1"] == 1.0
    assert run.data.metrics["eval/comparison/f1"] == 1.0 and run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id)} == {"metrics.json", "predictions.json", "episodes.jsonl", "viewer.html"}


def test_eval_accepts_the_hub_layout(tmp_path, tracking):
    path = write_jsonl(tmp_path / "hub.jsonl", [hub_record(raw_record(_id="h1"))])
    assert main(["eval", "--policy", "oracle", "--tasks", str(path), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert json.loads((tmp_path / "o" / "predictions.json").read_text()) == {"h1": "Graz"}


def test_episode_viewer_replays_a_trajectory(tmp_path, tracking, capsys):
    out = tmp_path / "out"
    main(["eval", "--policy", "heuristic", "--tasks", str(_raw_file(tmp_path)), "--out", str(out), "--quiet"])
    capsys.readouterr()
    assert main(["episodes", "show", str(out / "episodes.jsonl"), "--id", "a"]) == 0
    text = capsys.readouterr().out
    assert "step 1" in text and "Question: Where was the director of film Blue Lake born?" in text
    assert ">>> OPEN 1" in text and ">>> ANSWER Graz" in text
    # --id also takes the 0-based index of the episode in the file, as `explorer inspect --id` does
    assert main(["episodes", "show", str(out / "episodes.jsonl"), "--id", "1"]) == 0
    assert "on task b " in capsys.readouterr().out
    assert "end: answered" in text and "f1=1" in text and "gold chunks: [1, 2]" in text
    assert "replay metrics differ" not in text


def test_inspect_prints_the_agent_view_and_the_gold(tmp_path, capsys):
    assert main(["inspect", "--id", "a", "--tasks", str(_raw_file(tmp_path))]) == 0
    text = capsys.readouterr().out
    assert "Budget rules:" in text and "2000 of 2000 tokens left" in text
    assert text.index("Question:") < text.index("gold (not shown to the agent)")
    assert "answer: Graz" in text


def test_clear_errors_for_bad_inputs(tmp_path, capsys):
    assert main(["eval", "--policy", "heuristic", "--tasks", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "o")]) == 2
    assert "no such tasks file" in capsys.readouterr().err
    bad = write_jsonl(tmp_path / "bad.jsonl", [raw_record(), "{oops"])
    assert main(["eval", "--policy", "heuristic", "--tasks", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert f"{bad}:2: field '<json>'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["eval", "--policy", "nope", "--tasks", str(_raw_file(tmp_path)), "--out", str(tmp_path / "o")]) == 2
    assert "unknown policy" in capsys.readouterr().err


def test_episode_lines_keep_the_reward_value_and_the_configs_apart(tmp_path, tracking):
    out = tmp_path / "out"
    main(["eval", "--policy", "oracle", "--tasks", str(_raw_file(tmp_path)), "--out", str(out), "--quiet"])
    line = json.loads((out / "episodes.jsonl").read_text().splitlines()[0])
    assert line["reward"] == line["metrics"]["reward"] < 1.0 and line["metrics"]["f1"] == 1.0  # the oracle pays for what it reads
    assert line["reward_config"]["variant"] == "f1_pool_cost" and line["env_config"]["budget"] == 2000


def test_paired_comparison_counts_and_brackets_the_gain():
    from explorer.stats import paired_comparison

    base = {f"q{i}": 0.5 for i in range(100)}
    better = {**base, "q0": 1.0, "q1": 1.0, "q2": 0.0}  # 2 better (+0.5 each), 1 worse (-0.5)
    c = paired_comparison(better, base)
    assert (c["n"], c["better"], c["worse"], c["mean_diff"]) == (100, 2, 1, 0.005)
    assert c["ci95"][0] < 0 < c["ci95"][1]  # 3 changed answers of 100: inside the noise
    clear = paired_comparison({k: 1.0 for k in base}, base)
    assert clear["ci95"] == [0.5, 0.5] and clear["better"] == 100
    with pytest.raises(ValueError, match="same questions"):
        paired_comparison({"a": 1.0}, {"b": 1.0})
