"""The papers' baselines on the shared warp + learned residual renderer: ``pix2pix-warp``
(landmark-fusion-warp without the fusion module and the target's key-point image) and
``ganimation-warp`` (relative-au-warp told absolute AUs, no MSF skips) — registered, trainable,
exported, starting as the warp, and pix2pix-warp driven by the source's own key points."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from facexpr.methods import spec_for_task
from facexpr.train.tasks import available_tasks

NAMES = ("pix2pix-warp", "ganimation-warp")


@pytest.fixture(autouse=True)
def _threads(one_torch_thread):
    pass


@pytest.fixture(scope="module", params=NAMES)
def smoke(request, tmp_path_factory):
    from _support import smoke_train_export

    return request.param, *smoke_train_export(tmp_path_factory, request.param)


@pytest.mark.parametrize("name", NAMES)
def test_registered_trainable_and_shipped(name):
    from facexpr.methods import available, get_method

    assert name in available_tasks() and name in available()
    spec = spec_for_task(name)
    assert spec.task.endswith("WarpTask") and spec.generator.endswith("WarpAdapter")
    assert ("edit" in spec.capabilities) == (name == "ganimation-warp")  # key points come from a source face
    m = get_method(name)  # the shipped weights, checksum-verified
    assert m.spec.landmark_driven and m.exported.warp_base and m.exported.card["task"] == name


def test_smoke_training_export_and_the_warp_at_init(smoke):
    from facexpr.methods.exported import load_exported

    name, summary, card, path = smoke
    assert summary["steps"] == 4 and card["task"] == name
    assert all(np.isfinite(v) for k, v in summary["logs"].items() if k.startswith(("g_", "d_")))
    G, adapter, _ = load_exported(path)
    assert adapter.warp_base
    if name == "pix2pix-warp":  # the plain U-Net: warped crop + base flow + the wanted key points only
        from facexpr.methods.residual import IN_CHANNELS

        assert G.spec["target_map"] is False
        assert not G.backbone.target_map and G.backbone.unet.spec["in_ch"] == IN_CHANNELS + 1
    else:
        assert adapter.option("condition") == "absolute" and not adapter.relative and not G.spec["msf"]


def test_pix2pix_warp_is_driven_by_the_sources_own_key_points(smoke, shared_data, monkeypatch):
    """Its geometry is the source's key points in the target's frame (no fusion), declared before
    rendering so the pipeline's closed loop may correct it; the output shows the source's smile."""
    import facexpr.pipeline as P
    from facexpr.expression.analysis import analyze_faces
    from facexpr.expression.blendshapes import INDEX
    from facexpr.io import load_image
    from facexpr.methods.pix2pix.method import Pix2PixMethod, source_in_target

    from _support import SOURCE_REL, TARGET_REL, data_file

    name, _, _, path = smoke
    if name != "pix2pix-warp":
        pytest.skip("pix2pix-warp only")
    method = Pix2PixMethod(path, family=name)
    assert method.spec.landmark_driven
    seen = []
    own = method.geometry

    def geometry(job):
        rt = own(job)
        np.testing.assert_allclose(rt.landmarks, source_in_target(job, method.size))
        seen.append(1)
        return rt

    monkeypatch.setattr(method, "geometry", geometry)
    monkeypatch.setattr(P, "get_method", lambda _: method)
    src, tgt = (load_image(data_file(shared_data, r)) for r in (SOURCE_REL, TARGET_REL))
    res = P.run_transfer(src, tgt, P.TransferConfig(method=name))
    assert seen and res.retargeted.from_geometry
    smile = lambda img: analyze_faces(img)[0].blendshapes[[INDEX["mouthSmileLeft"], INDEX["mouthSmileRight"]]].mean()  # noqa: E731
    assert smile(res.image) > smile(tgt) + 0.2
