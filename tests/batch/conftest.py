"""Fixtures of the batch tests: London manifests (each person's neutral photo with the smile of
the person 37 places on, the London benchmark's pairing) and a reference run in one process."""
from __future__ import annotations

import csv
from pathlib import Path

import pytest


def london_rows(london: Path, n: int) -> list[list[str]]:
    ids = sorted(p.name[:3] for p in (london / "neutral").glob("*_03.jpg"))
    return [[j, str(london / "smiling" / f"{ids[(k + 37) % len(ids)]}_08.jpg"), str(london / "neutral" / f"{j}_03.jpg")]
            for k, j in enumerate(ids[:n])]


def write_csv(path: Path, rows, header=("id", "source", "target")) -> Path:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def results(out_dir: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out_dir / "results.parquet").to_pylist()


def leftovers(out_dir: Path) -> list[str]:
    """Temp or partial files in an output folder (there should be none after a run)."""
    return sorted(p.name for p in out_dir.iterdir() if p.name.startswith(".") or ".part" in p.name or
                  p.suffix == ".tmp")


def run_job(manifest: Path, out_dir: Path, kind: str = "transfer", engine: str = "local", workers: int = 1,
            **job):
    from facexpr.batch import BatchConfig, run_batch
    from facexpr.batch.config import checked_job

    return run_batch(BatchConfig(manifest=manifest, job=checked_job(kind, out_dir, **job), engine=engine,
                                 workers=workers))


@pytest.fixture(scope="session")
def london20(london, tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("manifest") / "london20.csv", london_rows(london, 20))


@pytest.fixture(scope="session")
def reference20(london20, tmp_path_factory) -> dict[str, str]:
    """id -> sha256 of the 20 London pairs rendered in one process (what ``transfer --pairs`` did)."""
    out = tmp_path_factory.mktemp("ref20")
    summary = run_job(london20, out, workers=1)
    assert summary.ok == 20, summary.failures
    return {r["id"]: r["sha256"] for r in results(out)}
