"""The foundation's London bars: every pair gives a face, *happy* share (face-api), identity kept
(dlib distance to the ground truth < 0.6), blendshape movement vs the source's own movement, and
the batch wall time with models loaded once.

    .venv/bin/python benchmarks/london.py [--method warp] [--limit N] [--save DIR]

Reported for all 102 pairs and for the *unseen* targets (outside the expression model's fitting
split). ``facexpr evaluate`` is the full evaluation; this script is the quick check of the bars.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import facexpr
from facexpr.datasets import data_root, london
from facexpr.evaluate.judges.emotion_faceapi import EMOTIONS, get_faceapi_emotion
from facexpr.faces.identity import get_dlib_identity
from facexpr.expression.blendshapes import region_mask
from facexpr.expression.analysis import analyze_faces  # analysed faces: codes comparable with the results'
from facexpr.io import load_image, save_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--method", default="warp")
    ap.add_argument("--intensity", type=float, default=1.0)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--save", type=Path)
    args = ap.parse_args()
    pairs = london.benchmark_pairs(data_root())[: args.limit]
    # warm-up: models load once, outside the timed loop
    facexpr.transfer(pairs[0].source, pairs[0].target, method=args.method)
    t0 = time.perf_counter()
    outputs = []
    for p in pairs:
        outputs.append(facexpr.transfer(p.source, p.target, method=args.method, intensity=args.intensity))
        if args.save:
            args.save.mkdir(parents=True, exist_ok=True)
            save_image(outputs[-1].image, args.save / f"{p.id}.png")
    wall = time.perf_counter() - t0

    emo, ident = get_faceapi_emotion(), get_dlib_identity()
    happy = EMOTIONS.index("happy")
    mask = region_mask().astype(bool)
    rows = []
    for p, r in zip(pairs, outputs):
        faces = analyze_faces(r.image)
        gt = load_image(p.gt)
        row = {"unseen": p.unseen, "face": bool(faces), "happy": False, "id_ok": False, "corr": np.nan}
        if faces:
            probs = emo.classify_face(r.image, faces[0].xy)
            row["happy"] = int(np.argmax(probs)) == happy
            e_out, e_gt = ident.embed(r.image, faces[0].bbox), ident.embed(gt)
            if e_out is not None and e_gt is not None:
                row["dist"] = ident.distance(e_out, e_gt)
                row["id_ok"] = row["dist"] < 0.6
            src_neutral = analyze_faces(load_image(p.source_neutral))[0]
            want = (r.source_face.blendshapes - src_neutral.blendshapes)[mask]
            got = (faces[0].blendshapes - r.target_face.blendshapes)[mask]
            row["corr"] = float(np.corrcoef(want, got)[0, 1])
            row["gain"] = float(np.dot(got, want) / max(np.dot(want, want), 1e-9))
        rows.append(row)

    def summary(sel, name):
        n = len(sel)
        if not n:
            return
        f = lambda k: 100.0 * sum(r[k] for r in sel) / n
        corr = np.nanmean([r["corr"] for r in sel])
        gain = np.nanmean([r.get("gain", np.nan) for r in sel])
        print(f"{name:7s} n={n:3d}  face {f('face'):5.1f}%  happy {f('happy'):5.1f}%  "
              f"identity<0.6 {f('id_ok'):5.1f}%  blendshape corr {corr:.2f}  gain {gain:.2f}")

    print(f"method={args.method} intensity={args.intensity}: {len(pairs)} pairs in {wall:.1f} s "
          f"({len(pairs) / wall:.2f} pairs/s, models loaded once)")
    summary(rows, "all")
    summary([r for r in rows if r["unseen"]], "unseen")


if __name__ == "__main__":
    main()
