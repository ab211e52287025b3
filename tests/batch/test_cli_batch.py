"""`facexpr batch` refuses a job it cannot start with one line and exit code 2 (no data needed)."""
from __future__ import annotations

import subprocess

import pytest

from _support import facexpr_cmd
from conftest import write_csv


def _run(*args) -> subprocess.CompletedProcess:
    return subprocess.run(facexpr_cmd() + [str(a) for a in args], capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("extra,needle", [
    (["--engine", "spark"], "unknown engine"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--method", "nope"], "unknown method"),
    (["--format", "gif"], "unknown image format"),
])
def test_bad_options_are_one_line(tmp_path, extra, needle):
    m = write_csv(tmp_path / "m.csv", [["a", "s.jpg", "t.jpg"]])
    p = _run("batch", "transfer", "--pairs", m, "--out-dir", tmp_path / "o", *extra)
    assert p.returncode == 2, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("facexpr: error:") and needle in lines[0], p.stderr
    assert not (tmp_path / "o" / "results.parquet").exists()


def test_missing_manifest_and_missing_columns(tmp_path):
    p = _run("batch", "edit", "--manifest", tmp_path / "none.csv", "--out-dir", tmp_path / "o")
    assert p.returncode == 2 and "none.csv" in p.stderr and "Traceback" not in p.stderr
    m = write_csv(tmp_path / "a.csv", [["a", "t.jpg"]], header=("id", "target"))
    p = _run("batch", "animate", "--manifest", m, "--out-dir", tmp_path / "o")
    assert p.returncode == 2 and "missing: driving" in p.stderr and "Traceback" not in p.stderr
