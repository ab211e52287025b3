"""The web app through its HTTP API (gradio_client): results, readable refusals, concurrency."""
from __future__ import annotations

import concurrent.futures as cf
import os

import numpy as np
import pytest

pytestmark = [pytest.mark.data, pytest.mark.slow]
pytest.importorskip("gradio_client")

REGIONS = ["brows", "eyes", "mouth"]


def _img(path):
    from facexpr.io import load_image

    return load_image(path).astype(np.float64)


def test_transfer_changes_the_face(client, source_path, target_path):
    from gradio_client import handle_file

    (before, after), both = client.predict(handle_file(str(source_path)), handle_file(str(target_path)), "warp",
                                           1.0, REGIONS, -1, -1, api_name="/transfer")
    b, a = _img(before), _img(after)
    assert a.shape == b.shape == _img(target_path).shape
    assert np.abs(a - b).mean() > 0.5  # the expression changed
    h, w = a.shape[:2]
    assert np.abs(a - b)[: h // 10, : w // 10].mean() < 2.0  # the background did not (webp noise only)
    assert _img(both).shape[1] > 2 * w


def _app_error(fn):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        fn()
    return str(e.value)


def test_non_image_refused_with_message(client, target_path, tmp_path):
    from gradio_client import handle_file

    bad = tmp_path / "notes.txt"
    bad.write_text("hello, not a picture")
    msg = _app_error(lambda: client.predict(handle_file(str(bad)), handle_file(str(target_path)), "warp", 1.0,
                                            REGIONS, -1, -1, api_name="/transfer"))
    assert "not an image file" in msg and "Traceback" not in msg


def test_60_megapixel_upload_refused(client, target_path, tmp_path):
    from PIL import Image
    from gradio_client import handle_file

    big = tmp_path / "big.png"
    Image.new("RGB", (10000, 6000), (120, 130, 140)).save(big, compress_level=1)  # 60 MP, ~200 kB
    msg = _app_error(lambda: client.predict(handle_file(str(big)), handle_file(str(target_path)), "warp", 1.0,
                                            REGIONS, -1, -1, api_name="/transfer"))
    assert "60 MP" in msg and "limit" in msg


def test_no_face_message(client, no_face_png, target_path):
    from gradio_client import handle_file

    msg = _app_error(lambda: client.predict(handle_file(str(no_face_png)), handle_file(str(target_path)), "warp",
                                            1.0, REGIONS, -1, -1, api_name="/transfer"))
    assert "no face found" in msg


def test_edit_and_analyze(client, target_path):
    from gradio_client import handle_file

    from facexpr.expression.action_units import AUS

    out = client.predict(handle_file(str(target_path)), "AU12=+0.8", "", 1.0, "warp", api_name="/edit")
    assert np.abs(_img(out) - _img(target_path)).mean() > 0.2
    msg = _app_error(lambda: client.predict(handle_file(str(target_path)), "AU99=+1", "", 1.0, "warp",
                                            api_name="/edit"))
    assert "AU99" in msg
    drawn, aus, doc = client.predict(handle_file(str(target_path)), api_name="/analyze")
    assert {c["label"] for c in aus["confidences"]} == {f"AU{a}" for a in AUS}
    assert _img(drawn).shape[1] > _img(target_path).shape[1]  # the AU bars beside the photo
    assert len(doc["faces"]) == 1


def test_animate_returns_mp4(client, server, target_path, short_video):
    from gradio_client import handle_file

    from facexpr.io_video import probe

    res = client.predict(handle_file(str(target_path)), handle_file(str(short_video)), "relative",
                         False, True, 1.0, 24, api_name="/animate")
    path = res["video"] if isinstance(res, dict) else res
    info = probe(path)
    assert info.frames == 24 and info.fps == probe(short_video).fps and info.has_audio


def test_20_concurrent_requests(client, server, gradio_tmp, source_path, target_path, tmp_path):
    """20 requests at once with a concurrency limit of 2: all complete (queued), none errors, no
    temp file of ours is left behind. (512-px copies keep it quick.)"""
    import cv2
    from gradio_client import handle_file

    from facexpr.io import load_image, save_image

    small = []
    for p in (source_path, target_path):
        small.append(save_image(cv2.resize(load_image(p), (512, 512), interpolation=cv2.INTER_AREA),
                                tmp_path / p.name))
    source_path, target_path = small

    scratch = server[1]
    before = set(os.listdir(scratch.dir))

    def one(i):
        out = client.predict(handle_file(str(source_path)), handle_file(str(target_path)), "warp",
                             0.5 + 0.05 * (i % 10), ["mouth"], -1, -1, api_name="/transfer")
        return _img(out[1]).shape

    with cf.ThreadPoolExecutor(20) as pool:
        shapes = list(pool.map(one, range(20)))
    assert len(shapes) == 20 and len(set(shapes)) == 1
    assert set(os.listdir(scratch.dir)) == before, "image requests leave no file in the server's scratch folder"
    assert not [p for p in gradio_tmp.rglob("*") if p.name.endswith(".part") or ".part." in p.name]


def test_examples_made_at_first_start_outside_the_repo(tmp_path, monkeypatch, shared_data):
    from _support import REPO

    from facexpr.web.app import _example_images

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("FACEXPR_DATA", str(shared_data))
    rows = _example_images()
    assert len(rows) == 2 and all(len(r) == 2 for r in rows)
    assert all(str(p).startswith(str(tmp_path)) and not str(p).startswith(str(REPO)) for r in rows for p in r)
    monkeypatch.setenv("FACEXPR_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    assert _example_images() == []


def test_cli_web_defaults_are_local():
    import subprocess

    from _support import facexpr_cmd

    from facexpr.web import WebConfig

    c = WebConfig()
    assert (c.host, c.share) == ("127.0.0.1", False)
    r = subprocess.run(facexpr_cmd() + ["web", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "127.0.0.1" in r.stdout and "--share" in r.stdout


def test_cached_pictures_are_replaced_not_rewritten(server, tmp_path):
    """The same picture returned twice: the second cache write renames a new file into place, so a
    download still reading the first copy gets all of it (Gradio itself truncates and rewrites)."""
    from gradio import processing_utils as pu
    from PIL import Image

    im = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    first = pu.save_pil_to_cache(im, str(tmp_path))
    with open(first, "rb") as reader:
        head = reader.read(10)
        second = pu.save_pil_to_cache(im, str(tmp_path))
        rest = reader.read()
        assert second == first and os.stat(second).st_ino != os.fstat(reader.fileno()).st_ino
    assert len(head + rest) == os.path.getsize(second)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [os.path.basename(first)]
