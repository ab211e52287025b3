"""The probes benchmark's pairs: fixed, seeded, every usable source k times, labels mapped."""
from __future__ import annotations

from facexpr.evaluate import probes
from facexpr.evaluate.benchmarks import benchmark_pairs


def test_probes_pairs_are_fixed_and_labelled(shared_data):
    logged = []
    pairs = probes.probes_pairs(shared_data, seed=0, log=logged.append)
    again = probes.probes_pairs(shared_data, seed=0, log=lambda m: None)
    assert [(p.id, str(p.source), str(p.target)) for p in pairs] == [(p.id, str(p.source), str(p.target)) for p in again]
    assert any("group.jpeg" in m for m in logged)                      # no label: left out, and said so
    sources = {p.id.rsplit("-", 1)[0] for p in pairs}
    assert {"angry", "happy-baby", "video000", "video030", "video460"} <= sources and "group" not in sources
    assert len(pairs) == probes.TARGETS_PER_SOURCE * len(sources)
    assert all(p.gt is None and p.unseen for p in pairs)
    labels = {p.id.rsplit("-", 1)[0]: p.label for p in pairs}
    assert labels["surprised"] == "surprised" and labels["video030"] == "sad" and labels["video460"] == "happy"
    frames = {int(str(p.source).rsplit("=", 1)[1]) for p in pairs if "#frame=" in str(p.source)}
    assert frames == set(probes.VIDEO_FRAMES) and not any(60 < f < 250 for f in frames)  # the occluded stretch
    ref = f"#frame={probes.REFERENCE_FRAME}"
    for p in pairs:  # video frames carry the clip's reference (what `animate` drives from); photos none
        video = "#frame=" in str(p.source)
        reference = video and str(p.source).endswith(ref)
        assert (p.source_neutral is not None) == (video and not reference), p.id
        assert p.source_neutral is None or str(p.source_neutral).endswith(ref)
    other = probes.probes_pairs(shared_data, seed=1, log=lambda m: None)
    assert [p.id for p in other] != [p.id for p in pairs]               # the seed decides the targets
    assert [p.id for p in benchmark_pairs("probes", shared_data, 0)] == [p.id for p in pairs]
