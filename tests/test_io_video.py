"""Video I/O: probing, windowed reading, H.264 writing with the driver's audio copied, atomically."""
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from facexpr.errors import InputError
from facexpr.io_video import (NotAVideo, VideoWriter, check_video_output, frame_window, probe, read_frames)


def _write(path, n=12, fps=Fraction(25), size=(96, 64), **kw):
    w = VideoWriter(path, fps, *size, **kw)
    for i in range(n):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        img[:, : (i * 8) % size[0]] = 200
        w.write(img)
    return w.close()


def test_write_probe_read_roundtrip(tmp_path):
    out = _write(tmp_path / "a.mp4")
    info = probe(out)
    assert (info.frames, info.fps, info.width, info.height, info.has_audio) == (12, 25, 96, 64, False)
    frames = list(read_frames(out, 3, 6))
    assert [f.index for f in frames] == [3, 4, 5] and frames[0].image.shape == (64, 96, 3)
    assert not list(tmp_path.glob(".*part*")), "no temp file left beside the output"


def test_abort_leaves_nothing(tmp_path):
    w = VideoWriter(tmp_path / "b.mp4", 25, 64, 64)
    w.write(np.zeros((64, 64, 3), np.uint8))
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_errors(tmp_path):
    (tmp_path / "t.mp4").write_text("not a video")
    with pytest.raises(NotAVideo, match="not a readable video"):
        probe(tmp_path / "t.mp4")
    with pytest.raises(InputError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    with pytest.raises(InputError, match="unknown video output format"):
        check_video_output(tmp_path / "x.avi", [])
    with pytest.raises(InputError, match="does not exist"):
        check_video_output(tmp_path / "nope" / "x.mp4", [])


def test_window(tmp_path):
    info = probe(_write(tmp_path / "c.mp4", n=50))
    assert frame_window(info, 0.4, 1.2) == (10, 30)
    assert frame_window(info, None, None, 7) == (0, 7)
    with pytest.raises(InputError):
        frame_window(info, 5.0, None)


@pytest.mark.data
def test_audio_copied_in_sync(tmp_path, shared_data):
    from _support import data_file

    drv = data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")
    info = probe(drv)
    out = _write(tmp_path / "d.mp4", n=48, fps=info.fps, audio_from=drv, audio_window=(2.0, 2.0 + 48 / info.fps))
    import av

    with av.open(str(out)) as c:
        assert c.streams.audio, "the driver's audio stream is copied"
        a = c.streams.audio[0]
        pk = [p for p in c.demux(a) if p.size]
        t0 = float(pk[0].pts * a.time_base)
        t1 = float((pk[-1].pts + pk[-1].duration) * a.time_base)
    assert abs(t0) < 0.05 and abs((t1 - t0) - 48 / info.fps) < 1 / float(info.fps) + 0.05
