"""The prior-driven self-supervised sampler: every kind of change
is drawn, emotions go through the edit table, brows, lids, nose and lip corners move, the AU labels
are the 22 of the fitted code; the legacy sampler and old configs are unchanged."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facexpr.errors import ConfigError
from facexpr.expression import action_units
from facexpr.expression.blendshapes import FITTED, INDEX, NAMES
from facexpr.expression.emotions import current_units, edited_blendshapes, emotion_delta
from facexpr.expression.model import load_default_model
from facexpr.faces.topology import BROW_LEFT, BROW_RIGHT, EYE_LEFT, EYE_RIGHT
from facexpr.train.augment import deform, movable, random_delta
from facexpr.train.config import DataConfig, DeformConfig, load_config
from facexpr.train.data import FaceCache, PairDataset
from facexpr.train.prior_changes import KINDS, emotion_change, prior_delta

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
PRIOR = DeformConfig(sampler="prior")


def test_prior_delta_draws_every_kind_within_range():
    rng = np.random.default_rng(0)
    allowed = set(movable())
    seen = {k: 0 for k in KINDS}
    fitted = [INDEX[n] for n in FITTED]
    touched_fitted = 0
    for i in range(300):
        bs = rng.uniform(0, 0.6, len(NAMES)) * (rng.random(len(NAMES)) < 0.3)
        d, kind = prior_delta(rng, bs, PRIOR, borrow=rng.uniform(0, 1, len(NAMES)))
        seen[kind] += 1
        new = bs + d
        assert new.min() >= -1e-9 and new.max() <= 1 + 1e-9
        assert set(np.flatnonzero(d)) <= allowed, kind  # never gaze or _neutral
        touched_fitted += bool(np.abs(d[fitted]).max() > 0.05)
    assert all(v > 10 for v in seen.values()), seen
    assert touched_fitted > 100  # brows, wide eyes, cheeks, nose, lip corners: what MediaPipe never scores
    # a lazily loaded borrow is only fetched when drawn
    calls = []
    for _ in range(20):
        prior_delta(rng, np.zeros(52), DeformConfig(sampler="prior", p_borrow=0.0),
                    borrow=lambda: calls.append(1) or np.zeros(52))
    assert not calls


def test_emotions_go_through_the_edit_table():
    rng = np.random.default_rng(1)
    bs = np.zeros(52)
    exact = DeformConfig(sampler="prior", emotion_intensity=(1.0, 1.0), emotion_jitter=0.0)
    for name in ("angry", "sad", "disgust", "surprise"):
        d = emotion_change(rng, bs, exact, name)
        want = edited_blendshapes(bs, emotion_delta(name, 1.0, current_units(bs))) - bs
        assert np.allclose(d, want)
    angry = emotion_change(rng, bs, exact, "angry")
    disgust = emotion_change(rng, bs, exact, "disgust")
    sad = emotion_change(rng, bs, exact, "sad")
    assert angry[INDEX["browDownLeft"]] > 0.5 and disgust[INDEX["noseSneerRight"]] > 0.3
    assert sad[INDEX["mouthFrownLeft"]] > 0.5 and sad[INDEX["browInnerUp"]] > 0.5


def test_a_closed_eye_is_never_opened():
    rng = np.random.default_rng(2)
    bs = np.zeros(52)
    bs[INDEX["eyeBlinkLeft"]] = 0.9
    for _ in range(100):
        d, _ = prior_delta(rng, bs, PRIOR, borrow=np.zeros(52))
        assert d[INDEX["eyeBlinkLeft"]] >= 0 and d[INDEX["eyeWideLeft"]] <= 0


@pytest.fixture(scope="module")
def prior_ds(synthetic_cache):
    cfg = DataConfig(regime="self_supervised", code="fitted", aus="all", deform=PRIOR)
    return PairDataset(FaceCache([synthetic_cache]), cfg, seed=0)


def test_prior_sampler_moves_brows_lids_nose_and_lips(prior_ds):
    moved = {"brows": 0, "lids": 0, "nose": 0, "lip corners": 0}
    pts = {"brows": list(BROW_LEFT + BROW_RIGHT), "lids": list(EYE_LEFT + EYE_RIGHT),
           "nose": [48, 278, 129, 358], "lip corners": [61, 291]}
    for i in range(60):
        s = prior_ds[i]
        d = np.abs(s["want_landmarks"][:, :2] - s["target_landmarks"][:, :2])
        for k, p in pts.items():
            moved[k] += bool(d[p].max() > 0.3)  # px of a 64-px crop
    assert min(moved.values()) >= 3, moved
    assert prior_ds.deform_model is load_default_model(edit=True)  # ICT motion for brows, lids, nose


def test_prior_sampler_labels_are_the_22_aus_of_the_fitted_code(prior_ds):
    assert prior_ds.au_set == action_units.AUS and len(action_units.AUS) == 22
    for i in range(5):
        s = prior_ds[i]
        k = int(s["index"])
        assert s["want_aus"].shape == (22,) and s["target_aus"].shape == (22,)
        # self-supervised: the gt is the photo itself, labelled from its fitted code (not the cache's scores)
        assert np.allclose(s["want_blendshapes"], s["source_blendshapes"])
        assert np.allclose(s["want_aus"], action_units.estimate(s["want_blendshapes"], action_units.AUS), atol=1e-6)
        assert np.allclose(s["target_aus"], np.clip(s["want_aus"] + action_units.estimate(s["target_blendshapes"])
                                                    - action_units.estimate(s["want_blendshapes"]), 0, 1), atol=1e-5), k
    cache = prior_ds.cache
    fitted = np.array([prior_ds.code(i) for i in range(len(cache))])
    assert not np.allclose(fitted, cache.blendshapes)  # the code is the fit, not MediaPipe's stored scores


def test_legacy_sampler_is_what_it_was(synthetic_cache):
    """Defaults (every shipped config) draw exactly the samples the code drew before the prior sampler."""
    cache = FaceCache([synthetic_cache])
    cfg = DataConfig(regime="self_supervised")
    assert (cfg.deform.sampler, cfg.code, cfg.aus) == ("legacy", "cache", "v1")
    ds = PairDataset(cache, cfg, seed=5)
    model = load_default_model()
    for i in range(3):
        rng = np.random.default_rng([5, i])
        a = int(rng.integers(len(cache)))
        d = cache.load(a)
        delta = random_delta(rng, d["blendshapes"], cfg.deform, cache.blendshapes[int(rng.integers(len(cache)))])
        img, _ = deform(d["image"], d["landmarks"], d["blendshapes"], delta, model, d["pose"])
        s = ds[i]
        assert np.allclose(s["target"], img.transpose(2, 0, 1) / 127.5 - 1.0, atol=1e-6)
        assert s["want_aus"].shape == (17,)
    for f in sorted(CONFIGS.glob("*.yaml")):
        c = load_config(f)
        if not (c.task.endswith("-warp") or c.task in ("au-swap", "aip-gan")):  # on the warp: the prior
            assert (c.data.deform.sampler, c.data.code, c.data.aus) == ("legacy", "cache", "v1"), f.name


def test_prior_sampler_needs_the_fitted_code():
    with pytest.raises(ConfigError, match="sampler: prior needs"):
        load_config(None, ["data.deform.sampler=prior"])
    with pytest.raises(ConfigError, match="data.deform.sampler must be one of"):
        load_config(None, ["data.deform.sampler=ict"])
    cfg = load_config(CONFIGS / "relative-au-warp-cpu.yaml")
    assert (cfg.data.deform.sampler, cfg.data.code, cfg.data.aus) == ("prior", "fitted", "all")
