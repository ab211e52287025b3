"""``facexpr evaluate --task edit`` on the smallest run that exercises every part: one unseen London
target, one AU, three requested changes, every emotion, the ``warp`` method (no trained weights)."""
from __future__ import annotations

import json
import subprocess

import pytest

from facexpr.evaluate import edit as bench
from facexpr.expression.emotions import EMOTIONS

from _support import facexpr_cmd


def test_edit_task_smallest_run(london, tmp_path):
    out = tmp_path / "rep"
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n" + bench.SECTION + "\n\nold numbers\n\n## Other benchmarks\n\nkept\n")
    p = subprocess.run(facexpr_cmd() + ["evaluate", "--task", "edit", "--method", "warp", "--n", "1", "--aus", "AU12",
                                        "--deltas", "0,0.5,1", "--data", str(london.parent), "--out", str(out),
                                        "--results-md", str(results), "--judges", "expression,emotion,identity"],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stderr
    assert "| AU12 | lip corner puller |" in p.stdout and "ρ" in p.stdout
    rep = json.loads((out / "edit.json").read_text())[0]
    assert rep["method"] == "warp" and len(rep["targets"]) == 1 and rep["aus"] == [12]
    assert rep["command"].startswith("facexpr evaluate --task edit")
    # every emotion of the table, read at run time, scored by face-api; the outputs in a contact sheet
    assert rep["emotions"] == list(EMOTIONS) and len(rep["emotion_records"]) == len(EMOTIONS)
    rows = {r["emotion"]: r for r in rep["per_emotion"]}
    assert rows["surprise"]["judge_class"] == "surprised" and rows["angry"]["judge_class"] == "angry"
    judged = [r for r in rows.values() if r["judge_class"] is not None]  # face-api has no contempt
    assert len(judged) >= 6 and all(r["accuracy"] in (0.0, 1.0) and r["input_rate"] in (0.0, 1.0) for r in judged)
    assert any(r["accuracy"] == 1.0 for r in rows.values())  # at least one edit reads as its emotion
    assert all(r["identity_kept"] == 1.0 for r in rows.values())  # dlib: still the same person
    assert (out / "edit_sheet_warp.png").stat().st_size > 1000 and "edit_sheet_warp.png" in (out / "edit.md").read_text()
    text = results.read_text()  # the section replaced in place, the rest kept
    assert "old numbers" not in text and "| AU12 |" in text and text.endswith("## Other benchmarks\n\nkept\n")
    assert (tmp_path / "results" / "au_edit.md").read_text().startswith(bench.SECTION)

    assert rep["deltas"] == [0.0, 0.5, 1.0] and len(rep["records"]) == 3
    row = rep["per_au"][0]
    assert row["n"] == 3 and row["faces_lost"] == 0
    assert row["spearman"] == pytest.approx(1.0)           # more asked, more measured
    assert row["measured_at_max"] > 0.4 and row["achievable_at_max"] > 0.9
    assert 0 <= row["leakage_at_max"] < 0.15  # the paired reading fits every shape: a smile also reads some cheek motion
    zero = rep["records"][0]
    assert zero["requested"] == 0 and zero["measured"] == 0  # Δ = 0 is the input itself
    assert rep["zero_check"][0]["pipeline_intensity0_max_abs"] == 0
    assert rep["median_ms_per_edit"] > 0 and rep["model_ms"] is None  # warp has no generator
    assert row["identity_kept"] == 1.0 and 0 <= row["identity_distance"] < 0.6


def test_edit_task_refuses_a_method_that_cannot_edit(tmp_path):
    p = subprocess.run(facexpr_cmd() + ["evaluate", "--task", "edit", "--method", "landmark-fusion", "--out",
                                        str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "cannot edit" in p.stderr, p.stderr


def test_summarise_and_markdown_without_data():
    recs = [{"id": "x", "au": 4, "requested": d, "current": 0.1, "achievable": min(d, 0.9),
             "measured": m, "leakage": 0.01} for d, m in ((0.0, 0.0), (0.5, 0.1), (1.0, 0.3))]
    recs[-1]["identity_distance"] = 0.7
    rows = bench.summarise(recs, [4], 1.0)
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[0]["identity_kept"] == 0.0
    assert rows[0]["measured_at_max"] == pytest.approx(0.3) and rows[0]["achievable_at_max"] == pytest.approx(0.9)
    rep = {"method": "m", "targets": ["x"], "deltas": [0.0, 0.5, 1.0], "per_au": rows, "zero_check": [],
           "per_emotion": bench.summarise_emotions([
               {"emotion": "angry", "input_read": "neutral", "output_read": "angry", "identity_distance": 0.3},
               {"emotion": "contempt", "input_read": "neutral", "output_read": "happy", "identity_distance": 0.7}],
               ["angry", "contempt"]),
           "median_ms_per_edit": None, "model_ms": {"128": 1.5, "256": "n/a (KeyError)"}}
    md = bench.markdown(rep)
    assert "| AU4 | brow lowerer | 1.00 | 0.90 | +0.30 |" in md and "128 px 1.5 ms" in md
    # an emotion face-api has no class for (contempt) gets no accuracy, never a wrong one
    assert "| angry | angry | 100% | 0% | 100% |" in md and "| contempt | (none) | – |" in md
    assert bench._f(None) == "–" and bench._f(float("nan")) == "–"
    rep2 = {**rep, "method": "n", "per_au": [{**rows[0], "spearman": 0.2}], "machine": {"cpu": "c", "cores": 2},
            "zero_check": [{"pipeline_intensity0_max_abs": 0}]}
    table = bench.side_by_side([{**rep, "machine": {"cpu": "c", "cores": 2}}, rep2])
    assert "| AU4 | brow lowerer | 0.90 | 1.00 | +0.30 | 0.010 | 0.20 | +0.30 | 0.010 |" in table
    assert "| m | 1 / 1 |" in table and "| n | 0 / 1 |" in table
