"""The Live tab's WebSocket transport without a browser (Starlette's test client): frames in,
stamped frames out, every frame answered once, drops instead of a queue, bad frames and bad tokens
refused without an error, and camera frames size-capped."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from _support import data_file

pytestmark = [pytest.mark.data]
pytest.importorskip("starlette")


def _jpeg(rgb: np.ndarray, q: int = 80) -> bytes:
    return cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, q])[1].tobytes()


@pytest.fixture(scope="module")
def frames(shared_data):
    from facexpr.io_video import read_frames

    src = data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")
    return [f.image for f in read_frames(src, 250, 262)]


@pytest.fixture
def app(target_img):
    from starlette.applications import Starlette

    from facexpr.web.live_session import LiveConfig, LiveSession, Registry
    from facexpr.web.live_ws import LiveTransport, TransportConfig

    reg = Registry()
    s = reg.add(LiveSession(target_img, LiveConfig()), "page-1")
    tr = LiveTransport(TransportConfig(max_sessions=2), reg)
    yield Starlette(routes=tr.routes()), s, reg
    s.close()
    tr.pool.shutdown()


def _answers(ws, n: int) -> tuple[list[bytes], int, list[str]]:
    """Read messages until ``n`` frames are answered: (pictures, drops, status lines)."""
    pics, drops, status = [], 0, []
    while len(pics) + drops < n:
        m = ws.receive()
        if m.get("bytes") is not None:
            pics.append(m["bytes"])
            continue
        msg = json.loads(m["text"])
        drops += msg.get("drop", 0)
        if "status" in msg:
            status.append(msg["status"])
    return pics, drops, status


def test_frames_come_back_stamped_and_every_frame_is_answered(app, frames):
    from starlette.testclient import TestClient

    from facexpr.web.live_session import STAMP_HEIGHT, draw_stamp, read_stamp
    from facexpr.web.live_ws import PATH

    starlette_app, s, _ = app
    with TestClient(starlette_app) as client:  # nothing is sent anywhere: the app runs in-process
        with client.websocket_connect(f"{PATH}?token={s.token}") as ws:
            f = frames[0].copy()
            draw_stamp(f, 4242)
            ws.send_bytes(_jpeg(f))
            (pic,), drops, _ = _answers(ws, 1)
            out = cv2.cvtColor(cv2.imdecode(np.frombuffer(pic, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            assert out.shape == (s.photo.shape[0] + STAMP_HEIGHT, s.photo.shape[1], 3) and drops == 0
            assert read_stamp(out, s.photo.shape[0]) == 4242 and s.log[-1].stamp == 4242
            status = json.loads(ws.receive()["text"])["status"]  # the server's figures follow the picture
            assert status.startswith("server:") and "frames/s" in status and "face tracked" in status
            # a burst, faster than the session renders: each frame answered once, as a picture or
            # a drop, and the session renders far fewer than it was sent (newest kept, never queued)
            before = s.frames
            for i, img in enumerate(frames[1:] * 3):
                g = img.copy()
                draw_stamp(g, i)
                ws.send_bytes(_jpeg(g))
            n = len(frames[1:]) * 3
            pics, drops, _ = _answers(ws, n)
            assert len(pics) + drops == n and drops > 0 and s.frames - before == len(pics)
            assert read_stamp(cv2.imdecode(np.frombuffer(pics[-1], np.uint8), cv2.IMREAD_COLOR),
                              s.photo.shape[0]) == n - 1  # the last frame sent is always rendered
            # not a JPEG: answered as a drop with a reason, the connection goes on
            ws.send_bytes(b"not a jpeg")
            m = json.loads(ws.receive()["text"])
            assert m["drop"] == 1 and "not a readable JPEG" in m["error"]
            ws.send_bytes(_jpeg(frames[0]))
            pics, drops, _ = _answers(ws, 1)
            assert len(pics) == 1


def test_unknown_tokens_and_other_sites_are_refused(app):
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    from facexpr.web.live_ws import PATH

    starlette_app, s, reg = app
    with TestClient(starlette_app) as client:  # nothing is sent anywhere: the app runs in-process
        for url, headers in ((f"{PATH}?token=nope", {}), (PATH, {}), (f"{PATH}?token=%C3%A9", {}),
                             (f"{PATH}?token={s.token}", {"origin": "http://evil.invalid"})):
            with pytest.raises(WebSocketDisconnect):
                with client.websocket_connect(url, headers=headers) as ws:
                    ws.receive()
        with client.websocket_connect(f"{PATH}?token={s.token}", headers={"origin": "http://testserver"}) as ws:
            pass  # the page's own origin is let in
        # a closed session (its photo replaced): its token no longer connects
        s.close()
        with pytest.raises(WebSocketDisconnect):
            with client.websocket_connect(f"{PATH}?token={s.token}") as ws:
                ws.receive()


def test_camera_frames_decoded_capped_or_dropped():
    from facexpr.web.live_ws import MAX_FRAME_SIDE, decode_frame, encode_frame

    big = np.zeros((2160, 3840, 3), np.uint8)
    big[:, :, 0] = 200
    img = decode_frame(encode_frame(big, 80))
    assert max(img.shape[:2]) == MAX_FRAME_SIDE and abs(int(img[10, 10, 0]) - 200) < 4  # RGB kept
    for bad in (b"", b"not a jpeg", b"\xff\xd8\xff" + b"\0" * 100):
        assert decode_frame(bad) is None


def test_viewers_beyond_max_sessions_wait_for_a_slot(target_img, frames):
    """With one slot, a second viewer is told to wait (its frames answered as dropped, none
    queued), and is served as soon as the first leaves."""
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from facexpr.web.live_session import LiveConfig, LiveSession, Registry
    from facexpr.web.live_ws import PATH, LiveTransport, TransportConfig

    reg = Registry()
    a = reg.add(LiveSession(target_img, LiveConfig()), "page-a")
    b = reg.add(LiveSession(target_img, LiveConfig()), "page-b")
    tr = LiveTransport(TransportConfig(max_sessions=1), reg)
    try:
        with TestClient(Starlette(routes=tr.routes())) as client:
            with client.websocket_connect(f"{PATH}?token={a.token}") as wa:
                wa.send_bytes(_jpeg(frames[0]))
                assert len(_answers(wa, 1)[0]) == 1  # the first viewer holds the slot
                wb = client.websocket_connect(f"{PATH}?token={b.token}").__enter__()
                assert "wait" in json.loads(wb.receive_text())
                for f in frames[:3]:
                    wb.send_bytes(_jpeg(f))
                pics, drops, _ = _answers(wb, 2)
                assert pics == [] and drops == 2 and b.frames == 0  # answered, not processed
            # the first viewer left: the waiting one gets the slot and its newest frame is rendered
            pics, drops, _ = _answers(wb, 1)
            assert len(pics) == 1 and b.frames == 1
            wb.__exit__(None, None, None)
    finally:
        a.close()
        b.close()
        tr.pool.shutdown()
