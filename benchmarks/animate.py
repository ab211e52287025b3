"""Speed and quality of ``facexpr animate``: frames/s end to end (decode → track → render → encode),
a per-stage profile, and — with ``--check`` — what a usable animation must keep, on every shared video:
frame count and rate equal to the driver's, audio present when the driver has sound (duration
within one frame), identity kept on sampled frames (dlib judge, distance < 0.6), and jitter of the
output (MediaPipe on the rendered frames) with and without One-Euro filtering.

    .venv/bin/python benchmarks/animate.py                       # speed: WolfgangLanger, 512 px, warp
    .venv/bin/python benchmarks/animate.py --check --json docs/results/animate.json

Each stage's time is summed over frames on its own thread, so stages overlap: on 2 cores the
wall-clock rate is set by the busiest resource, not by the sum.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEXPR_DATA") or REPO.parent / "shared" / "data")
PHOTO = "london/neutral/010_03.jpg"


def stage_alone(photo, video, n: int = 60, size: int = 512) -> dict:
    """Each stage run alone, one thread, ms per frame: what a frame costs without overlap (with
    one BLAS thread, as the animation itself runs: facexpr.threads.one_blas_thread)."""
    from facexpr.threads import one_blas_thread

    with one_blas_thread():
        return _stage_alone(photo, video, n, size)


def _stage_alone(photo, video, n: int, size: int) -> dict:
    import facexpr
    from facexpr.animation import VideoTracker
    from facexpr.io_video import VideoWriter, read_frames

    anim = facexpr.animate(photo, video, max_frames=n, size=size)
    t = time.perf_counter()
    frames = [f.image for f in read_frames(video, 0, n)]
    decode = (time.perf_counter() - t) * 1000 / n
    tr = VideoTracker()
    tr(frames[0], 0)  # start-up
    tr = VideoTracker()
    t = time.perf_counter()
    faces = [tr(f, i * 40) for i, f in enumerate(frames)]
    track = (time.perf_counter() - t) * 1000 / n
    codes = [np.zeros(52) if f is None else f.blendshapes - anim.reference for f in faces]
    t = time.perf_counter()
    rts = [anim._geometry(anim._delta(c), np.zeros(3), None, 0) for c in codes]
    retarget = (time.perf_counter() - t) * 1000 / n
    t = time.perf_counter()
    outs = [anim._render(anim._delta(c), np.zeros(3), rt, frames[i], faces[i] or anim.face)[0]
            for i, (c, rt) in enumerate(zip(codes, rts))]
    render = (time.perf_counter() - t) * 1000 / n
    with tempfile.TemporaryDirectory() as d:
        w = VideoWriter(Path(d) / "x.mp4", 25, anim.width, anim.height)
        t = time.perf_counter()
        for o in outs:
            w.write(o)
        w.close()
        encode = (time.perf_counter() - t) * 1000 / n
    ms = {"decode": decode, "track": track, "retarget": retarget, "render+paste": render, "encode": encode}
    return {k: round(v, 2) for k, v in ms.items()} | {"sum": round(sum(ms.values()), 2)}


def speed(photo, video, frames: int, size: int, method: str) -> dict:
    import facexpr

    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        s = facexpr.animate_to_file(photo, video, Path(d) / "out.mp4", max_frames=frames, size=size, method=method)
        s["wall_s_incl_setup"] = round(time.perf_counter() - t, 2)
    return s


def output_jitter(path, window) -> float:
    """MediaPipe's landmarks on the rendered frames of ``window``: mean frame-to-frame motion / face size."""
    from facexpr.animation import motion
    from facexpr.faces.landmarks import analyze_faces
    from facexpr.io_video import read_frames

    i, j = window
    xy = [analyze_faces(f.image)[0].xy for f in read_frames(path, i, j)]
    return float(motion(xy, float(np.ptp(xy[0][:, 1]))).mean())


