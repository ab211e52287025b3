"""Server-side cost of one live frame, by stage, without a browser: a
:class:`~facexpr.web.live_session.LiveSession` on London 010 fed the Pexels clip's frames as a
camera would (640x360, JPEG in, JPEG out), timed per frame.

    .venv/bin/python benchmarks/live.py [--frames 200] [--size 512] [--json out.json]

Stages: ``decode`` (the camera's JPEG), ``track`` (MediaPipe + the expression reading),
``follow+retarget`` (reference, One-Euro, hold/ease, retargeting), ``render`` (warp + paste) and
``encode`` (the JPEG sent back), with the same decode/encode and the same one-thread OpenBLAS as the
server (:mod:`facexpr.web.live_ws`; ``--blas-threads N`` to compare). ``cpu_ms_per_frame`` is the
whole process's CPU time per frame, every thread counted (MediaPipe's, OpenBLAS's): on a 2-core
machine that also serves the browser, that is what limits the frame rate, not the wall time. The capture → shown latency in a browser is measured by
``tests/web/test_live.py`` (``FACEXPR_LIVE_SECONDS=60 pytest -s``); this is the part of it spent
in the server, and the frame rate one session could reach if it had a core to itself.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEXPR_DATA") or REPO.parent / "shared" / "data")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photo", default="london/neutral/010_03.jpg")
    ap.add_argument("--video", default="video/WolfgangLanger_Pexels.mp4")
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--blas-threads", type=int, default=1, help="OpenBLAS threads (the server uses 1)")
    args = ap.parse_args()
    photo, video = DATA / args.photo, DATA / args.video
    if not photo.is_file() or not video.is_file():
        print(f"shared data not found under {DATA} (set FACEXPR_DATA)", file=sys.stderr)
        return 2
    import facexpr.web.live_session as ls
    from facexpr.io import load_image
    from facexpr.io_video import read_frames
    from facexpr.web.live_ws import decode_frame, encode_frame

    t = time.perf_counter()
    s = ls.LiveSession(load_image(photo), ls.LiveConfig(size=args.size))
    setup = (time.perf_counter() - t) * 1000
    jpegs = [cv2.imencode(".jpg", f.image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 92])[1]
             for f in read_frames(video, 250, 250 + args.frames)]
    rig = s.rig
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.blas_threads, user_api="blas")
    stages = {k: [] for k in ("decode", "track", "follow+retarget", "render", "encode", "total")}
    now = 0.0
    cpu = 0.0
    for k, buf in enumerate(jpegs):
        if k == 10:
            cpu = time.process_time()
        t0 = time.perf_counter()
        rgb = decode_frame(buf.tobytes())
        t1 = time.perf_counter()
        face = s._track(rgb, now)
        t2 = time.perf_counter()
        code, rot = s._follow(now, face)
        if face is not None:
            s._last_good = (rgb, face)
        delta = rig._delta(code)
        rt = rig._geometry(delta, rot, s._f_geo, now)
        t3 = time.perf_counter()
        d_img, d_face = s._last_good or (rig.photo, rig.face)
        img, _, _ = rig._render(delta, rot, rt, d_img, d_face)
        t4 = time.perf_counter()
        encode_frame(ls.add_stamp(img, k), 85)
        t5 = time.perf_counter()
        now += 1 / 30
        if k >= 10:  # warm
            for name, a, b in (("decode", t0, t1), ("track", t1, t2), ("follow+retarget", t2, t3),
                               ("render", t3, t4), ("encode", t4, t5), ("total", t0, t5)):
                stages[name].append((b - a) * 1000)
    cpu_ms = (time.process_time() - cpu) * 1000 / max(len(jpegs) - 10, 1)
    s.close()
    table = {k: {"median_ms": round(float(np.median(v)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2)}
             for k, v in stages.items()}
    report = {"photo": args.photo, "size": args.size, "frames": len(stages["total"]), "setup_ms": round(setup, 1),
              "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0], "stages": table,
              "fps_one_core": round(1000 / table["total"]["median_ms"], 1),
              "blas_threads": args.blas_threads, "cpu_ms_per_frame": round(cpu_ms, 1)}
    print(json.dumps(report, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
