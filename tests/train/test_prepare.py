"""`facexpr prepare`: the cache format, skipping finished work, surviving interruptions, failures,
and (on the shared London photos) real detection, alignment, AU estimates and identity."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexpr.expression import action_units
from facexpr.faces.landmarks import Face
from facexpr.cache import read_index, read_item, read_meta
from facexpr.errors import CacheError
from facexpr.train.prepare import au_agreement, prepare
from facexpr.train.sources import list_items
from facexpr.train.synthetic import face_landmarks, paint_face

sys.path.insert(0, str(Path(__file__).parent))
from _video import write_video  # noqa: E402

SIZE = 64


def _photo(path: Path, seed: int, blank: bool = False) -> Path:
    """A 200x200 'photo' with a cartoon face at a known place (or an empty one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img = np.zeros((200, 200, 3), np.uint8)
    if not blank:
        img[:] = paint_face(face_landmarks(np.zeros(52), 200), 200, (200, 160, 140), (60, 90, 120),
                            np.random.default_rng(seed))
    Image.fromarray(img).save(path)
    return path


class FakeDetector:
    """Stands in for MediaPipe: the cartoon's known landmarks, no face on a black image."""

    def __init__(self, interrupt_at: int | None = None):
        self.calls, self.interrupt_at = 0, interrupt_at

    def __call__(self, rgb):
        self.calls += 1
        if self.interrupt_at is not None and self.calls == self.interrupt_at:
            raise KeyboardInterrupt
        if rgb.mean() < 1:
            return []
        bs = np.full(52, 0.1, np.float32)
        return [Face(face_landmarks(np.zeros(52), 200), bs, np.eye(4), (rgb.shape[1], rgb.shape[0]))]


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    for person in ("anna", "ben"):
        for k, expr in enumerate(("neutral", "happy")):
            _photo(root / person / f"{expr}.png", seed=k)
    _photo(root / "carl" / "neutral.png", 0, blank=True)  # no face
    return root


def test_cache_format(photos, tmp_path):
    out = tmp_path / "cache"
    det = FakeDetector()
    rep = prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=det)
    assert rep["new_ok"] == 4 and rep["new_failed"] == 1 and rep["cached_ok"] == 4
    assert list(rep["failures"].values()) == ["no face found"]
    meta = read_meta(out)
    assert meta["size"] == SIZE and meta["aus"] == list(action_units.AUS_V1) and meta["identity"] is None
    recs = [r for r in read_index(out).values() if r["ok"]]
    d = read_item(out, recs[0]["file"])
    assert d["image"].shape == (SIZE, SIZE, 3) and d["image"].dtype == np.uint8
    assert d["landmarks"].shape == (478, 3) and d["blendshapes"].shape == (52,) and d["pose"].shape == (4, 4)
    np.testing.assert_allclose(d["aus"], action_units.estimate(d["blendshapes"], action_units.AUS_V1), atol=1e-6)
    # landmarks are in crop pixels: the template framing puts the face oval inside the crop
    assert d["landmarks"][:, :2].min() > 0 and d["landmarks"][:, :2].max() < SIZE
    assert not d["identity"].any()
    assert {r["person"] for r in recs} == {"anna", "ben"} and {r["label"] for r in recs} == {"neutral", "happy"}
    assert json.loads((out / "prepare.json").read_text())["new_ok"] == 4


def test_second_run_skips_everything(photos, tmp_path):
    out = tmp_path / "cache"
    prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=FakeDetector())
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")}
    det = FakeDetector()
    rep = prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=det)
    assert det.calls == 0 and rep["already_done"] == 5 and rep["new_ok"] == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npz")} == mtimes
    det = FakeDetector()  # --retry-failed: only the failure is tried again
    rep = prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=det, retry_failed=True)
    assert det.calls == 1 and rep["new_failed"] == 1


def test_interrupted_run_resumes(photos, tmp_path):
    out = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=FakeDetector(interrupt_at=3))
    assert len(read_index(out)) == 2  # the two finished images are kept; the one in flight is lost
    assert not list(out.rglob("*.part"))
    with open(out / "index.jsonl", "a") as f:  # a crash mid-line leaves a torn last line
        f.write('{"key": "torn", "ok": tr')
    det = FakeDetector()
    rep = prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=det)
    assert det.calls == 3 and rep["cached_ok"] == 4
    assert "torn" not in read_index(out)


