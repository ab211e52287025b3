"""The live session without a browser: frame stamps through JPEG, the photo following a face,
holding it when the face is lost, the neutral snapshot, and idle sessions freeing their tracker."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from _support import data_file

pytestmark = [pytest.mark.data]


def _jpeg(img: np.ndarray, q: int = 80) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def test_stamps_survive_jpeg_and_are_not_read_from_pictures(target_img):
    from facexpr.web.live_session import STAMP_HEIGHT, add_stamp, draw_stamp, read_stamp

    frame = target_img[:360, :640].copy()
    assert read_stamp(frame) is None  # a real picture is no code
    for n in (0, 1, 12345, 0xFFFF, 0x10001):
        f = frame.copy()
        draw_stamp(f, n)
        assert read_stamp(_jpeg(f, 60)) == n & 0xFFFF
        out = add_stamp(frame, n)
        assert out.shape[0] == frame.shape[0] + STAMP_HEIGHT and np.array_equal(out[:-STAMP_HEIGHT], frame)
        assert read_stamp(_jpeg(out, 60), frame.shape[0]) == n & 0xFFFF


@pytest.fixture(scope="module")
def clip(shared_data):
    from facexpr.io_video import read_frames

    src = data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")
    return {f.index: f.image for f in read_frames(src, 0, 330) if f.index < 12 or f.index >= 300}


@pytest.fixture
def session(target_img):
    from facexpr.web.live_session import LiveConfig, LiveSession

    s = LiveSession(target_img, LiveConfig(stamp=False))
    BOX["box"] = s.rig.face.bbox
    yield s
    s.close()


BOX = {}


def _diff(a, b) -> float:
    """Mean absolute difference over the photo's face box (the rest never changes)."""
    x0, y0, x1, y1 = BOX["box"]
    return float(np.abs(a[y0:y1, x0:x1].astype(float) - b[y0:y1, x0:x1].astype(float)).mean())


def test_photo_follows_holds_and_eases_back(session, clip):
    photo = session.photo
    t = 0.0
    for i in range(12):  # the first frames become the reference: the photo keeps its expression
        out, log = session.process(clip[i], now=t)
        t += 1 / 30
    still = _diff(out, photo)
    print("still", still)
    assert log.found and still < 2.5
    for i in range(300, 330):  # laughing
        out, _ = session.process(clip[i], now=t)
        t += 1 / 30
    moved = _diff(out, photo)
    print("moved", moved)
    assert moved > 2 * still + 1.0, (moved, still)
    blank = np.full_like(clip[0], 90)
    held, log = session.process(blank, now=t + 0.5)  # lost for 0.5 s: held
    assert not log.found and _diff(held, out) < 0.3
    for k in range(1, 40):  # lost for 4 s: decays towards the photo's own expression
        late, _ = session.process(blank, now=t + 0.5 + k * 0.1)
    print("held", _diff(held, out), "late", _diff(late, photo))
    assert _diff(late, photo) < 0.5 * moved
    back, log = session.process(clip[329], now=t + 4.6)  # back: eased in, not a jump
    print("back", _diff(back, late), _diff(out, late))
    assert log.found and _diff(back, late) < 0.5 * _diff(out, late)


def test_neutral_snapshot_resets_the_reference(session, clip):
    t = 0.0
    for i in [*range(12), *range(300, 315)]:
        out, _ = session.process(clip[i], now=t)
        t += 1 / 30
    print("laugh", _diff(out, session.photo))
    assert _diff(out, session.photo) > 2.0  # laughing against the automatic reference
    session.snapshot()
    assert session.reference_kind == "taking snapshot"
    for _ in range(30):  # the same laughing frame, now declared neutral: the motion goes back to 0
        out, _ = session.process(clip[315], now=t)
        t += 1 / 30
    assert session.reference_kind == "snapshot"
    print("after snapshot", _diff(out, session.photo))
    assert _diff(out, session.photo) < 0.6


def test_idle_sessions_free_their_tracker(target_img, clip):
    from facexpr.web.live_session import LiveConfig, LiveSession, Registry

    # long limits while frames are processed (the registry's own reaper sweeps every 5 s), then
    # sweeps by hand as if the session had been idle past them
    reg = Registry(idle_release=3600.0, idle_close=3600.0)
    s = reg.add(LiveSession(target_img, LiveConfig()))
    s.process(clip[0])
    assert s._tracker is not None
    reg.idle_release = 0.0
    reg.sweep()
    assert s._tracker is None and not s.closed  # released, still open
    reg.idle_release = 3600.0
    out, log = s.process(clip[1])  # the next frame rebuilds it
    assert log.found and s._tracker is not None
    reg.idle_close = 0.0
    reg.sweep()
    assert s.closed and reg.open_sessions() == []
    with pytest.raises(RuntimeError):
        s.process(clip[2])


def test_live_command_rejects_bad_options():
    import subprocess

    from _support import facexpr_cmd

    r = subprocess.run(facexpr_cmd() + ["live", "--max-sessions", "0", "--no-open"], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("facexpr: error: --max-sessions")
    assert "Traceback" not in r.stderr


def test_a_page_keeps_one_session(target_img):
    """Two quick photo changes on one page: the earlier session is closed, not orphaned."""
    from facexpr.web.live_session import LiveConfig, LiveSession, Registry

    reg = Registry()
    a = reg.add(LiveSession(target_img, LiveConfig()), "page-1")
    other = reg.add(LiveSession(target_img, LiveConfig()), "page-2")
    b = reg.add(LiveSession(target_img, LiveConfig()), "page-1")
    assert a.closed and not b.closed and not other.closed
    assert reg.current("page-1") is b and reg.current("page-2") is other and reg.current("page-3") is None
    # each session has its own token, and only an open session's token finds it
    assert len({a.token, b.token, other.token}) == 3
    assert reg.by_token(b.token) is b and reg.by_token(a.token) is None and reg.by_token("") is None
