"""The sweep plot (bench/sweep.py): its zoom panel holds every learned point and the heuristic,
and coinciding points share one label."""

from __future__ import annotations

from explorer.plots import label_spots, plot_sweep, sweep_zoom


def _point(policy: str, value: str, tokens: float, f1: float, spread: float = 0.0) -> dict:
    return {"policy": policy, "value": value, "avg_tokens_read": {"mean": tokens, "std": 4.0 * spread},
            "f1": {"mean": f1, "std": spread}}  # fmt: skip


def _baselines(heuristic_tokens: float, heuristic_f1: float) -> dict:
    return {
        "heuristic": {"f1": heuristic_f1, "em": 0.5, "avg_tokens_read": heuristic_tokens},
        "read_all": {"f1": 0.735, "em": 0.6, "avg_tokens_read": 916.7},
    }


def test_zoom_holds_the_learned_points_with_their_spread_and_the_heuristic_but_not_read_all():
    doc = {"split": "dev", "key": "reward.cost_coef", "baselines": _baselines(150.0, 0.647),
           "points": [_point("sft", "0.5", 104.0, 0.493, 0.005), _point("grpo", "0.5", 203.6, 0.705, 0.008)]}  # fmt: skip
    (x0, x1), (y0, y1) = sweep_zoom(doc)
    assert x0 < 104.0 - 0.02 and x1 > 203.6 + 0.032 and y0 < 0.493 - 0.005 and y1 > 0.705 + 0.008
    assert x1 < 916.7  # read-all, ten times further out, stays in the full panel only


def test_zoom_reads_per_value_baselines_when_runs_differ():
    doc = {"split": "dev", "key": "data.max_chunk_tokens", "baselines": {"48": _baselines(150.0, 0.647), "128": _baselines(251.0, 0.704)},
           "points": [_point("grpo", "48", 203.6, 0.705), _point("grpo", "128", 216.0, 0.638)]}  # fmt: skip
    (x0, x1), (y0, y1) = sweep_zoom(doc)
    assert x0 < 150.0 and x1 > 251.0 and y0 < 0.638 and y1 > 0.705


def test_coinciding_points_share_a_label():
    pts = [_point("sft", v, 104.1, 0.4931) for v in ("0.25", "0.5", "1.0")] + [_point("sft", "2.0", 120.0, 0.51)]
    assert list(label_spots(pts).values()) == [["0.25", "0.5", "1.0"], ["2.0"]]


def test_plot_sweep_writes_a_png(tmp_path):
    doc = {"split": "dev", "key": "reward.cost_coef", "baselines": _baselines(150.0, 0.647),
           "points": [_point("sft", "0.5", 104.0, 0.493), _point("grpo", "0.5", 203.6, 0.705, 0.008)]}  # fmt: skip
    out = plot_sweep(doc, tmp_path / "plots" / "sweep.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and not list(out.parent.glob("*.tmp.png"))