def test_cache_settings_must_match(photos, tmp_path):
    out = tmp_path / "cache"
    prepare("folders", photos, out, size=SIZE, identity=False, progress=False, analyze=FakeDetector())
    with pytest.raises(CacheError, match="size=64"):
        prepare("folders", photos, out, size=128, identity=False, progress=False, analyze=FakeDetector())
    with pytest.raises(CacheError, match="dataset"):
        prepare("images", photos, out, size=SIZE, identity=False, progress=False, analyze=FakeDetector())
    with pytest.raises(CacheError, match="multiple of 16"):
        prepare("folders", photos, tmp_path / "c2", size=100, identity=False, analyze=FakeDetector())


def test_au_agreement_report(tmp_path):
    """Items with OpenFace labels: the report compares them with the blendshape estimate."""
    from facexpr.train.sources import OPENFACE_COLUMNS

    root = tmp_path / "au"
    _photo(root / "imgs" / "a.png", 0)
    _photo(root / "imgs" / "b.png", 1)
    (root / "csv").mkdir()
    for name in ("a", "b"):
        (root / "csv" / f"{name}.csv").write_text(
            "frame, success, " + ", ".join(OPENFACE_COLUMNS) + "\n1, 1, " + ", ".join(["0.5"] * 17) + "\n")
    rep = prepare("openface", root, tmp_path / "cache", size=SIZE, identity=False, progress=False,
                  analyze=FakeDetector())
    ag = rep["au_agreement"]
    assert ag["n"] == 2 and set(ag["per_au"]) == {f"AU{a}" for a in action_units.AUS_V1}
    # constant labels: no correlation defined, but the mean error is
    assert ag["per_au"]["AU1"]["r"] is None and ag["per_au"]["AU1"]["mae"] == pytest.approx(0.0, abs=1e-4)
    recs = [{"ok": True, "aus": [i / 10, 0] + [0] * 15, "au_labels": [i / 10 + 0.01, 0] + [0] * 15} for i in range(5)]
    assert au_agreement(recs)["per_au"]["AU1"]["r"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------------- real faces

@pytest.mark.data
def test_real_photos_and_video(london, tmp_path):
    """MediaPipe + dlib on two London photos (downscaled) and a short clip of one of them."""
    root = tmp_path / "folders"
    src = [london / "neutral" / "001_03.jpg", london / "smiling" / "001_08.jpg"]
    for p, expr in zip(src, ("neutral", "happy")):
        (root / "p001").mkdir(parents=True, exist_ok=True)
        Image.open(p).convert("RGB").resize((480, 480), Image.LANCZOS).save(root / "p001" / f"{expr}.jpg", quality=92)
    out = tmp_path / "cache"
    rep = prepare("folders", root, out, size=128, identity=True, progress=False)
    assert rep["new_ok"] == 2, rep["failures"]
    recs = sorted((r for r in read_index(out).values() if r["ok"]), key=lambda r: r["expression"])
    happy, neutral = (read_item(out, r["file"]) for r in recs)
    # the same person: identity descriptors close (dlib's threshold is 0.6)
    assert np.linalg.norm(happy["identity"] - neutral["identity"]) < 0.45
    assert happy["aus"][action_units.AUS_V1.index(12)] > neutral["aus"][action_units.AUS_V1.index(12)] + 0.3  # smile
    # alignment: stable points land on the crop template
    from facexpr.faces.crops import TEMPLATE
    from facexpr.faces.topology import STABLE

    err = np.linalg.norm(neutral["landmarks"][list(STABLE), :2] / 128 - TEMPLATE, axis=1)
    assert err.mean() < 0.02 and err.max() < 0.06

    # the command line: a second run finds everything done
    from typer.testing import CliRunner

    from facexpr.train.cli import make_app

    res = CliRunner().invoke(make_app(), ["prepare", "folders", "--root", str(root), "--out", str(out),
                                          "--size", "128", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout[res.stdout.index("{"):])["already_done"] == 2

    # video: a clip of the neutral photo drifting sideways; one group, every 2nd frame
    base = np.asarray(Image.open(root / "p001" / "neutral.jpg").resize((240, 240)))
    frames = [np.roll(base, 4 * i, axis=1) for i in range(6)]
    write_video(tmp_path / "vid" / "drift.mp4", frames)
    items = list_items("video", tmp_path / "vid", every=2)
    rep = prepare("video", tmp_path / "vid", tmp_path / "vcache", size=128, every=2, identity=False, progress=False)
    assert rep["new_ok"] == 3 == len(items)
    recs = [r for r in read_index(tmp_path / "vcache").values() if r["ok"]]
    assert {r["group"] for r in recs} == {"drift/drift"} and sorted(r["frame"] for r in recs) == [0, 2, 4]
