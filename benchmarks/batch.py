"""Batch throughput and memory: the numbers of docs/BATCH.md.

    .venv/bin/python benchmarks/batch.py scaling [--pairs 102] [--rounds 1] [--json out.json]
    .venv/bin/python benchmarks/batch.py memory  [--items 10000] [--side 320] [--workers 2]

``scaling``: the London benchmark pairs (each person's neutral photo with the smile of the person
37 places on; ``--pairs`` of them) through ``warp`` in three configurations, run back to back as
the user would run them (whole commands, start-up included): ``transfer --pairs`` (one process,
what existed before), ``batch transfer --workers 2`` (local pool) and ``batch transfer --engine ray
--workers 2`` (a private Ray on 127.0.0.1). For each: wall seconds and items/s of the whole command,
the steady-state items/s (from the workers' finish times, start-up excluded), the mean per-stage
milliseconds, and whether every output is byte-identical to the one-process run. ``--rounds``
repeats the three in turn, so load from other work on the machine hits each alike.

``memory``: a synthetic manifest of ``--items`` rows (the London pairs repeated under new ids,
photos downscaled to ``--side`` px so that ten thousand items fit in minutes; ``--intensity 0``
skips only the rendering) through the local engine; samples the resident memory of the driver
and of the worker processes and reports the peaks over the first and the last tenth of the run.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _london() -> Path:
    sys.path.insert(0, str(REPO / "src"))
    from facexpr.datasets import data_root

    root = data_root()
    if root is None or not (Path(root) / "london" / "neutral").is_dir():
        sys.exit("shared data not found: set FACEXPR_DATA")
    return Path(root) / "london"


def london_rows(london: Path, n: int, src_dir: Path | None = None, tgt_dir: Path | None = None) -> list[list[str]]:
    ids = sorted(p.name[:3] for p in (london / "neutral").glob("*_03.jpg"))
    sd, td = src_dir or london / "smiling", tgt_dir or london / "neutral"
    ext = "png" if src_dir else "jpg"
    return [[j, str(sd / f"{ids[(k + 37) % len(ids)]}_08.{ext}"), str(td / f"{j}_03.{ext}")]
            for k, j in enumerate(ids[:n])]


def write_csv(path: Path, rows) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "source", "target"])
        w.writerows(rows)
    return path


def facexpr_cmd() -> list[str]:
    script = Path(sys.executable).parent / "facexpr"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "facexpr.cli"]


def _read(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out / "results.parquet").to_pylist()


CONFIGS = {
    "1 process (transfer --pairs)": lambda m, o: ["transfer", "--pairs", m, "--out-dir", o],
    "local, 2 workers": lambda m, o: ["batch", "transfer", "--pairs", m, "--out-dir", o, "--workers", "2"],
    "ray, 2 actors": lambda m, o: ["batch", "transfer", "--pairs", m, "--out-dir", o, "--engine", "ray",
                                   "--workers", "2"],
}


def scaling(args) -> dict:
    london = _london()
    work = Path(tempfile.mkdtemp(prefix="facexpr-batch-bench-"))
    manifest = write_csv(work / "london.csv", london_rows(london, args.pairs))
    runs: dict[str, list[dict]] = {k: [] for k in CONFIGS}
    reference: dict[str, str] | None = None
    identical: dict[str, bool] = {}
    try:
        for r in range(args.rounds):
            for name, argv in CONFIGS.items():
                out = work / f"out-{r}-{len(runs[name])}-{name.split()[0].strip(',')}"
                load0 = os.getloadavg()[0]
                ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                t0 = time.perf_counter()
                # each configuration in a session of its own: with the kernel's autogroup scheduling a
                # session is the unit of CPU share, so on a shared machine each configuration then
                # competes with the other work on the same terms, whatever ran before it
                p = subprocess.run(facexpr_cmd() + [str(a) for a in argv(manifest, out)], capture_output=True,
                                   text=True, env={**os.environ, "PYTHONPATH": str(REPO / "src")},
                                   start_new_session=args.own_session)
                wall = time.perf_counter() - t0
                ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
                rows = _read(out)
                ok = [x for x in rows if x["status"] == "ok"]
                fin = sorted(x["finished_at"] for x in ok)
                stages: dict[str, float] = {}
                for x in ok:
                    for k, v in json.loads(x["stage_ms"]).items():
                        stages[k] = stages.get(k, 0.0) + v / len(ok)
                shas = {x["id"]: x["sha256"] for x in rows}
                if reference is None:
                    reference = shas
                identical[name] = identical.get(name, True) and shas == reference
                rec = {"round": r, "exit": p.returncode, "items": len(rows), "ok": len(ok), "wall_s": round(wall, 2),
                       "items_per_s": round(len(ok) / wall, 3),
                       "steady_items_per_s": round((len(fin) - 1) / (fin[-1] - fin[0]), 3) if len(fin) > 1 else None,
                       "busy_ms_per_item": round(sum(x["total_ms"] for x in ok) / max(len(ok), 1), 1),
                       "cpu_s": round(cpu, 1), "cpu_s_per_item": round(cpu / max(len(ok), 1), 3),
                       "cores_used": round(cpu / wall, 2),
                       "stage_ms": {k: round(v, 1) for k, v in stages.items()},
                       "loadavg_before": round(load0, 2), "loadavg_after": round(os.getloadavg()[0], 2)}
                runs[name].append(rec)
                print(f"[round {r}] {name}: {rec['ok']}/{rec['items']} ok, {rec['wall_s']} s, "
                      f"{rec['items_per_s']} items/s (steady {rec['steady_items_per_s']}), "
                      f"CPU {rec['cpu_s_per_item']} s/item, {rec['cores_used']} cores used, "
                      f"load {rec['loadavg_before']}->{rec['loadavg_after']}", flush=True)
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = runs[next(iter(CONFIGS))]
    summary = {}
    for name, rs in runs.items():
        ips = sum(x["items_per_s"] for x in rs) / len(rs)
        steady = sum(x["steady_items_per_s"] or 0 for x in rs) / len(rs)
        b_ips = sum(x["items_per_s"] for x in base) / len(base)
        b_steady = sum(x["steady_items_per_s"] or 0 for x in base) / len(base)
        summary[name] = {"items_per_s": round(ips, 3), "ratio": round(ips / b_ips, 2),
                         "cpu_s_per_item": round(sum(x["cpu_s_per_item"] for x in rs) / len(rs), 3),
                         "cores_used": round(sum(x["cores_used"] for x in rs) / len(rs), 2),
                         "steady_items_per_s": round(steady, 3), "steady_ratio": round(steady / b_steady, 2),
                         "bit_identical_to_1_process": identical[name]}
    print("\n| configuration | items/s (whole command) | ratio | steady items/s | ratio | CPU s/item | cores used "
          "| identical bytes |")
    print("|---|---|---|---|---|---|---|---|")
    for name, s in summary.items():
        print(f"| {name} | {s['items_per_s']:.2f} | {s['ratio']:.2f}x | {s['steady_items_per_s']:.2f} | "
              f"{s['steady_ratio']:.2f}x | {s['cpu_s_per_item']:.2f} | {s['cores_used']:.2f} | "
              f"{'yes' if s['bit_identical_to_1_process'] else 'NO'} |")
    return {"pairs": args.pairs, "rounds": args.rounds, "cores": os.cpu_count(), "runs": runs, "summary": summary}


def _tree_rss(pid: int) -> tuple[float, list[float]]:
    """(driver RSS, worker RSS each) in MiB."""
    import psutil

    p = psutil.Process(pid)
    kids = []
    for c in p.children(recursive=True):
        try:
            kids.append(c.memory_info().rss / 2**20)
        except psutil.Error:
            pass
    return p.memory_info().rss / 2**20, kids


def memory(args) -> dict:
    import cv2
    import psutil

    london = _london()
    work = Path(tempfile.mkdtemp(prefix="facexpr-batch-mem-"))
    try:
        small = {}
        for sub, suffix in (("smiling", "_08"), ("neutral", "_03")):
            d = work / sub
            d.mkdir()
            for f in sorted((london / sub).glob(f"*{suffix}.jpg")):
                img = cv2.imread(str(f))
                s = args.side / max(img.shape[:2])
                cv2.imwrite(str(d / f"{f.stem}.png"), cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA))
            small[sub] = d
        base = london_rows(london, 102, small["smiling"], small["neutral"])
        rows = [[f"r{k // len(base):04d}_{b[0]}", b[1], b[2]] for k, b in
                ((k, base[k % len(base)]) for k in range(args.items))]
        manifest = write_csv(work / "synthetic.csv", rows)
        out = work / "out"
        cmd = facexpr_cmd() + ["batch", "transfer", "--pairs", str(manifest), "--out-dir", str(out),
                               "--workers", str(args.workers), "--format", "jpg", "--intensity", str(args.intensity)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(REPO / "src")})
        samples: list[tuple[int, float, float, float]] = []  # (items done, driver MiB, max worker MiB, sum MiB)
        journal = out / ".results.journal.jsonl"
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                try:
                    drv, kids = _tree_rss(proc.pid)
                except psutil.Error:
                    break
                done = journal.read_bytes().count(b"\n") if journal.is_file() else 0
                samples.append((done, drv, max(kids, default=0.0), drv + sum(kids)))
                stop.wait(args.every)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            _, err = proc.communicate(timeout=args.max_seconds)
        except subprocess.TimeoutExpired:  # out of time: stop it as Ctrl-C would (results written)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate()
        stop.set()
        th.join()
        wall = time.perf_counter() - t0
        res = _read(out)
        n = len(res)
        first = [s for s in samples if 0 < s[0] <= n // 10]
        last = [s for s in samples if s[0] >= n - n // 10]

        def peak(ss, i):
            return round(max((s[i] for s in ss), default=float("nan")), 1)

        report = {"manifest_items": args.items, "items": n, "ok": sum(r["status"] == "ok" for r in res),
                  "workers": args.workers,
                  "side_px": args.side, "wall_s": round(wall, 1), "items_per_s": round(n / wall, 2),
                  "samples": len(samples), "exit": proc.returncode,
                  "driver_peak_mib": {"first_tenth": peak(first, 1), "last_tenth": peak(last, 1)},
                  "worker_peak_mib": {"first_tenth": peak(first, 2), "last_tenth": peak(last, 2)},
                  "tree_peak_mib": {"first_tenth": peak(first, 3), "last_tenth": peak(last, 3)},
                  "intensity": args.intensity,
                  "timeline": [list(map(lambda v: round(v, 1), s)) for s in samples[:: max(1, len(samples) // 40)]],
                  "stderr_tail": err.strip().splitlines()[-3:]}
        print(json.dumps(report, indent=1))
        return report
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="what", required=True)
    a = sub.add_parser("scaling")
    a.add_argument("--pairs", type=int, default=102)
    a.add_argument("--rounds", type=int, default=1)
    a.add_argument("--json", type=Path)
    a.add_argument("--own-session", action=argparse.BooleanOptionalAction, default=True,
                   help="start each configuration in a new session (equal CPU share under autogroup scheduling)")
    b = sub.add_parser("memory")
    b.add_argument("--items", type=int, default=10_000)
    b.add_argument("--side", type=int, default=320)
    b.add_argument("--workers", type=int, default=2)
    b.add_argument("--every", type=float, default=2.0, help="seconds between memory samples")
    b.add_argument("--max-seconds", type=float, default=None,
                   help="stop the run (SIGINT, as Ctrl-C) after this long and report the items done")
    b.add_argument("--intensity", type=float, default=1.0,
                   help="0 runs every stage but the rendering (load, analyse, save): a cheaper item")
    b.add_argument("--json", type=Path)
    args = ap.parse_args()
    report = scaling(args) if args.what == "scaling" else memory(args)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
