"""Dataset listing for `prepare`: every supported layout, built here as tiny fixtures."""
from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexpr.expression.action_units import AUS_V1 as AUS  # the 17-AU condition of trained generators
from facexpr.train.sources import (OPENFACE_COLUMNS, list_items, openface_labels, read_openface_csv)

sys.path.insert(0, str(Path(__file__).parent))
from _video import write_video  # noqa: E402


def _img(path: Path, value: int = 128, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def _openface_csv(path: Path, rows: list[tuple[str | None, list[float]]], success=1) -> None:
    """An OpenFace 2 CSV (header names padded with a space, as OpenFace writes them)."""
    cols = (["file"] if rows[0][0] is not None else []) + ["face", "confidence", "success"] + list(OPENFACE_COLUMNS)
    lines = [", ".join(cols)]
    for name, vals in rows:
        lead = [name] if name is not None else []
        lines.append(", ".join(lead + ["0", "0.98", str(success)] + [f"{v:.2f}" for v in vals]))
    path.write_text("\n".join(lines) + "\n")


def test_folders_and_images(tmp_path):
    for person, expr in (("anna", "neutral"), ("anna", "happy"), ("ben", "neutral"), ("ben", "surprised")):
        _img(tmp_path / "f" / person / f"{expr}.png")
    items = list_items("folders", tmp_path / "f")
    assert len(items) == 4 and {it.group for it in items} == {"anna", "ben"}
    assert {it.expression for it in items} == {"neutral", "happy", "surprised"}
    assert items[0].meta()["label"] in ("happy", "neutral")
    _img(tmp_path / "i" / "x.jpg")
    _img(tmp_path / "i" / "sub" / "y.png")
    _img(tmp_path / "i" / "sub" / "z.webp")
    (tmp_path / "i" / "notes.txt").write_text("x")
    items = list_items("images", tmp_path / "i")
    assert sorted(it.person for it in items) == ["sub", "sub", "x"]
    assert len({it.key for it in items}) == 3
    assert items[0].load().shape == (64, 64, 3)


def test_keys_are_stable_and_safe(tmp_path):
    _img(tmp_path / "a b" / "c (1).png")
    k1 = [it.key for it in list_items("images", tmp_path)]
    k2 = [it.key for it in list_items("images", tmp_path)]
    assert k1 == k2 and all(c.isalnum() or c in "_-" for c in k1[0])


def test_posed_datasets_reuse_the_readers(tmp_path):
    """RaFD, KDEF, JAFFE, CFD come from facexpr.datasets' readers (one reader per dataset)."""
    for pid in ("01", "02"):
        for expr in ("neutral", "happy"):
            _img(tmp_path / "rafd" / f"Rafd090_{pid}_Caucasian_female_{expr}_frontal.jpg")
            _img(tmp_path / "rafd" / f"Rafd045_{pid}_Caucasian_female_{expr}_frontal.jpg")  # other camera
    items = list_items("rafd", tmp_path / "rafd")
    assert len(items) == 4 and {it.person for it in items} == {"01", "02"}
    _img(tmp_path / "kdef" / "AF01" / "AF01HAS.JPG")
    _img(tmp_path / "kdef" / "AF01" / "AF01NES.JPG")
    assert {it.expression for it in list_items("kdef", tmp_path / "kdef")} == {"happy", "neutral"}
    _img(tmp_path / "jaffe" / "KA.HA1.29.tiff")
    assert list_items("jaffe", tmp_path / "jaffe")[0].person == "KA"
    _img(tmp_path / "cfd" / "AF-200" / "CFD-AF-200-228-N.jpg")
    assert list_items("cfd", tmp_path / "cfd")[0].expression == "neutral"
    with pytest.raises(ValueError, match="unknown dataset"):
        list_items("nope", tmp_path)


def test_ckplus_peak_and_neutral_or_whole_sequences(tmp_path):
    root = tmp_path / "CK+"
    for f in range(1, 8):
        _img(root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{f:08d}.png", 10 * f)
    (root / "Emotion" / "S005" / "001").mkdir(parents=True)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000007_emotion.txt").write_text("   5.0000000e+00\n")
    items = list_items("ckplus", root)
    assert [it.expression for it in items] == ["neutral", "happy"]
    seq = list_items("ckplus", root, every=3)
    assert [it.frame for it in seq] == [0, 3, 6] and seq[-1].expression == "happy"
    assert len({it.group for it in seq}) == 1  # one sequence: one group for same-person pairs


def test_video_frames_one_group_per_clip(tmp_path):
    frames = [np.full((64, 80, 3), 20 * i, np.uint8) for i in range(7)]
    write_video(tmp_path / "v" / "clip_a.mp4", frames)
    write_video(tmp_path / "v" / "clip_b.mp4", frames[:3])
    items = list_items("video", tmp_path / "v", every=3)
    a = [it for it in items if it.person == "clip_a"]
    assert [it.frame for it in a] == [0, 3, 6] and len(items) == 4
    assert len({it.group for it in items}) == 2
    got = [it.load() for it in a]  # sequential decoding, frames in order
    assert [g.shape for g in got] == [(64, 80, 3)] * 3
    assert got[0].mean() < got[1].mean() < got[2].mean()
    assert abs(a[1].load().mean() - 60) < 6  # going back re-opens the clip
    single = list_items("video", tmp_path / "v" / "clip_b.mp4", every=1)
    assert len(single) == 3


def test_openface_csv_layouts(tmp_path):
    root = tmp_path / "au"
    vals = [float(i % 5) for i in range(len(AUS))]
    _img(root / "imgs" / "a.jpg")
    _img(root / "imgs" / "b.jpg")
    _img(root / "imgs" / "c.jpg")  # no label: skipped
    (root / "csv").mkdir(parents=True)
    _openface_csv(root / "csv" / "a.csv", [(None, vals)])
    _openface_csv(root / "csv" / "b.csv", [(None, vals)], success=0)  # failed track: no label
    rows = read_openface_csv(root / "csv" / "a.csv")
    assert "AU01_r" in rows[0] and rows[0]["AU01_r"] == "0.00"
    items = list_items("openface", root)
    assert [Path(it.ref).name for it in items] == ["a.jpg"]
    np.testing.assert_allclose(items[0].au_labels, np.array(vals) / 5)
    # one combined CSV with a file column
    _openface_csv(root / "all.csv", [("b.jpg", vals), ("c.jpg", [5.0] * len(AUS))])
    labels = openface_labels(root)
    assert set(labels) == {"a", "b", "c"} and labels["c"].max() == 1.0


def test_ganimation_pickle(tmp_path):
    root = tmp_path / "ganimation"
    _img(root / "imgs" / "x1.jpg")
    with open(root / "aus_openface.pkl", "wb") as f:
        pickle.dump({"x1": np.arange(17, dtype=np.float64) / 4}, f)
    items = list_items("openface", root)
    assert len(items) == 1 and items[0].au_labels[4] == pytest.approx(0.2)
    # a pickle that tries to run code is refused
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))
    with open(root / "aus_openface.pkl", "wb") as f:
        pickle.dump({"x1": Evil()}, f)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        openface_labels(root)


def test_mmi_sessions_and_frames(tmp_path):
    sessions = tmp_path / "mmi" / "Sessions"
    d = sessions / "100"
    d.mkdir(parents=True)
    (d / "session.xml").write_text('<session><subject id="7"/><track view="0"/></session>')
    write_video(d / "S007-001.avi", [np.full((64, 64, 3), 30 * i, np.uint8) for i in range(5)])
    (d / "S007-001.xml").write_text('<Metas><Metatag Name="Emotion" Value="4"/></Metas>')
    items = list_items("mmi", tmp_path / "mmi")
    assert [it.expression for it in items] == ["neutral", "happiness"] and items[0].person == "S007"
    assert items[1].ref.endswith("#frame=middle") and items[1].load().shape == (64, 64, 3)
    frames = list_items("mmi", tmp_path / "mmi", every=2)
    assert [it.frame for it in frames] == [0, 2, 4] and frames[0].expression == "neutral"


@pytest.mark.data
def test_london_listing(shared_data):
    items = list_items("london", shared_data)
    assert len(items) == 204 and len({it.person for it in items}) == 102
    assert {it.expression for it in items} == {"neutral", "happy"}
