"""Does ``facexpr animate`` carry the driver's expression? face-api (a judge only: nothing is tuned
on it) reads every ``--every``-th frame of the driving clip and of the animated output, and we
count, per emotion the driver shows, how often the output shows the same one.

    .venv/bin/python benchmarks/animate_emotion.py                        # Pexels clip onto London 005
    .venv/bin/python benchmarks/animate_emotion.py --variant first=--reference-frame=0 --json docs/results/animate_emotion.json

Each ``--variant NAME=ARGS`` is one more ``facexpr animate`` run with those options (comma-separated,
``--opt=value``), e.g. ``first=--reference-frame=0`` for the old default (the clip's first frame)
and ``absolute=--absolute``. ``default`` (no options) always runs. Frames where MediaPipe finds no
face in the driver or the output are left out (the driver's hand covers her face for a while).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEXPR_DATA") or REPO.parent / "shared" / "data")


def read_labels(path: Path, every: int) -> dict[int, str]:
    """face-api's label of every ``every``-th frame (frame index → emotion), faces by MediaPipe."""
    from facexpr.evaluate.judges.emotion_faceapi import EMOTIONS, get_faceapi_emotion
    from facexpr.faces.landmarks import analyze_faces
    from facexpr.io_video import read_frames

    judge = get_faceapi_emotion()
    out = {}
    for fr in read_frames(path):
        if fr.index % every:
            continue
        faces = analyze_faces(fr.image)
        if faces:
            p = judge.classify_face(fr.image, max(faces, key=lambda f: f.size).xy)
            out[fr.index] = EMOTIONS[int(np.argmax(p))]
    return out


def agreement(driver: dict[int, str], output: dict[int, str]) -> dict:
    both = sorted(set(driver) & set(output))
    per = {}
    for emo, n in sorted(Counter(driver[i] for i in both).items(), key=lambda kv: -kv[1]):
        same = sum(1 for i in both if driver[i] == emo and output[i] == emo)
        per[emo] = {"driver_frames": n, "output_same": same, "rate": round(same / n, 3)}
    overall = sum(1 for i in both if driver[i] == output[i]) / max(len(both), 1)
    return {"frames_read": len(both), "overall": round(overall, 3), "per_emotion": per,
            "output_labels": dict(Counter(output[i] for i in both))}


def animate(photo: Path, video: Path, out: Path, opts: list[str]) -> dict:
    report = out.with_suffix(".json")
    cmd = [sys.executable, "-m", "facexpr.cli", "animate", str(photo), "--driving", str(video), "-o", str(out),
           "--report", str(report), *opts]
    subprocess.run(cmd, check=True, env=os.environ | {"PYTHONPATH": str(REPO / "src")})
    return json.loads(report.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--video", default="video/WolfgangLanger_Pexels.mp4")
    ap.add_argument("--photo", default="london/neutral/005_03.jpg")
    ap.add_argument("--every", type=int, default=10)
    ap.add_argument("--variant", action="append", default=[], help="NAME=--opt,--opt=value (another run)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    photo, video = DATA / args.photo, DATA / args.video
    if not photo.is_file() or not video.is_file():
        print(f"shared data not found under {DATA} (set FACEXPR_DATA)", file=sys.stderr)
        return 2
    variants = {"default": []}
    for v in args.variant:
        name, _, opts = v.partition("=")
        variants[name] = [o for o in opts.split(",") if o]
    driver = read_labels(video, args.every)
    report = {"video": args.video, "photo": args.photo, "every": args.every, "judge": "face-api (evaluation only)",
              "driver_labels": dict(Counter(driver.values())), "runs": {}}
    with tempfile.TemporaryDirectory() as d:
        for name, opts in variants.items():
            out = Path(d) / f"{name}.mp4"
            summary = animate(photo, video, out, opts)
            r = agreement(driver, read_labels(out, args.every))
            r |= {"options": opts, "jitter": summary.get("jitter"), "frames_per_s": summary.get("frames_per_s")}
            report["runs"][name] = r
            print(json.dumps({name: r}), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
