"""The Ray engine on a private local Ray: the same bytes as one process, every socket on loopback,
and a killed actor costing only a retry. Skipped (with the reason) without the ``ray`` extra,
except in CI (FACEXPR_REQUIRE_DATA=1), which installs it."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import leftovers, results, run_job

pytestmark = pytest.mark.data


@pytest.fixture(scope="module", autouse=True)
def need_ray():
    from facexpr.batch.engines.ray_engine import ray_available

    if not ray_available():
        msg = "Ray is not installed (pip install 'facexpr[ray]')"
        if os.environ.get("FACEXPR_REQUIRE_DATA") == "1":
            pytest.fail(msg + "; CI installs the ray extra, so its tests must run")
        pytest.skip(msg)


def _in_background(fn):
    box: dict = {}

    def go():
        try:
            box["result"] = fn()
        except BaseException as e:  # surfaced by the test
            box["error"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    return t, box


def _our_tree() -> set[int]:
    import psutil

    me = psutil.Process()
    return {me.pid, *(p.pid for p in me.children(recursive=True))}


LOOPBACK = re.compile(r"^(\[::ffff:)?127\.\d+\.\d+\.\d+\]?:\d+$|^\[::1\]:\d+$")


def _foreign_sockets() -> list[str]:
    """ESTAB TCP sockets of this process or its children (the Ray processes) with an end off loopback."""
    pids = _our_tree()
    bad = []
    for line in subprocess.run(["ss", "-tnpH", "state", "established"], capture_output=True, text=True).stdout.splitlines():
        owners = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        if not owners & pids:
            continue
        local, peer = line.split()[2:4]
        if not (LOOPBACK.match(local) and LOOPBACK.match(peer)):
            bad.append(line)
    return bad


def test_ray_two_actors_bit_identical_and_on_loopback(london20, reference20, tmp_path):
    out = tmp_path / "out"
    t, box = _in_background(lambda: run_job(london20, out, engine="ray", workers=2))
    seen, samples = [], 0
    while t.is_alive():
        if (out / ".results.journal.jsonl").is_file():  # Ray is up and working
            seen += _foreign_sockets()
            samples += 1
        time.sleep(1.0)
    t.join()
    if "error" in box:
        raise box["error"]
    assert box["result"].ok == 20, box["result"].failures
    assert {r["id"]: r["sha256"] for r in results(out)} == reference20
    assert samples >= 1, "the run ended before its sockets could be checked"
    assert not seen, "sockets off loopback:\n" + "\n".join(seen)


def test_killed_actor_costs_only_a_retry(london20, reference20, tmp_path):
    import psutil

    out = tmp_path / "out"
    t, box = _in_background(lambda: run_job(london20, out, engine="ray", workers=2))
    journal = out / ".results.journal.jsonl"
    killed, cmdline = None, ""
    deadline = time.time() + 300
    while t.is_alive() and time.time() < deadline and killed is None:
        if journal.is_file() and journal.read_bytes().count(b"\n") >= 2:
            actors = [p for p in psutil.Process().children(recursive=True)
                      if "FacexprWorker" in " ".join(p.cmdline() or [])]
            if actors:
                killed, cmdline = actors[0].pid, " ".join(actors[0].cmdline())
                os.kill(killed, signal.SIGKILL)
        time.sleep(0.2)
    t.join(600)
    if "error" in box:
        raise box["error"]
    assert killed is not None, "no actor process was found to kill"
    assert cmdline.startswith("ray::"), cmdline  # a Ray worker process, not the driver or a raylet
    done_before_kill = journal.exists()
    summary = box["result"]
    assert summary.ok == 20 and summary.failed == 0, summary.failures
    rows = results(out)
    assert [r["id"] for r in rows] == sorted(reference20)  # every item exactly once
    assert {r["id"]: r["sha256"] for r in rows} == reference20
    assert not leftovers(out) and not done_before_kill  # journal folded in and removed
