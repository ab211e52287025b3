"""Manifests (CSV and Parquet, each kind) and the results journal: no models, no shared data."""
from __future__ import annotations

import json

import pytest

from facexpr.batch.config import BatchConfig, Item, JobSpec, checked_job
from facexpr.batch.manifest import read_manifest
from facexpr.batch.results import Journal, read_journal, remove_partials, still_valid, write_results
from facexpr.batch.work import sha256_file
from facexpr.errors import InputError

from conftest import write_csv


def _parquet(path, rows: list[dict]):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_transfer_csv_paths_relative_to_manifest(tmp_path):
    m = write_csv(tmp_path / "m.csv", [["a", "s.jpg", "/abs/t.jpg"]])
    (it,) = read_manifest(m, "transfer")
    assert it.source == str(tmp_path / "s.jpg") and it.target == "/abs/t.jpg" and it.intensity is None


def test_transfer_parquet_same_items_as_csv(tmp_path):
    rows = [["a", "s.jpg", "t.jpg"], ["b", "s2.jpg", "t2.jpg"]]
    csv_items = read_manifest(write_csv(tmp_path / "m.csv", rows), "transfer")
    pq_items = read_manifest(_parquet(tmp_path / "m.parquet", [dict(id=a, source=s, target=t) for a, s, t in rows]),
                             "transfer")
    assert csv_items == pq_items


def test_edit_and_animate_columns(tmp_path):
    m = _parquet(tmp_path / "e.parquet", [{"id": "x", "target": "t.jpg", "au": "AU12=+0.8;AU4=-0.5",
                                           "emotion": None, "intensity": 0.5},
                                          {"id": "y", "target": "t.jpg", "au": None, "emotion": "happy",
                                           "intensity": None}])
    x, y = read_manifest(m, "edit")
    assert x.aus == ("AU12=+0.8", "AU4=-0.5") and x.intensity == 0.5 and y.emotion == "happy" and not y.aus
    a = write_csv(tmp_path / "a.csv", [["v", "p.jpg", "d.mp4"]], header=("id", "target", "driving"))
    (v,) = read_manifest(a, "animate")
    assert v.driving == str(tmp_path / "d.mp4")


@pytest.mark.parametrize("kind,header,row,needle", [
    ("transfer", ("id", "source"), ["x", "a.jpg"], "id,source,target"),
    ("transfer", ("id", "source", "target"), ["../evil", "a.jpg", "b.jpg"], "ids must"),
    ("edit", ("id", "target", "au"), ["x", "t.jpg", ""], "nothing to edit"),
    ("animate", ("id", "target"), ["x", "t.jpg"], "missing: driving"),
    ("edit", ("id", "target", "emotion", "intensity"), ["x", "t.jpg", "happy", "lots"], "intensity must be a number"),
])
def test_bad_manifests_are_one_line_errors(tmp_path, kind, header, row, needle):
    m = write_csv(tmp_path / "m.csv", [row], header=header)
    with pytest.raises(InputError, match=needle):
        read_manifest(m, kind)


def test_duplicate_ids_and_damaged_parquet(tmp_path):
    m = _parquet(tmp_path / "d.parquet", [dict(id="x", target="a"), dict(id="x", target="b")])
    with pytest.raises(InputError, match="duplicate"):
        read_manifest(m, "edit")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match="not a readable Parquet"):
        read_manifest(bad, "edit")


def test_job_options_checked_before_any_work(tmp_path):
    with pytest.raises(InputError, match="unknown method"):
        checked_job("transfer", tmp_path, method="nope")
    with pytest.raises(InputError, match="intensity"):
        checked_job("transfer", tmp_path, intensity=9.0)
    with pytest.raises(InputError, match="regions"):
        checked_job("transfer", tmp_path, regions=("ears",))
    with pytest.raises(InputError, match="engine"):
        BatchConfig(manifest=tmp_path / "m.csv", job=JobSpec("transfer", str(tmp_path)), engine="spark")


