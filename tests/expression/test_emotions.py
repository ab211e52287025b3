"""AU edit specs, the emotion → AU prototype table and AU deltas on blendshapes (no data, fast)."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.errors import InputError
from facexpr.expression import action_units, emotions as em
from facexpr.expression.action_units import AU_TABLE, AUS
from facexpr.expression.blendshapes import INDEX, NAMES

K = {au: i for i, au in enumerate(AUS)}


@pytest.mark.parametrize("spec,au,delta", [
    ("AU12=+0.8", 12, 0.8), ("AU4=-0.5", 4, -0.5), ("au26=0.3", 26, 0.3), ("12=1", 12, 1.0),
    (" AU45 = -1 ", 45, -1.0), ("AU1=.25", 1, 0.25), ("AU2=0", 2, 0.0),
])
def test_parse_au_spec(spec, au, delta):
    pos, d = em.parse_au_spec(spec)
    assert AUS[pos] == au and d == pytest.approx(delta)


@pytest.mark.parametrize("spec,exc,needle", [
    ("AU11=+0.5", em.UnknownActionUnit, "AU11 is not supported"),
    ("L1=+0.5", em.UnknownActionUnit, "no left/right halves"),
    ("AU99=0.1", em.UnknownActionUnit, "AU1, AU2, AU4"),
    ("AU12", em.MalformedAUSpec, "AU<number>=<change>"),
    ("AU12=abc", em.MalformedAUSpec, "AU<number>=<change>"),
    ("AU12=+", em.MalformedAUSpec, "AU<number>=<change>"),
    ("smile=0.5", em.MalformedAUSpec, "not an action unit"),
    ("", em.MalformedAUSpec, "AU<number>=<change>"),
    ("AU12=1.5", em.AUDeltaOutOfRange, "outside [-1, +1]"),
    ("AU4=-2", em.AUDeltaOutOfRange, "AU4"),
])
def test_parse_errors_are_input_errors_with_one_line(spec, exc, needle):
    with pytest.raises(exc) as e:
        em.parse_au_spec(spec)
    assert isinstance(e.value, InputError) and e.value.exit_code == 2
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_unknown_au_lists_the_supported_ones():
    with pytest.raises(em.UnknownActionUnit) as e:
        em.au_index("AU11")
    assert "R12" in str(e.value)
    for au in AUS:
        assert f"AU{au}" in str(e.value)


def test_au_deltas_forms_and_duplicates():
    want = np.zeros(len(em.UNITS))
    want[K[12]], want[K[4]] = 0.8, -0.5
    for aus in (["AU12=+0.8", "AU4=-0.5"], {"AU12": 0.8, 4: -0.5}, {12: 0.8, "au4": -0.5}):
        np.testing.assert_allclose(em.au_deltas(aus), want)
    one = em.au_deltas("AU12=0.8")
    assert one[K[12]] == 0.8 and np.count_nonzero(one) == 1
    assert not em.au_deltas(None).any() and not em.au_deltas([]).any()
    with pytest.raises(em.MalformedAUSpec, match="more than once"):
        em.au_deltas(["AU12=0.2", "au12=0.3"])
    with pytest.raises(em.AUDeltaOutOfRange):
        em.au_deltas({"AU12": float("nan")})
    with pytest.raises(em.UnknownActionUnit):
        em.au_deltas({11: 0.2})


def test_emotion_table_uses_only_supported_aus_and_documents_substitutions():
    assert set(em.EMOTIONS) == {"happy", "sad", "angry", "fear", "disgust", "surprise", "contempt"}
    for name, proto in em.EMOTIONS.items():
        assert proto and set(proto) <= set(em.UNITS), name
        assert all(0 < v <= 1 for v in proto.values()), name
    # the EMFACS table (fear: EMFACS's "1+2+4+5+20+25" variant, documented in the module)
    assert em.EMOTIONS["happy"].keys() == {6, 12}
    assert em.EMOTIONS["sad"].keys() == {1, 4, 15}
    assert em.EMOTIONS["angry"].keys() >= {4, 5, 7, 23}
    assert em.EMOTIONS["fear"].keys() == {1, 2, 4, 5, 20, 25}
    assert em.EMOTIONS["disgust"].keys() >= {9, 15, 16}
    assert em.EMOTIONS["surprise"].keys() == {1, 2, 5, 26} and em.EMOTIONS["surprise"][5] == 0.4  # 5B
    assert em.EMOTIONS["contempt"].keys() == {"R12", "R14"}  # unilateral
    doc = em.__doc__
    assert "EMFACS" in doc and "Friesen" in doc and "R12A" in doc
    for name in em.EMOTIONS:
        assert f"| {name}" in doc


def test_emotion_delta_adds_only_what_is_missing():
    cur = np.zeros(len(em.UNITS))
    cur[K[12]] = 0.5   # already half a smile
    cur[K[6]] = 0.9    # more cheek raise than the prototype
    cur[K[4]] = 0.3    # not part of "happy": untouched
    d = em.emotion_delta("happy", 1.0, cur)
    assert d[K[12]] == pytest.approx(0.3) and d[K[6]] == 0.0
    assert np.count_nonzero(d) == 1
    np.testing.assert_allclose(em.emotion_delta("Happy", 1.5, cur), 1.5 * d)
    assert not em.emotion_delta("happy", 0.0, cur).any()
    with pytest.raises(em.UnknownEmotion) as e:
        em.emotion_delta("boredom", 1.0, cur)
    assert "happy" in str(e.value) and "surprise" in str(e.value)
    for bad in (-0.1, 1.6, float("nan")):
        with pytest.raises(em.IntensityOutOfRange, match="between 0 and 1.5"):
            em.emotion_delta("sad", bad, cur)


def test_edit_delta_adds_au_and_emotion_and_scales_by_intensity():
    cur = np.zeros(len(em.UNITS))
    d = em.edit_delta(cur, ["AU12=+0.2", "AU4=-0.5"], "happy", 0.5)
    assert d[K[12]] == pytest.approx(0.5 * (0.2 + 0.8))
    assert d[K[6]] == pytest.approx(0.5 * 0.6) and d[K[4]] == pytest.approx(-0.25)
    assert not em.edit_delta(cur, ["AU12=+0.2"], "happy", 0.0).any()
    assert not em.edit_delta(cur).any()


def test_desired_aus_clip():
    cur = np.full(len(AUS), 0.5)
    d = np.zeros(len(AUS))
    d[0], d[1] = 0.8, -0.8
    want = em.desired_aus(cur, d)
    assert want[0] == 1.0 and want[1] == 0.0 and want[2] == 0.5


def test_edited_blendshapes_change_each_au_by_its_delta():
    rng = np.random.default_rng(0)
    bs = rng.uniform(0.0, 0.3, len(NAMES))
    W = action_units.au_matrix()
    for au in AUS:
        if au in (25, 26):
            continue  # share jawOpen, checked below
        d = np.zeros(len(AUS))
        d[K[au]] = 0.4
        after = em.edited_blendshapes(bs, d)
        change = action_units.estimate(after) - action_units.estimate(bs)
        assert change[K[au]] == pytest.approx(0.4), au
        sharing = (W @ (W[K[au]] > 0)) > 0  # AUs built on the same blendshapes (e.g. 23 and 24)
        others = change[~sharing]
        assert np.abs(others).max() < 1e-9, au  # no other AU moves
        moved = {NAMES[i] for i in np.flatnonzero(after != bs)}
        assert moved == {n for n, _ in AU_TABLE[au]}, au
    d = np.zeros(len(AUS))
    d[K[26]], d[K[25]] = 0.2, 0.1
    after = em.edited_blendshapes(bs, d)
    assert after[INDEX["jawOpen"]] == pytest.approx(bs[INDEX["jawOpen"]] + 0.3)  # shared: both add
    d[:] = 0
    d[K[12]] = -1.0
    assert em.edited_blendshapes(bs, d)[INDEX["mouthSmileLeft"]] == 0.0  # clipped at 0
    with pytest.raises(ValueError):
        em.edited_blendshapes(bs[:10], d)


def test_au_region_mask():
    mouth = em.au_region_mask(("mouth",))
    brows = em.au_region_mask(("brows",))
    eyes = em.au_region_mask(("eyes",))
    assert brows[K[1]] == brows[K[2]] == brows[K[4]] == 1 and brows.sum() == 3
    assert eyes[K[5]] == eyes[K[7]] == eyes[K[45]] == 1
    assert mouth[K[12]] == mouth[K[26]] == mouth[K[6]] == 1  # cheeks belong to the mouth region
    np.testing.assert_array_equal(mouth + brows + eyes, np.ones(len(AUS)))  # a partition


def test_one_sided_units_move_one_side_only():
    bs = np.zeros(len(NAMES))
    pos = em.au_index("R12")
    assert em.unit_name(pos) == "R12" and em.au_index("au r12") == pos
    d = np.zeros(len(em.UNITS))
    d[pos] = 0.6
    after = em.edited_blendshapes(bs, d)
    assert after[INDEX["mouthSmileRight"]] == pytest.approx(0.6) and after[INDEX["mouthSmileLeft"]] == 0.0
    units = em.current_units(after)
    assert units[K[12]] == pytest.approx(0.3)        # the bilateral AU moves by half
    assert units[em.au_index("R12")] == pytest.approx(0.6) and units[em.au_index("L12")] == 0.0
    p = em.emotion_prototype("contempt")
    assert p[em.au_index("R12")] > 0 and p[em.au_index("L12")] == 0 and p[K[12]] == 0
