"""Per-stage latency of one transfer at several image sizes (models loaded once, warm).

    .venv/bin/python benchmarks/latency.py [--sizes 512 1350] [--repeats 5] [--method warp]

Images are the London pair 001 (target) / 041 (source) resized so the long side is each size.
Prints the median milliseconds per stage (``analyze`` runs the two photos at once, so it is the
longer of the two, not their sum) and the machine's load average before and after: timings are
only comparable on a quiet machine (run it under ``flock /work/timing.lock`` where others share it).
"""
from __future__ import annotations

import argparse
import os
import platform
from statistics import median

import cv2

import facexpr
from facexpr.datasets import data_root
from facexpr.io import load_image


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1350])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--method", default="warp")
    args = ap.parse_args()
    root = data_root() / "london"
    src0, tgt0 = load_image(root / "smiling/041_08.jpg"), load_image(root / "neutral/001_03.jpg")
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"opencv threads {cv2.getNumThreads()}, load average {os.getloadavg()[0]:.2f}")
    for size in args.sizes:
        def resized(a):
            s = size / max(a.shape[:2])
            return cv2.resize(a, (round(a.shape[1] * s), round(a.shape[0] * s)), interpolation=cv2.INTER_AREA)
        src, tgt = resized(src0), resized(tgt0)
        facexpr.transfer(src, tgt, method=args.method)  # warm-up
        runs = [facexpr.transfer(src, tgt, method=args.method).timings for _ in range(args.repeats)]
        stages = {k: median(r.get(k, 0.0) for r in runs) for k in runs[0]}
        total = median(sum(r.values()) for r in runs)
        print(f"{size:5d} px  " + "  ".join(f"{k} {v:6.1f}" for k, v in stages.items()) + f"  | total {total:6.1f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
