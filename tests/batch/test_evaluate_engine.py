"""``evaluate`` with its transfers run as a batch job scores exactly what the one-by-one run scores."""
from __future__ import annotations

import math

import pytest

pytestmark = pytest.mark.data


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    return a == b


def test_engine_run_scores_the_same(london, edge, tmp_path):
    from dataclasses import replace

    from facexpr.evaluate import benchmarks, runner

    pairs = benchmarks.subset(benchmarks.london_pairs(london), 3)
    pairs[-1] = replace(pairs[-1], target=edge / "BWPictureHuman.jpg")  # fails alike on both paths: no face
    judges = runner.Judges(("expression",))
    inline = runner.evaluate_pairs(pairs, runner.resolve_methods("warp"), judges)
    batched = runner.evaluate_pairs(pairs, runner.resolve_methods("warp"), judges,
                                    engine=runner.EngineOptions("local", workers=2))
    assert inline.failures == batched.failures and len(batched.failures["warp"]) == 1
    for p in pairs[:2]:
        a, b = inline.per_pair[p.id]["warp"], batched.per_pair[p.id]["warp"]
        assert a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a), (a, b)
    assert batched.method_seconds["warp"] > 0 and set(batched.timings["warp"]) >= {"analyze", "render"}
    assert "save" not in batched.timings["warp"]  # the batch job's own stages are not the method's
