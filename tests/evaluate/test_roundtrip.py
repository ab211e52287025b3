"""The roundtrip benchmark's pairs (edited unseen sources, known labels, the source's neutral
given) and ``--source-neutral`` reaching the method."""
from __future__ import annotations

import numpy as np

from facexpr.datasets import london as london_ds
from facexpr.evaluate import roundtrip, runner
from facexpr.evaluate.benchmarks import benchmark_pairs
from facexpr.io import load_image


def test_roundtrip_pairs_are_edited_labelled_and_seeded(shared_data, tmp_path):
    pairs = roundtrip.roundtrip_pairs(shared_data, tmp_path / "a", seed=0, n=2)
    assert len(pairs) == 2 * len(roundtrip.EMOTIONS)
    unseen = {p.id for p in london_ds.split(shared_data / "london", "unseen")}
    for p in pairs:
        person, emo, target = p.id.split("-")
        assert person in unseen and target in unseen and target != person      # another unseen person
        assert p.label == ("surprised" if emo == "surprise" else "fearful" if emo == "fear"
                           else "disgusted" if emo == "disgust" else emo)
        assert p.source_neutral is not None and person in str(p.source_neutral) and p.unseen
        if emo == "neutral":
            assert str(p.source) == str(p.source_neutral)                      # the photo itself
        else:                                                                   # an edit that changed it
            edited, neutral = load_image(p.source), load_image(p.source_neutral)
            assert edited.shape == neutral.shape
            assert np.abs(edited.astype(int) - neutral).mean() > 0.3
    again = roundtrip.roundtrip_pairs(shared_data, tmp_path / "b", seed=0, n=2)
    assert [p.id for p in again] == [p.id for p in pairs]
    assert [p.id for p in roundtrip.roundtrip_pairs(shared_data, tmp_path / "c", seed=1, n=2)] != [p.id for p in pairs]
    # the benchmark's default n draws the first people's targets the same way
    assert [p.id for p in benchmark_pairs("roundtrip", shared_data, 0, work=tmp_path / "d")][:len(pairs)] \
        == [p.id for p in pairs]


def test_source_neutral_reaches_the_method(shared_data, tmp_path):
    spec = runner.resolve_methods("warp", source_neutral=True)[0]
    assert spec.neutral and spec.name == "warp +neutral"
    pairs = [p for p in roundtrip.roundtrip_pairs(shared_data, tmp_path, n=1) if p.expression in ("neutral", "sad")]
    seen = []

    def recording(source, target, source_neutral=None):
        seen.append(source_neutral)
        return load_image(target), {"render": 0.0}

    runner.evaluate_pairs(pairs, [runner.MethodSpec("rec", recording, neutral=True)], runner.Judges(("expression",)))
    assert [str(s) for s in seen] == [str(p.source_neutral) for p in pairs]


def test_cli_roundtrip_with_source_neutral(app, shared_data, tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    monkeypatch.setenv("FACEXPR_DATA", str(shared_data))
    out = tmp_path / "rt"
    r = CliRunner().invoke(app, ["evaluate", "--benchmark", "roundtrip", "--source-neutral", "--limit", "2",
                                 "--judges", "emotion", "--quiet", "-o", str(out)])
    assert r.exit_code == 0, (r.output, r.exception)
    rows = json.loads((out / "results.json").read_text())["subsets"]["all"]["rows"]
    assert rows["warp +neutral"]["pairs"] == 2
    assert len(list((out / "sources").glob("*.png"))) == 6 * (len(roundtrip.EMOTIONS) - 1)  # the edited sources