def test_fingerprint_changes_with_options_not_with_threads(tmp_path):
    it = Item(id="a", source="s", target="t")
    base = JobSpec("transfer", str(tmp_path))
    assert base.fingerprint(it) == JobSpec("transfer", str(tmp_path / "elsewhere"), threads=1).fingerprint(it)
    assert base.fingerprint(it) != JobSpec("transfer", str(tmp_path), intensity=0.5).fingerprint(it)
    assert base.fingerprint(it) != base.fingerprint(Item(id="a", source="s2", target="t"))


def test_journal_skips_a_torn_last_line(tmp_path):
    j = Journal(tmp_path)
    j.append({"id": "a", "status": "ok"})
    j.append({"id": "b", "status": "failed"})
    j.close()
    with open(tmp_path / ".results.journal.jsonl", "ab") as f:
        f.write(b'{"id": "c", "stat')  # the driver killed mid-write
    assert read_journal(tmp_path / ".results.journal.jsonl")["id"].to_pylist() == ["a", "b"]


def test_merged_keeps_the_latest_row_per_id_in_manifest_order(tmp_path):
    import pyarrow as pa

    from facexpr.batch.results import merged, read_results

    old = tmp_path / "results.parquet"
    write_results(old, [{"id": "c", "status": "ok"}, {"id": "a", "status": "ok"}, {"id": "gone", "status": "ok"}])
    j = Journal(tmp_path)
    j.append({"id": "b", "status": "failed", "error": "no face"})
    j.append({"id": "a", "status": "failed", "error": "later"})
    j.close()
    t = merged([read_results(old), read_journal(j.path)], ["a", "b", "c", "d"])
    assert t.select(["id", "status", "error"]).to_pylist() == [
        {"id": "a", "status": "failed", "error": "later"}, {"id": "b", "status": "failed", "error": "no face"},
        {"id": "c", "status": "ok", "error": None}]
    assert merged([None], ["a"]).num_rows == 0 and isinstance(merged([], []), pa.Table)


def test_still_valid_trusts_only_checked_outputs(tmp_path):
    out = tmp_path / "a.png"
    out.write_bytes(b"image bytes")
    row = {"id": "a", "status": "ok", "output": "a.png", "sha256": sha256_file(out), "request": "r1"}
    assert still_valid(row, tmp_path, "r1", retry_failed=True)
    assert not still_valid(row, tmp_path, "r2", retry_failed=True)  # options or inputs changed
    out.write_bytes(b"image byt")  # truncated or replaced since
    assert not still_valid(row, tmp_path, "r1", retry_failed=True)
    out.unlink()
    assert not still_valid(row, tmp_path, "r1", retry_failed=True)
    failed = {"id": "a", "status": "failed", "error": "no face", "request": "r1"}
    assert not still_valid(failed, tmp_path, "r1", retry_failed=True)
    assert still_valid(failed, tmp_path, "r1", retry_failed=False)


def test_results_parquet_round_trip_and_partials(tmp_path):
    import pyarrow.parquet as pq

    write_results(tmp_path / "results.parquet", [{"id": "a", "status": "ok", "stage_ms": json.dumps({"load": 1.0}),
                                                  "bytes": 3, "extra": "dropped"}])
    (row,) = pq.read_table(tmp_path / "results.parquet").to_pylist()
    assert row["id"] == "a" and row["bytes"] == 3 and row["error"] is None and "extra" not in row
    (tmp_path / ".a.png.x1y2.part").write_bytes(b"half")
    (tmp_path / ".v.mp4.abc.part.mp4").write_bytes(b"half")
    assert len(remove_partials(tmp_path)) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.parquet"]


def test_batch_imports_neither_torch_nor_ray():
    import subprocess
    import sys

    code = ("import sys, facexpr.batch, facexpr.batch.runner; "
            "print(sorted(m for m in ('torch', 'ray', 'pyarrow') if m in sys.modules))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "[]"


def test_one_job_per_output_folder(tmp_path):
    from facexpr.batch import BatchConfig, run_items
    from facexpr.batch.runner import _exclusive
    from facexpr.errors import OutputError

    cfg = BatchConfig(manifest=None, job=JobSpec("transfer", str(tmp_path)))
    with _exclusive(tmp_path):
        with pytest.raises(OutputError, match="another batch job"):
            run_items(cfg, [Item(id="a", source="s.jpg", target="t.jpg")])
    assert not list(tmp_path.iterdir())  # the lock file goes with its job
