"""One facexpr web server per test session (a free port, its own Gradio temp folder), shared by
the gradio_client API tests and the browser tests."""
from __future__ import annotations

import os
import socket
import time

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def gradio_tmp(tmp_path_factory):
    d = tmp_path_factory.mktemp("gradio")
    os.environ["GRADIO_TEMP_DIR"] = str(d)
    return d


@pytest.fixture(scope="session")
def server(gradio_tmp, shared_data):
    pytest.importorskip("gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("FACEXPR_DATA", str(shared_data))
    from facexpr.web import WebConfig, launch

    port = _free_port()
    demo, scratch = launch(WebConfig(port=port, concurrency=2, timeout=240, examples=False), block=False)
    url = f"http://127.0.0.1:{port}/"
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield url, scratch, demo
    demo.close()
    scratch.close()


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    return Client(server[0], verbose=False)


@pytest.fixture(scope="session")
def no_face_png(tmp_path_factory):
    """A photo without a face: smooth coloured noise (generated, nothing from the shared data)."""
    import numpy as np

    from facexpr.io import save_image

    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (24, 32, 3)).astype(np.uint8)
    import cv2

    img = cv2.resize(img, (640, 480), interpolation=cv2.INTER_CUBIC)
    return save_image(img, tmp_path_factory.mktemp("noface") / "landscape.png")


@pytest.fixture(scope="session")
def short_video(tmp_path_factory, shared_data):
    """The first 24 frames (1 s, with sound) of the shared driving video, for quick animate runs."""
    from _support import data_file

    from facexpr.io_video import VideoWriter, probe, read_frames

    src = data_file(shared_data, "video/WolfgangLanger_Pexels.mp4")
    info = probe(src)
    out = tmp_path_factory.mktemp("video") / "driver.mp4"
    w = VideoWriter(out, info.fps, info.width, info.height, audio_from=src, audio_window=(10.0, 11.0))
    for f in read_frames(src, 240, 264):
        w.write(f.image)
    return w.close()
