"""``facexpr animate`` / ``facexpr.animate()`` on the shared driving videos (real data)."""
import json
import subprocess

import numpy as np
import pytest

from _support import data_file, facexpr_cmd

pytestmark = pytest.mark.data

N = 40  # frames per run: enough for the pipeline, filtering and audio, cheap on 2 cores


@pytest.fixture(scope="module")
def wolfgang(shared_data):
    return data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory, wolfgang, target_path):
    """One CLI run: the first N frames after 10 s (smiling), with its JSON report."""
    d = tmp_path_factory.mktemp("animate")
    out, rep = d / "out.mp4", d / "report.json"
    r = subprocess.run(facexpr_cmd() + ["animate", str(target_path), "--driving", str(wolfgang), "-o", str(out),
                                        "--start", "10", "--max-frames", str(N), "--report", str(rep)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out, json.loads(rep.read_text()), r


def test_cli_output_frames_rate_audio(cli_run, wolfgang):
    import av

    from facexpr.io_video import probe

    out, rep, r = cli_run
    assert r.stdout.strip() == str(out)
    info, drv = probe(out), probe(wolfgang)
    assert info.frames == N == rep["frames"]
    assert info.fps == drv.fps
    assert info.has_audio and info.audio_codec == "aac"
    with av.open(str(out)) as c:
        a = c.streams.audio[0]
        pk = [p for p in c.demux(a) if p.size]
        audio_len = float((pk[-1].pts + pk[-1].duration - pk[0].pts) * a.time_base)
    assert abs(audio_len - N / float(drv.fps)) <= 1 / float(drv.fps) + 0.05  # within a frame (+ one AAC packet)
    assert set(rep["stage_ms_per_frame"]) >= {"track", "render", "encode"}


def test_cli_output_changes_the_face_not_the_background(cli_run, target_path):
    from facexpr.animation import _resize_long
    from facexpr.io import load_image
    from facexpr.io_video import read_frames

    out, rep, _ = cli_run
    photo = _resize_long(load_image(target_path), 512)
    import facexpr

    x0, y0, x1, y1 = facexpr.analyze(photo)[0].bbox
    frames = [f.image.astype(float) for f in read_frames(out)]
    diffs = [np.abs(f - photo).mean(2) for f in frames]
    # the driver smiles here: the lower face moves; the image corners stay the photo (codec noise only)
    assert max(float(d[(y0 + y1) // 2:y1, x0:x1].mean()) for d in diffs) > 4.0
    assert max(float(d[:60, :60].mean()) for d in diffs) < 3.0


def test_filter_reduces_jitter(wolfgang, target_path):
    """The same stretch with and without One-Euro filtering: the rendered geometry jitters less.
    Over 60 frames (2.5 s): in the first 30 the filter is still settling and the driver's own slow
    movement dominates (filtered / unfiltered 0.75-0.80 with either reader; over 60, 0.54-0.58)."""
    import facexpr

    def geometry(smooth):
        return [f.landmarks for f in facexpr.animate(target_path, wolfgang, smooth=smooth, max_frames=60, size=256)]

    from facexpr.animation import motion

    on, off = geometry(True), geometry(False)
    assert len(on) == len(off) == 60
    assert motion(on, 100).mean() < 0.8 * motion(off, 100).mean()


def test_api_streams_frames(wolfgang, target_path):
    import facexpr

    anim = facexpr.animate(target_path, wolfgang, max_frames=5, size=256, start=1.0)
    assert anim.frame_count == 5 and (anim.width, anim.height) == (256, 256)
    frames = list(anim)
    assert [f.index for f in frames] == list(range(24, 29))
    assert all(f.image.shape == (256, 256, 3) and f.image.dtype == np.uint8 for f in frames)


def test_image_sequence_output(tmp_path, wolfgang, target_path):
    import facexpr

    s = facexpr.animate_to_file(target_path, wolfgang, tmp_path / "frames", max_frames=3, size=256)
    assert s["frames"] == 3 and len(list((tmp_path / "frames").glob("frame_*.png"))) == 3


def test_lost_face_holds_then_eases(target_path, tmp_path):
    """A driver whose face disappears (frames blanked): the held expression stays, no jump back."""
    import facexpr
    from facexpr.io_video import VideoWriter, read_frames

    src = data_file(target_path.parents[2], "video/WolfgangLanger_Pexels.mp4")
    drv = tmp_path / "gap.mp4"
    w = VideoWriter(drv, 24, 640, 360)
    for f in read_frames(src, 300, 330):
        w.write(f.image if not 10 <= f.index - 300 < 20 else np.zeros_like(f.image))
    w.close()
    frames = list(facexpr.animate(target_path, drv, size=256))
    assert [f.found for f in frames] == [not 10 <= i < 20 for i in range(30)]
    m = np.linalg.norm(np.diff(np.stack([f.landmarks for f in frames]), axis=0), axis=2).mean(1)
    held = m[9:19]  # only the light geometry filter settling: no new motion
    assert np.all(np.diff(held) <= 1e-9) and held[-1] < 1e-3, "the expression is held while the face is lost"
    assert m[19:].max() < 3 * max(m[:9].max(), 0.05), "and eased back in, not jumped"


def test_no_face_driver_is_one_line_error(edge, target_path, tmp_path):
    r = subprocess.run(facexpr_cmd() + ["animate", str(target_path), "--driving", str(edge / "no_face.mp4"),
                                        "-o", str(tmp_path / "x.mp4")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [r.stderr.strip()]
    assert r.stderr.startswith("facexpr: error: ") and "no face found in any frame" in r.stderr
    assert not list(tmp_path.iterdir())


def test_cli_usage_errors(tmp_path, target_path):
    for args, msg in ((["--driving", str(target_path), "-o", str(tmp_path / "x.mp4")], "is an image, not a video"),
                      (["--driving", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "x.mp4")], "no such file"),
                      (["--driving", str(target_path), "-o", str(tmp_path / "x.gif")], "unknown video output format")):
        r = subprocess.run(facexpr_cmd() + ["animate", str(target_path)] + args, capture_output=True, text=True,
                           timeout=300)
        assert r.returncode == 2 and msg in r.stderr and r.stderr.startswith("facexpr: error: "), r.stderr


def test_pose_and_absolute_modes_run(wolfgang, target_path):
    import facexpr

    for kw in ({"pose": True, "max_pose_deg": 10.0}, {"relative": False}):
        frames = list(facexpr.animate(target_path, wolfgang, max_frames=4, size=256, start=12.0, **kw))
        assert len(frames) == 4 and all(f.image.shape == (256, 256, 3) for f in frames)


def _still_driver(path, image, frames: int = 10, fps: int = 24):
    """A lossless video of ``image`` repeated: every frame decodes to the same pixels (H.264 does
    not: its quality ramps over the first frames)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=fps)
        s.width, s.height, s.pix_fmt = image.shape[1], image.shape[0], "bgr0"
        for _ in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_a_driver_equal_to_its_reference_moves_nothing(tmp_path, source_path, target_path):
    """Relative motion is the driver's change from its reference: a driver that holds its
    reference expression (here a smile, every frame the same) leaves the photo as it is —
    outside the warp's reach bit for bit, inside within rounding (≤ 2 grey levels). The reference and the frames
    are read the same way (the fitted code, tracking settled), so no constant offset between two
    readings of one face (MediaPipe's raw scores against the fit: up to 87 grey levels) moves it."""
    import cv2

    import facexpr
    from facexpr.animation import _resize_long
    from facexpr.faces.topology import FACE_OVAL
    from facexpr.io import load_image
    from facexpr.io_video import read_frames

    still = cv2.resize(load_image(source_path), (480, 480), interpolation=cv2.INTER_AREA)
    drv = _still_driver(tmp_path / "still.mkv", still)
    assert all(np.array_equal(f.image, still) for f in read_frames(drv))
    photo = _resize_long(load_image(target_path), 256)
    oval = facexpr.analyze(photo)[0].xy[list(FACE_OVAL)]
    c = oval.mean(0)
    ys, xs = np.mgrid[:photo.shape[0], :photo.shape[1]]
    reach = 1.6 * np.linalg.norm(oval - c, axis=1).max()  # the warp fades to nothing at 1.45x the oval
    outside = np.hypot(xs - c[0], ys - c[1]) > reach
    frames = list(facexpr.animate(target_path, drv, size=256))
    assert len(frames) == 10 and all(f.found for f in frames)
    for f in frames:
        d = np.abs(f.image.astype(int) - photo)
        assert d[outside].max() == 0, f.index
        # within rounding: the tracker's landmarks still drift by a fraction of a pixel over the
        # frames of a still driver, and the expression reader reads every shape from them
        assert d.max() <= 2, (f.index, d.max())


def test_animate_validates_like_transfer(tmp_path, target_path, wolfgang):
    """animate takes the pipeline's limits and methods: a bad region is one line and exit code 2
    (not a traceback), and a method that cannot transfer is refused before any frame."""
    import facexpr
    from facexpr.errors import MethodCannot, RegionError

    r = subprocess.run(facexpr_cmd() + ["animate", str(target_path), "--driving", str(wolfgang), "-o",
                                        str(tmp_path / "x.mp4"), "--regions", "nose"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("facexpr: error: ") and r.stderr.count("\n") == 1 and "nose" in r.stderr, r.stderr
    assert not (tmp_path / "x.mp4").exists()
    with pytest.raises(RegionError):
        facexpr.animate(target_path, wolfgang, regions=["nose"])
    from facexpr.methods import MethodSpec, register
    from facexpr.methods.registry import _SPECS

    register(MethodSpec(name="edit-only", adapter="facexpr.methods.warp.method:Warp", capabilities=frozenset({"edit"})))
    try:
        with pytest.raises(MethodCannot, match="cannot transfer"):
            facexpr.animate(target_path, wolfgang, method="edit-only")
    finally:
        _SPECS.pop("edit-only")
