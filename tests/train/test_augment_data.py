"""Self-supervised deformation, the three regimes, and deterministic, resumable sampling."""
from __future__ import annotations

import numpy as np
import pytest

from facexpr.expression.blendshapes import INDEX, NAMES
from facexpr.expression.model import load_default_model
from facexpr.faces.topology import LIPS_INNER
from facexpr.train.augment import deform, movable, random_delta
from facexpr.train.config import DataConfig, DeformConfig
from facexpr.methods.samples import landmark_map
from facexpr.train.data import FaceCache, IndexSampler, PairDataset, make_loader
from facexpr.cache import read_item
from facexpr.train.synthetic import face_landmarks, paint_face


@pytest.fixture(scope="module")
def face64():
    lm = face_landmarks(np.zeros(52), 64)
    img = paint_face(lm, 64, (200, 160, 140), (40, 60, 90), np.random.default_rng(0))
    return img, lm


def test_random_delta_stays_in_range():
    rng = np.random.default_rng(0)
    bs = rng.uniform(0, 1, len(NAMES))
    allowed = set(movable())
    for _ in range(50):
        d = random_delta(rng, bs, DeformConfig(p_borrow=0.5), borrow=rng.uniform(0, 1, len(NAMES)))
        new = bs + d
        assert new.min() >= -1e-9 and new.max() <= 1 + 1e-9
        assert set(np.flatnonzero(d)) <= allowed  # never gaze or _neutral
    assert INDEX["eyeLookInLeft"] not in allowed and INDEX["_neutral"] not in allowed


def test_deform_follows_the_landmarks(face64):
    img, lm = face64
    model = load_default_model()
    same, lm0 = deform(img, lm, np.zeros(52), np.zeros(52), model)
    assert np.array_equal(same, img) and np.allclose(lm0[:, :2], lm[:, :2], atol=1e-6)
    delta = np.zeros(52)
    delta[INDEX["jawOpen"]] = 0.8
    out, new = deform(img, lm, np.zeros(52), delta, model)
    mouth = list(LIPS_INNER)
    gap = lambda p: p[14, 1] - p[13, 1]  # noqa: E731  inner lower lip minus inner upper lip
    assert gap(new) > gap(lm) + 1.0  # the mouth opens in the landmarks...
    assert np.abs(out.astype(int) - img).mean() > 0.5  # ...and in the pixels,
    assert np.array_equal(out[:3, :3], img[:3, :3])  # but the crop's corners do not move
    assert new[mouth, 1].mean() > lm[mouth, 1].mean()


def test_landmark_flow_is_the_deformation(face64):
    import torch

    from facexpr.methods.relative_au.nets import warp
    from facexpr.train.augment import landmark_flow

    img, lm = face64
    delta = np.zeros(52)
    delta[INDEX["jawOpen"]] = 0.8
    out, new = deform(img, lm, np.zeros(52), delta, load_default_model())
    flow = landmark_flow(lm, new, 64)
    assert flow.shape == (2, 64, 64) and np.abs(flow).max() > 1.0
    x = torch.as_tensor(img.transpose(2, 0, 1)[None].astype(np.float32))
    y = warp(x, torch.as_tensor(flow[None]))[0].numpy().transpose(1, 2, 0)
    assert np.abs(y - out).mean() < 1.0  # the same motion, through torch's sampler (8-bit levels)
    assert np.allclose(landmark_flow(lm, lm, 64), 0, atol=1e-4)


def test_regimes(synthetic_cache):
    cache = FaceCache([synthetic_cache])
    assert len(cache) == 12 and cache.size == 64
    keys = {"target", "source", "gt", "has_gt", "want_landmarks", "want_blendshapes", "want_aus", "index",
            "target_landmarks", "target_blendshapes", "target_aus", "target_identity", "source_identity"}
    people = cache.persons
    for regime in ("self_supervised", "same_person", "unpaired"):
        ds = PairDataset(cache, DataConfig(regime=regime), seed=3)
        for i in range(6):
            s = ds[i]
            assert keys <= set(s) and s["target"].shape == (3, 64, 64) and s["target"].dtype == np.float32
            assert -1 <= s["target"].min() and s["target"].max() <= 1
            assert s["want_landmarks"].shape == (478, 3) and s["want_aus"].shape == (17,)
            if regime == "unpaired":
                assert s["has_gt"] == 0 and not s["gt"].any()
                assert not np.array_equal(s["target_identity"], s["source_identity"])  # other person
            else:
                assert s["has_gt"] == 1 and np.array_equal(s["gt"], s["source"])
                assert np.array_equal(s["target_identity"], s["source_identity"])  # same person
        a, b = ds[5], ds[5]
        assert all(np.array_equal(a[k], b[k]) for k in a)  # a pure function of (seed, index)
    ds = PairDataset(cache, DataConfig(regime="same_person", neutral_target=True), seed=0)
    neutral_ids = {tuple(np.round(read_item(synthetic_cache, r["file"])["landmarks"][:3, 0], 3))
                   for r in cache.records if r["label"] == "neutral"}
    for i in range(8):  # the target of a same-person pair is that person's neutral photo
        assert tuple(np.round(ds[i]["target_landmarks"][:3, 0], 3)) in neutral_ids
    assert len(set(people)) == 4


