"""The local engine on real London pairs: bad items fail alone, resuming trusts only checked
outputs, a killed driver resumes to the same final manifest, worker counts give the same bytes."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from _support import data_file, facexpr_cmd
from conftest import leftovers, london_rows, results, run_job, write_csv

pytestmark = pytest.mark.data


def _cli(*args, timeout=600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(facexpr_cmd() + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL, **kw)


def test_bad_items_fail_alone_with_their_reasons(london, edge, london20, reference20, tmp_path):
    good = london_rows(london, 3)
    real = Path(good[0][1]).read_bytes()
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(real[: len(real) // 3])  # a truncated JPEG
    rows = good + [["corrupt", good[0][1], str(corrupt)],
                   ["missing", str(tmp_path / "gone.jpg"), good[1][2]],
                   ["noface", good[0][1], str(data_file(edge, "BWPictureHuman.jpg"))]]
    manifest = write_csv(tmp_path / "m.csv", rows)
    out = tmp_path / "out"
    p = _cli("batch", "transfer", "--pairs", manifest, "--out-dir", out, "--workers", "2")
    assert p.returncode == 1, p.stderr
    assert "Traceback" not in p.stderr
    rec = {r["id"]: r for r in results(out)}
    assert [r["id"] for r in results(out)] == [r[0] for r in rows]  # every item once, manifest order
    assert "corrupt or truncated" in rec["corrupt"]["error"]
    assert "no such file" in rec["missing"]["error"] and "gone.jpg" in rec["missing"]["error"]
    assert "no face" in rec["noface"]["error"]
    for pid, *_ in good:
        assert rec[pid]["status"] == "ok" and rec[pid]["sha256"] == reference20[pid]
        assert (out / f"{pid}.png").is_file()
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{g[0]}.png" for g in good] + ["results.parquet"])
    assert not leftovers(out)
    for pid in ("corrupt", "missing", "noface"):
        assert len([ln for ln in p.stderr.splitlines() if ln.strip().startswith(f"{pid}:")]) == 1


def test_resume_keeps_checked_outputs_and_redoes_the_rest(london, reference20, tmp_path):
    manifest = write_csv(tmp_path / "m.csv", london_rows(london, 3))
    out = tmp_path / "out"
    first = run_job(manifest, out)
    assert first.ok == 3 and first.rendered == 3
    again = run_job(manifest, out)
    assert again.resumed == 3 and again.rendered == 0 and again.ok == 3
    ids = [r["id"] for r in results(out)]
    (out / f"{ids[0]}.png").write_bytes(b"\x89PNG half a file")  # replaced behind our back
    (out / f"{ids[1]}.png").unlink()
    third = run_job(manifest, out)
    assert third.resumed == 1 and third.rendered == 2 and third.ok == 3
    assert {r["id"]: r["sha256"] for r in results(out)} == {i: reference20[i] for i in ids}
    changed = run_job(manifest, out, intensity=0.5)  # other options: nothing is kept
    assert changed.resumed == 0 and changed.rendered == 3


def test_killed_driver_resumes_to_the_same_manifest(london20, reference20, tmp_path):
    out = tmp_path / "out"
    cmd = facexpr_cmd() + ["batch", "transfer", "--pairs", str(london20), "--out-dir", str(out), "--workers", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                            start_new_session=True)  # its own process group: the kill takes the workers too
    journal = out / ".results.journal.jsonl"
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if journal.is_file() and journal.read_bytes().count(b"\n") >= 3:
                break
            time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done = journal.read_bytes().count(b"\n")
    assert 3 <= done < 20, f"the driver should die mid-run ({done} items journalled)"
    p = _cli("batch", "transfer", "--pairs", london20, "--out-dir", out, "--workers", "2")
    assert p.returncode == 0, p.stderr
    assert "already done" in p.stderr
    rows = results(out)
    assert [r["id"] for r in rows] == sorted(reference20)
    assert all(r["status"] == "ok" for r in rows)
    assert {r["id"]: r["sha256"] for r in rows} == reference20
    assert not leftovers(out)


def test_two_workers_bit_identical_to_one_process(london20, reference20, tmp_path):
    summary = run_job(london20, tmp_path / "out", workers=2)
    assert summary.ok == 20
    assert {r["id"]: r["sha256"] for r in results(tmp_path / "out")} == reference20


def test_transfer_pairs_is_an_alias_of_batch_transfer(london, reference20, tmp_path):
    manifest = write_csv(tmp_path / "m.csv", london_rows(london, 2))
    p = _cli("transfer", "--pairs", manifest, "--out-dir", tmp_path / "out")
    assert p.returncode == 0, p.stderr
    rows = results(tmp_path / "out")
    assert [(r["id"], r["sha256"]) for r in rows] == [(i, reference20[i]) for i in sorted(reference20)[:2]]
    assert rows[0]["method"] == "warp" and rows[0]["method_version"]
    assert {"load", "analyze", "render", "save"} <= set(__import__("json").loads(rows[0]["stage_ms"]))


def test_edit_and_animate_batches(london, shared_data, tmp_path):
    import json

    from facexpr.io import load_image
    from facexpr.io_video import probe

    target = london_rows(london, 1)[0][2]
    edits = write_csv(tmp_path / "e.csv", [["smile", target, "AU12=+0.8", ""], ["sad", target, "", "sad"]],
                      header=("id", "target", "au", "emotion"))
    s = run_job(edits, tmp_path / "e", kind="edit")
    assert s.ok == 2, s.failures
    assert load_image(tmp_path / "e" / "smile.png").shape == load_image(target).shape
    video = data_file(shared_data, "video/cap13_edit2.mp4")
    anim = write_csv(tmp_path / "a.csv", [["v", target, str(video)]], header=("id", "target", "driving"))
    s = run_job(anim, tmp_path / "a", kind="animate", size=256, max_frames=4, audio=False)
    assert s.ok == 1, s.failures
    (row,) = results(tmp_path / "a")
    assert row["output"] == "v.mp4" and row["bytes"] > 0 and json.loads(row["stage_ms"])
    assert probe(tmp_path / "a" / "v.mp4").frames == 4
    assert not leftovers(tmp_path / "a")


def test_killed_pool_worker_costs_only_a_retry(london, reference20, tmp_path):
    import threading

    import psutil

    manifest = write_csv(tmp_path / "m.csv", london_rows(london, 8))
    out = tmp_path / "out"
    box: dict = {}
    t = threading.Thread(target=lambda: box.update(s=run_job(manifest, out, workers=2)), daemon=True)
    t.start()
    journal = out / ".results.journal.jsonl"
    killed = None
    while t.is_alive() and killed is None:
        if journal.is_file() and journal.read_bytes().count(b"\n") >= 2:
            workers = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
            if workers:
                killed = workers[0].pid
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    t.join(600)
    assert killed is not None, "the run ended before a worker could be killed"
    assert box["s"].ok == 8, box["s"].failures
    rows = results(out)
    assert sorted(r["id"] for r in rows) == sorted(reference20)[:8]  # every item once
    assert {r["id"]: r["sha256"] for r in rows} == {i: reference20[i] for i in sorted(reference20)[:8]}
    assert not leftovers(out)
