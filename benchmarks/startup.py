"""Start-up cost of the command line: `facexpr --help` (wall and CPU seconds, median of warm runs)
and what `import facexpr.cli` loads (from ``python -X importtime``).

    .venv/bin/python benchmarks/startup.py [--runs 10] [--command edit]

The bar: `facexpr --help` in at most 0.5 s warm, with no torch (nor NumPy, MediaPipe, OpenCV) in the
import report. Wall time depends on the machine's load, so the CPU time and the load are printed
beside it.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from pathlib import Path
from statistics import median


def _cli() -> list[str]:
    script = Path(sys.executable).parent / "facexpr"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "facexpr.cli"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--command", default=None, help="time `facexpr COMMAND --help` instead")
    args = ap.parse_args()
    argv = _cli() + ([args.command] if args.command else []) + ["--help"]
    subprocess.run(argv, capture_output=True, check=True)  # warm the file cache and .pyc files
    walls, cpus = [], []
    for _ in range(args.runs):
        before, t = resource.getrusage(resource.RUSAGE_CHILDREN), os.times().elapsed
        subprocess.run(argv, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        walls.append(os.times().elapsed - t)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    print(f"{' '.join(Path(a).name for a in argv)}: wall median {median(walls):.2f} s "
          f"(min {min(walls):.2f}, max {max(walls):.2f}), CPU median {median(cpus):.2f} s, {args.runs} runs, "
          f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "import facexpr.cli"], capture_output=True,
                       text=True, check=True)
    rows = [line.rsplit("|", 1)[1].strip() for line in p.stderr.splitlines() if line.count("|") == 2]
    top = {r.split(".")[0] for r in rows[1:]}
    heavy = sorted(top & {"torch", "numpy", "mediapipe", "cv2", "scipy", "gradio", "kornia", "dlib"})
    print(f"import facexpr.cli: {len(rows) - 1} modules, torch lines: {sum(r.split('.')[0] == 'torch' for r in rows)}, "
          f"heavy packages: {', '.join(heavy) or 'none'}")


if __name__ == "__main__":
    main()