def test_mixed_regime_draws_each_regime_by_its_odds(synthetic_cache):
    cache = FaceCache([synthetic_cache])
    ds = PairDataset(cache, DataConfig(regime="mixed", mix={"self_supervised": 1.0, "unpaired": 1.0}), seed=1)
    has = np.array([ds[i]["has_gt"] for i in range(40)])
    assert 8 < has.sum() < 32  # about half deformations (with ground truth), half unpaired (without)
    assert all(np.array_equal(ds[7][k], ds[7][k]) for k in ds[7])  # still a pure function of (seed, index)
    only = PairDataset(cache, DataConfig(regime="mixed", mix={"unpaired": 1.0, "same_person": 0.0}), seed=1)
    assert not any(only[i]["has_gt"] for i in range(10))


def test_au_labels_replace_the_estimate_without_mixing_scales(tmp_path):
    """OpenFace-style labels are the AUs of every regime; deformations and retargeting move them by
    the estimated change, so label and estimate scales never meet in one sample."""
    from facexpr.expression import action_units
    from facexpr.train.synthetic import make_cache

    root = make_cache(tmp_path / "c", n_people=2, per_person=3, size=64, seed=1, au_labels=True)
    cache = FaceCache([root])
    labels = {tuple(np.round(cache.load(i)["landmarks"][:2, 0], 3)): np.asarray(r["au_labels"], np.float32)
              for i, r in enumerate(cache.records)}
    ds = PairDataset(cache, DataConfig(regime="same_person"), seed=0)
    for i in range(4):
        s = ds[i]
        assert np.allclose(s["target_aus"], labels[tuple(np.round(s["target_landmarks"][:2, 0], 3))], atol=1e-6)
        assert np.allclose(s["want_aus"], labels[tuple(np.round(s["want_landmarks"][:2, 0], 3))], atol=1e-6)
    ss = PairDataset(cache, DataConfig(regime="self_supervised"), seed=0)[0]
    moved = action_units.estimate(ss["target_blendshapes"], action_units.AUS_V1) - action_units.estimate(ss["want_blendshapes"], action_units.AUS_V1)
    assert np.allclose(ss["target_aus"], np.clip(ss["want_aus"] + moved, 0, 1), atol=1e-5)
    off = PairDataset(cache, DataConfig(regime="same_person", au_labels=False), seed=0)[0]
    assert np.allclose(off["target_aus"], action_units.estimate(off["target_blendshapes"], action_units.AUS_V1), atol=1e-6)


def test_index_sampler_shards_and_resumes():
    one = IndexSampler(4, first=0, rank=0, world=1)
    it = iter(one)
    first_three = [next(it) for _ in range(12)]
    assert first_three == list(range(12))
    r0, r1 = iter(IndexSampler(2, 0, 0, 2)), iter(IndexSampler(2, 0, 1, 2))
    assert sorted([next(r0) for _ in range(2)] + [next(r1) for _ in range(2)]) == [0, 1, 2, 3]
    later = iter(IndexSampler(4, first=2))
    assert next(later) == 8  # resuming at batch 2


def test_loader_resumes_at_a_batch(synthetic_cache):
    ds = PairDataset(FaceCache([synthetic_cache]), DataConfig(regime="unpaired"), seed=0)
    full = iter(make_loader(ds, 2, 0))
    batches = [next(full) for _ in range(3)]
    resumed = next(iter(make_loader(ds, 2, first_batch=2)))
    assert all(np.array_equal(resumed[k], batches[2][k]) for k in resumed)


def test_landmark_map(face64):
    _, lm = face64
    m = landmark_map(lm, 64)
    assert m.shape == (1, 64, 64) and 0 <= m.min() and m.max() <= 1 and 0.03 < (m > 0.2).mean() < 0.4


def test_cache_errors(tmp_path, synthetic_cache):
    from facexpr.errors import CacheError

    with pytest.raises(CacheError, match="not a prepared cache"):
        FaceCache([tmp_path])
    with pytest.raises(CacheError, match="size is 128"):
        FaceCache([synthetic_cache], size=128)
