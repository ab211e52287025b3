"""Dataset adapters read each dataset's published layout: tiny fixtures made here, in those layouts
(no dataset image is ever committed; the files are small synthetic pictures or empty stand-ins)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facexpr.datasets import cfd, ckplus, folders, jaffe, kdef, mmi, rafd
from facexpr.datasets.expressions import EMOTIONS, Sample, canonical_emotion, cross_identity_pairs, load_ref, ref_path
from facexpr.errors import InputError
from facexpr.evaluate import benchmarks


def _img(path: Path, value: int = 128, size: int = 64) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)
    return path


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def _check_pairs(pairs, people_of):
    """Cross-identity: source person != target person, the ground truth is the target person."""
    assert pairs
    for p in pairs:
        assert people_of(p.source) != people_of(p.target) == people_of(p.gt)
        assert p.source_neutral is None or people_of(p.source_neutral) == people_of(p.source)
    assert len({p.id for p in pairs}) == len(pairs)


def test_rafd(tmp_path):
    for pid in ("01", "02", "03"):
        for expr in ("neutral", "happy", "contemptuous"):
            _touch(tmp_path / "RaFD" / f"Rafd090_{pid}_Caucasian_female_{expr}_frontal.jpg")
            _touch(tmp_path / "RaFD" / f"Rafd090_{pid}_Caucasian_female_{expr}_left.jpg")    # other gaze
            _touch(tmp_path / "RaFD" / f"Rafd045_{pid}_Caucasian_female_{expr}_frontal.jpg")  # other camera
    s = rafd.samples(tmp_path)
    assert len(s) == 9 and {x.person for x in s} == {"01", "02", "03"}
    pairs = cross_identity_pairs(s)
    _check_pairs(pairs, lambda r: Path(r).name.split("_")[1])
    assert {p.label for p in pairs} == {"happy", None}  # contempt: no emotion label
    assert len(pairs) == 6
    assert all(Path(r).name.startswith("Rafd090_") and Path(r).name.endswith("_frontal.jpg")
               for p in pairs for r in (p.source, p.target, p.gt))


def test_ckplus_neutral_to_peak(tmp_path):
    root = tmp_path / "CK+"
    for subj, seq, code in (("S005", "001", 3), ("S010", "002", 5), ("S011", "001", 5), ("S014", "003", 3),
                            ("S014", "004", 5)):
        for f in range(1, 5):
            _touch(root / "cohn-kanade-images" / subj / seq / f"{subj}_{seq}_{f:08d}.png")
        (root / "Emotion" / subj / seq).mkdir(parents=True)
        (root / "Emotion" / subj / seq / f"{subj}_{seq}_00000004_emotion.txt").write_text(f"   {code:.7e}\n")
    _touch(root / "cohn-kanade-images" / "S099" / "001" / "S099_001_00000001.png")  # unlabelled: ignored
    s = ckplus.samples(root)
    assert len(s) == 5 and all(str(x.image).endswith("_00000004.png") and str(x.neutral).endswith("_00000001.png")
                               for x in s)
    pairs = cross_identity_pairs(s, seed=3)
    _check_pairs(pairs, lambda r: Path(r).name.split("_")[0])
    for p in pairs:  # the target's neutral and its ground truth come from one sequence
        assert Path(p.target).parent == Path(p.gt).parent
    assert {p.label for p in pairs} == {"happy", "disgusted"} and len(pairs) == 5
    assert pairs == cross_identity_pairs(s, seed=3)  # same seed, same pairs
    with pytest.raises(FileNotFoundError):
        ckplus.samples(tmp_path / "nothing")


def test_mmi_sessions(tmp_path):
    sessions = tmp_path / "mmi" / "Sessions"
    for n, (subj, emo, view) in enumerate([(1, 4, "0"), (2, 4, "0"), (3, 4, "2"), (2, 1, "0"), (5, 1, "0")]):
        d = sessions / str(100 + n)
        d.mkdir(parents=True)
        (d / "session.xml").write_text(f'<session sessionId="{100 + n}"><subject id="{subj}"/>'
                                       f'<track type="video" view="{view}"/></session>')
        name = f"S{subj:03d}-{n:03d}"
        _touch(d / f"{name}.avi")
        (d / f"{name}.xml").write_text(f'<meta><Metatag Name="Emotion" Value="{emo}"/></meta>')
    s = mmi.samples(tmp_path / "mmi")
    assert len(s) == 4  # the profile-view session is left out
    assert all(str(x.image).endswith("#frame=middle") and str(x.neutral).endswith("#frame=0") for x in s)
    pairs = cross_identity_pairs(s)
    _check_pairs(pairs, lambda r: ref_path(r).stem.split("-")[0])
    assert {p.label for p in pairs} == {"happy", "angry"}


def test_cfd(tmp_path):
    for model in ("AF-200", "WM-001", "BF-003"):
        for e in ("N", "A", "HC", "HO"):
            _touch(tmp_path / "CFD Version 3.0" / "Images" / "CFD" / model / f"CFD-{model}-228-{e}.jpg")
    _touch(tmp_path / "CFD Version 3.0" / "Images" / "CFD" / "AF-200" / "CFD-AF-200-228-N.txt")
    s = cfd.samples(tmp_path)
    assert len(s) == 12
    pairs = cross_identity_pairs(s)
    _check_pairs(pairs, lambda r: "-".join(Path(r).name.split("-")[1:3]))
    assert {p.expression for p in pairs} == {"angry", "happy_closed", "happy_open"}
    assert {p.label for p in pairs} == {"angry", "happy"}


def test_jaffe(tmp_path):
    for model, num in (("KA", 30), ("KL", 60), ("YM", 90)):
        for i, e in enumerate(("NE", "HA", "SU")):
            _touch(tmp_path / "jaffe" / f"{model}.{e}1.{num + i}.tiff")
            _touch(tmp_path / "jaffe" / f"{model}.{e}2.{num + i + 3}.tiff")  # second take: not used
    s = jaffe.samples(tmp_path / "jaffe")
    pairs = cross_identity_pairs(s)
    _check_pairs(pairs, lambda r: Path(r).name.split(".")[0])
    assert len(pairs) == 6 and all(".HA1." in str(p.gt) or ".SU1." in str(p.gt) for p in pairs)


def test_kdef(tmp_path):
    for series in ("A", "B"):
        for who in ("F01", "M02", "M03"):
            for e in ("NE", "HA", "AF"):
                for angle in ("S", "HL"):
                    _touch(tmp_path / "KDEF" / f"{series}{who}" / f"{series}{who}{e}{angle}.JPG")
    s = kdef.samples(tmp_path)
    assert len(s) == 9 and all(Path(x.image).name.startswith("A") and Path(x.image).stem.endswith("S") for x in s)
    pairs = cross_identity_pairs(s)
    _check_pairs(pairs, lambda r: Path(r).name[1:4])
    assert {p.label for p in pairs} == {"happy", "fearful"}


def test_generic_folders_and_loading(tmp_path):
    for i, person in enumerate(("anna", "ben", "cleo")):
        _img(tmp_path / person / "neutral.png", 10 + i)
        _img(tmp_path / person / "Happiness.jpg", 100 + i)
        _img(tmp_path / person / "pout.png", 200 + i)
    (tmp_path / "notes.txt").write_text("not a person")
    pairs = cross_identity_pairs(folders.samples(tmp_path))
    _check_pairs(pairs, lambda r: Path(r).parent.name)
    assert {(p.expression, p.label) for p in pairs} == {("happiness", "happy"), ("pout", None)}
    img = load_ref(pairs[0].gt)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8


def test_canonical_emotions():
    assert EMOTIONS == ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
    for name, want in (("Anger", "angry"), ("happy_open", "happy"), ("SURPRISE", "surprised"),
                       ("contempt", None), ("a", None), ("sadness", "sad")):
        assert canonical_emotion(name) == want
    assert Sample("x", "neutral", "x.jpg").is_neutral


def test_video_frame_reference(tmp_path):
    av = pytest.importorskip("av")
    path = tmp_path / "clip.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mpeg4", rate=10)
        s.width = s.height = 64
        s.pix_fmt = "yuv420p"
        for i in range(5):
            for p in s.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 50, np.uint8), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert abs(load_ref(f"{path}#frame=0").mean() - 0) < 3
    assert abs(load_ref(f"{path}#frame=middle").mean() - 100) < 3
    with pytest.raises(InputError):
        load_ref(f"{path}#frame=99")


# --------------------------------------------------------------------------- benchmarks / CSV

def test_pairs_csv(tmp_path):
    for n in ("a.png", "b.png", "c.png"):
        _img(tmp_path / "img" / n)
    csv = tmp_path / "pairs.csv"
    csv.write_text("id,source,target,gt,label\np1,img/a.png,img/b.png,img/c.png,Happiness\np2,img/a.png,img/c.png,,\n")
    pairs = benchmarks.read_pairs_csv(csv)
    assert [p.id for p in pairs] == ["p1", "p2"]
    assert pairs[0].label == "happy" and pairs[0].gt == tmp_path / "img" / "c.png"
    assert pairs[1].gt is None and pairs[1].label is None and pairs[1].source_neutral is None
    bad = {"no_cols.csv": "a,b\n1,2\n",
           "dup.csv": "id,source,target\nx,img/a.png,img/b.png\nx,img/a.png,img/b.png\n",
           "missing.csv": "id,source,target\nx,img/a.png,img/zzz.png\n",
           "bad_id.csv": "id,source,target\nx y,img/a.png,img/b.png\n",
           "empty_target.csv": "id,source,target\nx,img/a.png,\n"}
    for name, text in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError) as e:
            benchmarks.read_pairs_csv(tmp_path / name)
        assert "\n" not in str(e.value)
    with pytest.raises(InputError):
        benchmarks.read_pairs_csv(tmp_path / "none.csv")


def test_benchmark_errors_and_subset(tmp_path):
    with pytest.raises(InputError, match="unknown benchmark"):
        benchmarks.benchmark_pairs("mnist", tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        benchmarks.benchmark_pairs("rafd", tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no rafd pairs"):
        benchmarks.benchmark_pairs("rafd", tmp_path / "empty")
    items = list(range(102))
    assert benchmarks.subset(items, 6) == [0, 20, 40, 61, 81, 101]
    assert benchmarks.subset(items, None) == items and benchmarks.subset(items, 500) == items


def test_london_benchmark(shared_data):
    pairs = benchmarks.benchmark_pairs("london", shared_data / "london")
    assert len(pairs) == 102 and sum(p.unseen for p in pairs) == 42
    assert all(p.label == "happy" and p.gt and p.source_neutral for p in pairs)
    assert all(Path(p.source).name[:3] != p.id for p in pairs)
