"""``benchmarks/au_edit.py`` on the smallest run that exercises every part: one unseen London
target, one AU, three requested changes, the ``warp`` method (no trained weights needed)."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "au_edit.py"


def _load():
    spec = importlib.util.spec_from_file_location("au_edit_benchmark", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _identity_available() -> bool:
    try:
        from facexpr.faces.identity import _models

        _models()
        return True
    except Exception:
        return False


def test_au_edit_benchmark_smallest_run(london, tmp_path, capsys):
    bench = _load()
    out = tmp_path / "r.json"
    args = ["--method", "warp", "--n", "1", "--aus", "AU12", "--deltas", "0,0.5,1", "--out", str(out),
            "--data", str(london.parent)]
    identity = _identity_available()
    if not identity:
        args.append("--no-identity")
    assert bench.main(args) == 0
    table = capsys.readouterr().out
    assert "| AU12 | lip corner puller |" in table and "Spearman" in table and "ms" in table
    rep = json.loads(out.read_text())
    assert rep["method"] == "warp" and len(rep["targets"]) == 1 and rep["aus"] == [12]
    assert rep["deltas"] == [0.0, 0.5, 1.0] and len(rep["records"]) == 3
    row = rep["per_au"][0]
    assert row["n"] == 3 and row["faces_lost"] == 0
    assert row["spearman"] == pytest.approx(1.0)           # more asked, more measured
    assert row["measured_at_max"] > 0.4 and row["achievable_at_max"] > 0.9
    assert 0 <= row["leakage_at_max"] < 0.1
    zero = rep["records"][0]
    assert zero["requested"] == 0 and zero["measured"] == 0  # Δ = 0 is the input itself
    assert rep["zero_check"][0]["pipeline_intensity0_max_abs"] == 0
    assert rep["median_ms_per_edit"] > 0 and rep["model_ms"] is None  # warp has no generator
    if identity:
        assert row["identity_kept"] == 1.0 and 0 <= row["identity_distance"] < 0.6


def test_summarise_and_markdown_without_data():
    bench = _load()
    recs = [{"id": "x", "au": 4, "requested": d, "current": 0.1, "achievable": min(d, 0.9),
             "measured": m, "leakage": 0.01} for d, m in ((0.0, 0.0), (0.5, 0.1), (1.0, 0.3))]
    recs[-1]["identity_distance"] = 0.7
    rows = bench.summarise(recs, [4], 1.0)
    assert rows[0]["spearman"] == pytest.approx(1.0) and rows[0]["identity_kept"] == 0.0
    assert rows[0]["measured_at_max"] == pytest.approx(0.3) and rows[0]["achievable_at_max"] == pytest.approx(0.9)
    rep = {"method": "m", "targets": ["x"], "deltas": [0.0, 0.5, 1.0], "per_au": rows, "zero_check": [],
           "median_ms_per_edit": None, "model_ms": {"128": 1.5, "256": "n/a (KeyError)"}}
    md = bench.markdown(rep)
    assert "| AU4 | brow lowerer | 1.00 | 0.90 | +0.30 |" in md and "128 px 1.5 ms" in md
    assert bench._f(None) == "–" and bench._f(float("nan")) == "–"
    rep2 = {**rep, "method": "n", "per_au": [{**rows[0], "spearman": 0.2}], "machine": {"cpu": "c", "cores": 2},
            "zero_check": [{"pipeline_intensity0_max_abs": 0}]}
    table = bench.side_by_side([{**rep, "machine": {"cpu": "c", "cores": 2}}, rep2])
    assert "| AU4 | brow lowerer | 0.90 | 1.00 | +0.30 | 0.010 | 0.20 | +0.30 | 0.010 |" in table
    assert "| m | 1 / 1 |" in table and "| n | 0 / 1 |" in table