def check(photo, video: Path, out_dir: Path, max_frames: int | None, n_identity: int = 8) -> dict:
    import av

    import facexpr
    from facexpr.faces import identity as identity_dlib
    from facexpr.io import load_image
    from facexpr.io_video import probe, read_frames

    drv = probe(video)
    res = {"video": video.name, "driver_frames": drv.frames, "driver_fps": float(drv.fps),
           "driver_audio": drv.has_audio, "max_frames": max_frames}
    outs = {}
    for smooth in (True, False):
        out = out_dir / f"{video.stem}_{'filtered' if smooth else 'unfiltered'}.mp4"
        s = facexpr.animate_to_file(photo, video, out, max_frames=max_frames, smooth=smooth)
        outs[smooth] = (out, s)
    out, s = outs[True]
    info = probe(out)
    expect = min(drv.frames, max_frames or drv.frames)
    res |= {"frames": info.frames, "frames_ok": info.frames == expect, "fps": float(info.fps),
            "fps_ok": info.fps == drv.fps, "audio": info.has_audio, "frames_per_s": s["frames_per_s"],
            "lost_frames": s["lost_frames"], "stage_ms_per_frame": s["stage_ms_per_frame"]}
    if info.has_audio:
        with av.open(str(out)) as c:
            a = c.streams.audio[0]
            pk = [p for p in c.demux(a) if p.size]
            audio_len = float((pk[-1].pts + pk[-1].duration - pk[0].pts) * a.time_base)
        res["audio_duration_s"] = round(audio_len, 3)
        res["video_duration_s"] = round(info.frames / float(info.fps), 3)
        res["duration_within_one_frame"] = abs(audio_len - info.frames / float(info.fps)) <= 1 / float(info.fps)
    # identity: the photo vs sampled output frames
    judge = identity_dlib.get_dlib_identity()
    ref = judge.embed(load_image(photo))
    idx = set(np.linspace(0, info.frames - 1, n_identity).astype(int).tolist())
    dists = []
    for f in read_frames(out):
        if f.index in idx:
            e = judge.embed(f.image)
            dists.append(judge.distance(ref, e) if e is not None else float("inf"))
    res["identity_distances"] = [round(d, 3) for d in dists]
    res["identity_kept"] = round(float(np.mean([d < 0.6 for d in dists])), 3)
    jw = s["jitter"]
    if jw:
        w = jw["window"]
        res["jitter_window"] = w
        res["jitter_geometry"] = {"driver": jw["driver"], "filtered": jw["output_filtered"],
                                  "unfiltered": jw["output_unfiltered"]}
        res["jitter_output_measured"] = {"filtered": round(output_jitter(outs[True][0], w), 6),
                                         "unfiltered": round(output_jitter(outs[False][0], w), 6)}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default="video/WolfgangLanger_Pexels.mp4")
    ap.add_argument("--photo", default=PHOTO)
    ap.add_argument("--frames", type=int, default=240)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--method", default="warp")
    ap.add_argument("--check", action="store_true", help="the issue's bars on every shared video")
    ap.add_argument("--cap", type=int, default=300, help="--check: frames per long video (WolfgangLanger: all)")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args()
    photo, video = DATA / args.photo, DATA / args.video
    if not photo.is_file() or not video.is_file():
        print(f"shared data not found under {DATA} (set FACEXPR_DATA)", file=sys.stderr)
        return 2
    report = {"photo": args.photo, "size": args.size, "method": args.method, "cpus": os.cpu_count()}
    report["stages_alone_ms_per_frame"] = stage_alone(photo, video, 60, args.size)
    report["pipeline"] = speed(photo, video, args.frames, args.size, args.method)
    print(json.dumps({k: report[k] for k in ("stages_alone_ms_per_frame", "pipeline")}, indent=1))
    if args.check:
        report["videos"] = []
        with tempfile.TemporaryDirectory() as d:
            for v in sorted((DATA / "video").glob("*.mp4")):
                cap = None if v.name.startswith("WolfgangLanger") else args.cap
                r = check(photo, v, Path(d), cap)
                print(json.dumps(r), flush=True)
                report["videos"].append(r)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
