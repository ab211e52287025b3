"""Does a transfer carry the source's expression at full strength? The product's own reading
(``facexpr analyze``'s code: the learned reader, mirror pass) of the output against the source.

Each London neutral photo of the chosen split is edited to each basic emotion (``facexpr edit
--emotion``) and transferred onto the next person of the split. Per region, the *read-back* is the
projection of the output's change (output − target) on the change asked for (source − target),
pooled over pairs: 1 = the output reads exactly as strongly as the source, 0.5 = half. No judge
(face-api, FER, dlib) is involved: this measures the pipeline against its own reading, the
property "the brows, lids, nose and lip corners reach the target as strongly as the smile".

    .venv/bin/python benchmarks/transfer_strength.py                    # train split (ids of the first 60), every 5th
    .venv/bin/python benchmarks/transfer_strength.py --split unseen --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("FACEXPR_DATA") or REPO.parent / "shared" / "data")
EMOTIONS = ("angry", "sad", "fear", "disgust", "surprise", "happy")
REGIONS = {
    "brows": ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "lids": ("eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "cheekSquintLeft", "cheekSquintRight"),
    "nose": ("noseSneerLeft", "noseSneerRight"),
    "mouth": ("mouthFrownLeft", "mouthFrownRight", "mouthPressLeft", "mouthPressRight", "mouthStretchLeft",
              "mouthStretchRight", "mouthShrugLower", "mouthDimpleLeft", "mouthDimpleRight"),
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
}
TRAIN_IDS = 60  # the documented fitting split: London ids of the first 60


def people(split: str, every: int) -> list[Path]:
    neutral = DATA / "london" / "neutral"
    if not neutral.is_dir():
        sys.exit(f"transfer_strength: no London set at {neutral} (set FACEXPR_DATA)")
    ids = sorted({p.name[:3] for p in neutral.glob("*_03.jpg")})
    chosen = ids[:TRAIN_IDS] if split == "train" else ids[TRAIN_IDS:] if split == "unseen" else ids
    return [neutral / f"{i}_03.jpg" for i in chosen[::every]]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", choices=("train", "unseen", "all"), default="train")
    ap.add_argument("--every", type=int, default=5, help="every n-th person of the split")
    ap.add_argument("--method", default="warp")
    ap.add_argument("--json", type=Path, help="write the table here too")
    args = ap.parse_args()

    import facexpr
    from facexpr.expression.blendshapes import INDEX

    faces = people(args.split, args.every)
    if len(faces) < 2:
        sys.exit("transfer_strength: fewer than two people in that split")
    sums = {(e, r): [0.0, 0.0] for e in EMOTIONS for r in REGIONS}
    t0 = time.perf_counter()
    for k, src_path in enumerate(faces):
        tgt_path = faces[(k + 1) % len(faces)]
        target = facexpr.analyze(tgt_path)[0].blendshapes.astype(np.float64)
        for e in EMOTIONS:
            source = facexpr.edit(src_path, emotion=e).image
            out = facexpr.transfer(source, tgt_path, method=args.method).image
            s, o = (facexpr.analyze(x)[0].blendshapes.astype(np.float64) for x in (source, out))
            for r, names in REGIONS.items():
                ix = [INDEX[n] for n in names]
                asked, got = s[ix] - target[ix], o[ix] - target[ix]
                sums[(e, r)][0] += float(got @ asked)
                sums[(e, r)][1] += float(asked @ asked)
    ratio = lambda a, b: round(a / b, 3) if b > 1e-9 else None
    table = {e: {r: ratio(*sums[(e, r)]) for r in REGIONS} for e in EMOTIONS}
    overall = {r: ratio(sum(sums[(e, r)][0] for e in EMOTIONS), sum(sums[(e, r)][1] for e in EMOTIONS)) for r in REGIONS}
    print(f"read-back (1 = the output reads as strongly as the source), {args.method}, {args.split} split, "
          f"{len(faces)} people x {len(EMOTIONS)} emotions, {time.perf_counter() - t0:.0f} s")
    print("| emotion | " + " | ".join(REGIONS) + " |")
    print("|---|" + "---:|" * len(REGIONS))
    for e in EMOTIONS:
        print(f"| {e} | " + " | ".join("—" if v is None else f"{v:.2f}" for v in table[e].values()) + " |")
    print("| **all** | " + " | ".join("—" if v is None else f"**{v:.2f}**" for v in overall.values()) + " |")
    if args.json:
        args.json.write_text(json.dumps({"split": args.split, "people": len(faces), "method": args.method,
                                         "overall": overall, "per_emotion": table}, indent=1))


if __name__ == "__main__":
    main()
