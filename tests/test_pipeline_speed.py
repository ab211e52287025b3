"""The photo path's speed-ups keep its results: concurrent analysis, the shared analysis cache,
the landmarker pool, and the warp's layers made on a helper thread (timings are the benchmark's
job, benchmarks/latency.py; these check what each change must not alter)."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from facexpr.faces import landmarks
from facexpr.errors import FaceNotFound
from facexpr.expression.analysis import analyze_faces
from facexpr.pipeline import AnalysisCache, EditConfig, TransferConfig, analyze_all, run_edit, run_transfer


def test_analyze_all_matches_one_by_one(source_img, target_img):
    src, tgt = source_img, target_img
    together = analyze_all([(src, False), (tgt, False)])
    alone = [analyze_faces(src), analyze_faces(tgt)]
    for a, b in zip(together, alone):
        assert len(a) == len(b) == 1
        np.testing.assert_array_equal(a[0].landmarks, b[0].landmarks)
        np.testing.assert_array_equal(a[0].blendshapes, b[0].blendshapes)


def test_analyze_all_reports_errors_in_order():
    blank = np.full((200, 200, 3), 128, np.uint8)
    found = analyze_all([(blank, False), (blank, False)])
    assert found == [[], []]


def test_pool_runs_inferences_concurrently_and_alike(source_img):
    """Two threads get two landmarkers, and both read a photo exactly as one does."""
    src = source_img
    pool = landmarks.LandmarkerPool(size=2)
    try:
        first = pool.detect(src)[0]
        barrier, out = threading.Barrier(2), []

        def run():
            with pool.lease() as lm:
                barrier.wait()  # both hold a landmarker at once: the pool made a second one
                out.append(lm.detect(src)[0])

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(pool._all) == 2
        for d in out:
            np.testing.assert_array_equal(d.landmarks, first.landmarks)
            np.testing.assert_array_equal(d.blendshapes, first.blendshapes)
    finally:
        pool.close()


def test_cache_analyses_a_shared_target_once(source_path, target_path, monkeypatch):
    src, tgt = source_path, target_path
    import facexpr.pipeline as pipeline

    calls = []
    real = pipeline.analyze_faces
    monkeypatch.setattr(pipeline, "analyze_faces", lambda img, thorough=False: calls.append(img.shape) or real(img, thorough))
    cache = AnalysisCache()
    first = run_transfer(src, tgt, TransferConfig(), cache=cache)
    assert len(calls) == 2
    again = run_transfer(src, tgt, TransferConfig(), cache=cache)
    assert len(calls) == 2 and cache.hits == 2  # neither photo analysed again
    np.testing.assert_array_equal(first.image, again.image)
    np.testing.assert_array_equal(first.image, run_transfer(src, tgt).image)  # same as without a cache
    assert len(calls) == 4
    edit = run_edit(tgt, EditConfig.parse("AU12=+0.5"), cache=cache)
    assert len(calls) == 4  # the edit's target too
    np.testing.assert_array_equal(edit.image, run_edit(tgt, EditConfig.parse("AU12=+0.5")).image)


def test_cache_sees_a_changed_file(source_path, target_path, tmp_path):
    import shutil

    src, tgt = source_path, target_path
    cache = AnalysisCache()
    path = tmp_path / "target.jpg"
    shutil.copy(tgt, path)
    run_transfer(src, path, cache=cache)
    blank = tmp_path / "blank.png"
    from facexpr.io import save_image
    save_image(np.full((300, 300, 3), 128, np.uint8), blank)
    shutil.copy(blank, path)
    with pytest.raises(FaceNotFound):
        run_transfer(src, path, cache=cache)  # a new file under the same name is analysed anew


def test_batch_runner_analyses_a_shared_target_once(source_path, target_path, london, tmp_path):
    """``facexpr batch``'s worker: items onto one target analyse it once; the outputs are those
    of separate transfers."""
    from facexpr.batch.config import Item, JobSpec
    from facexpr.batch.work import ItemRunner
    from facexpr.io import load_image

    other = next(p for p in sorted((london / "smiling").glob("*.jpg")) if p.resolve() != source_path.resolve())
    runner = ItemRunner(JobSpec("transfer", str(tmp_path)))
    recs = [runner(Item(f"p{i}", str(target_path), str(src))) for i, src in enumerate((source_path, other))]
    assert [r["status"] for r in recs] == ["ok", "ok"]
    assert runner.photos.hits == 1  # the second item found the target analysed
    for rec, src in zip(recs, (source_path, other)):
        np.testing.assert_array_equal(load_image(tmp_path / rec["output"]), run_transfer(src, target_path).image)
