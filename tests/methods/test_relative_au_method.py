"""The ``relative-au`` and ``ganimation`` methods: registration, the missing-weights error, the
transfer's wanted AUs, and rendering (edit and transfer) with tiny generators smoke-trained here on
synthetic faces (2 iterations) and exported — never the shipped weights, except when present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facexpr.errors import ModelError
from facexpr.expression import action_units
from facexpr.expression.action_units import AUS_V1 as AUS  # the 17-AU condition of trained generators
from facexpr.expression.blendshapes import INDEX

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"
K = {au: i for i, au in enumerate(AUS)}


def _export(task: str, out: Path) -> Path:
    """A 2-iteration smoke training of ``task`` on synthetic faces, exported (64 px crops)."""
    from facexpr.train.config import load_config
    from facexpr.train.export import export
    from facexpr.train.trainer import Trainer

    cfg = load_config(SMOKE, [
        f"task={task}", "train.steps=2", "train.checkpoint_every=2", "train.image_every=0", "train.log_every=1",
        f"train.out_dir={out / 'run'}", "train.progress=false", "data.synthetic=2", "data.batch_size=2",
        # the whole model: section (smoke.yaml's is pix2pix's: `attention` is no relative-au key)
        "model={g_base: 8, g_depth: 3, g_max: 32, g_res: 1, d_base: 8, d_layers: 2, d_max: 32}",
        "loss.weights={adv: 1.0, au: 1.0, rec: 1.0, cycle: 1.0, tv: 0.01, mask: 0.1, mask_tv: 0.1}"])
    Trainer(cfg).fit()
    export(out / "run", out / f"{task}.safetensors")
    return out / f"{task}.safetensors"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        root = tmp_path_factory.mktemp("au-gen")
        return {t: _export(t, root / t) for t in ("relative-au", "ganimation")}
    finally:
        torch.set_num_threads(n)


@pytest.fixture
def smoke_weights(monkeypatch, exports):
    """The registered methods load the smoke exports instead of the shipped files."""
    from dataclasses import replace

    from facexpr.methods import get_method, get_spec, registry

    for name, path in exports.items():
        spec = get_spec(name)
        monkeypatch.setitem(registry._SPECS, name, replace(spec, weights=(), kwargs={**spec.kwargs, "generator": path}))
    get_method.cache_clear()
    yield exports
    get_method.cache_clear()


# ----------------------------------------------------------------------------- registry and files

def test_registered():
    from facexpr.methods import available

    assert {"relative-au", "ganimation", "warp"} <= set(available())


def test_missing_weights_raise_model_error(tmp_path):
    from facexpr.methods.relative_au.method import AUMethod

    for name in ("relative-au", "ganimation"):
        with pytest.raises(ModelError) as e:
            AUMethod(tmp_path / "nope.safetensors", family=name)
        msg = str(e.value)
        assert name in msg and "nope.safetensors" in msg and "not found" in msg and "\n" not in msg
        assert e.value.exit_code == 3
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"junk")
    with pytest.raises(ModelError):
        AUMethod(bad, family="relative-au")


def test_shipped_methods_load_or_fail_clearly():
    from facexpr.methods import get_spec
    from facexpr.methods.relative_au.method import AUMethod

    for name in ("relative-au", "ganimation"):
        spec = get_spec(name)
        try:
            paths = spec.weight_paths()  # resolved and checksum-verified through facexpr.assets
        except ModelError as e:
            assert "not found" in str(e) or "SHA-256" in str(e)
            continue
        m = AUMethod(*paths, spec=spec)
        assert m.name == name and m.size == spec.crop_size == 128


def test_wrong_task_file_is_refused(exports):
    from facexpr.methods.relative_au.method import AUMethod

    with pytest.raises(ModelError, match="holds a 'relative-au' generator"):
        AUMethod(exports["relative-au"], family="ganimation")


# ----------------------------------------------------------------------------- wanted AUs

def test_want_aus_are_the_retargeted_intent(source_face, target_face, model):
    """A transfer's wanted AUs are computed once, from the retargeted code: the intensity, the
    regions and a source's neutral photo reach the AU-conditioned methods as they reach the warp."""
    from facexpr.expression.retarget import RetargetConfig, retarget

    full = retarget(source_face, target_face, model)
    np.testing.assert_allclose(full.intent.want_aus,
                               action_units.estimate(np.clip(target_face.blendshapes + full.requested, 0, 1)))
    t_aus = action_units.estimate(target_face.blendshapes)
    assert full.intent.want_aus[AUS.index(12)] > t_aus[AUS.index(12)] + 0.3  # the source's smile
    mouth = retarget(source_face, target_face, model, RetargetConfig(regions=("mouth",))).intent
    brows = [AUS.index(a) for a in (1, 2, 4)]
    np.testing.assert_allclose(mouth.want_aus[brows], t_aus[brows], atol=1e-6)  # brows keep the target's
    half = retarget(source_face, target_face, model, RetargetConfig(intensity=0.5)).intent
    assert t_aus[AUS.index(12)] < half.want_aus[AUS.index(12)] < full.intent.want_aus[AUS.index(12)]
    # --source-neutral: the source's change from its neutral photo; the source itself as its
    # neutral is no change at all, so the generator is asked for the target's own AUs
    same = retarget(source_face, target_face, model, source_neutral=source_face).intent
    assert same.relative and np.allclose(same.want_aus, t_aus, atol=1e-6)


# ----------------------------------------------------------------------------- rendering

def _job(target_img, target_face, want_aus=None, source_face=None, source_img=None):
    from facexpr.expression.model import load_default_model
    from facexpr.expression.retarget import EDIT, Intent, retarget
    from facexpr.methods import RenderJob

    sf = source_face or target_face
    rt = retarget(sf, target_face, load_default_model())
    if want_aus is not None:
        rt.intent = Intent(EDIT, np.asarray(want_aus, np.float32))
    return RenderJob(target_img, target_face, target_img if source_img is None else source_img, sf, rt)


def test_render_passes_want_aus_to_the_generator(exports, target_img, target_face, monkeypatch):
    """The edit's wanted AUs reach ``task.generate`` as ``want_aus``; the task builds Δ itself."""
    from facexpr.methods.relative_au.method import AUMethod

    m = AUMethod(exports["relative-au"], family="relative-au")
    seen = {}
    real = m.exported.adapter.generate

    def spy(G, batch):
        seen.update({k: v.clone() for k, v in batch.items() if k in ("want_aus", "target_aus", "target")})
        return real(G, batch)

    monkeypatch.setattr(m.exported.adapter, "generate", spy)
    want = action_units.estimate(target_face.blendshapes, action_units.AUS_V1).astype(np.float32)
    want[K[12]] = 0.9
    m.exported.detail = True  # relative-au applies its field to a crop at the face's own resolution
    sharp = m.render(_job(target_img, target_face, want))
    assert sharp.image.shape[0] > m.size and sharp.image.shape[0] % 16 == 0 and not seen
    assert sharp.mask.shape == sharp.image.shape[:2]
    m.exported.detail = False  # the training-size crop, through task.generate
    patch = m.render(_job(target_img, target_face, want))
    np.testing.assert_allclose(seen["want_aus"].numpy()[0], want, atol=1e-6)
    np.testing.assert_allclose(seen["target_aus"].numpy()[0], action_units.estimate(target_face.blendshapes, action_units.AUS_V1), atol=1e-6)
    assert tuple(seen["target"].shape) == (1, 3, m.size, m.size)
    S = m.size
    assert patch.image.shape == (S, S, 3) and patch.mask.shape == (S, S)
    # the mask: the face oval, feathered (soft values), never touching the crop border (no seam)
    assert patch.mask.max() == pytest.approx(1.0, abs=1e-3) and 0 < ((patch.mask > 0.05) & (patch.mask < 0.95)).mean()
    border = np.concatenate([patch.mask[0], patch.mask[-1], patch.mask[:, 0], patch.mask[:, -1]])
    assert border.max() == 0.0


def test_oval_mask_grows_downward():
    from facexpr.expression.model import load_default_model
    from facexpr.faces.topology import FACE_OVAL
    from facexpr.methods.exported import oval_mask

    ms = load_default_model().mean_shape[:, :2]
    xy = (ms - ms.mean(0)) / np.ptp(ms[:, 1]) * 80 + 64  # a face ~80 px tall in a 128 crop
    m = oval_mask(xy, 128)
    oval = xy[list(FACE_OVAL)]
    chin_y = int(round(oval[:, 1].max()))
    top_y = int(round(oval[:, 1].min()))
    cx = int(round(oval[:, 0].mean()))
    col = m[:, cx]
    assert col[top_y:chin_y + 1].min() > 0.9             # the whole face at (nearly) full weight
    assert col[chin_y + 6] > 0.5                          # and room below the chin for a jaw drop
    below = np.flatnonzero(col[chin_y:] > 0.5).max()      # how far the mask reaches past the chin...
    above = top_y - np.flatnonzero(col > 0.5).min()       # ...and past the top of the forehead
    assert below > above + 3
    assert 0.0 < col[chin_y + 8] < 1.0                    # a feathered edge, no hard step
    assert m[0].max() == m[-1].max() == m[:, 0].max() == m[:, -1].max() == 0.0


def test_render_landmarks_keeps_its_mask_and_accepts_want_aus(exports, target_img, target_face):
    from facexpr.methods.exported import ExportedMethod

    m = ExportedMethod(exports["ganimation"])
    job = _job(target_img, target_face)
    a = m.render_landmarks(job, job.retargeted.landmarks)
    b = m.render(job)  # no want_aus: the landmark path
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.image, b.image)
    want = np.full(len(AUS), 0.5, np.float32)
    c = m.render_landmarks(job, job.retargeted.landmarks, want_aus=want)
    np.testing.assert_array_equal(c.mask, a.mask)
    assert not np.array_equal(c.image, a.image)  # the absolute AUs changed the output


@pytest.mark.parametrize("name", ["relative-au", "ganimation"])
def test_edit_and_transfer_through_registered_methods(name, smoke_weights, target_path, target_img, source_path):
    import facexpr

    r = facexpr.edit(target_path, aus={"AU12": 0.8, "AU26": 0.3}, method=name)
    assert r.image.shape == target_img.shape and {"render", "paste"} <= set(r.timings)
    assert "feedback" not in r.timings  # AU-driven: no landmark correction loop
    assert np.array_equal(r.image[:50], target_img[:50])     # outside the face: untouched
    assert np.abs(r.image.astype(int) - target_img).max() > 0
    zero = facexpr.edit(target_path, aus={"AU12": 0.8}, intensity=0, method=name)
    assert np.array_equal(zero.image, target_img)
    t = facexpr.transfer(source_path, target_path, method=name, regions=["mouth"], intensity=0.7)
    assert t.image.shape == target_img.shape and np.array_equal(t.image[:50], target_img[:50])


def test_exported_file_path_edits_too(exports, target_img):
    """``--method path.safetensors`` (the generic exported method) honours the edit's AUs."""
    import facexpr

    r = facexpr.edit(target_img, aus="AU12=+0.8", method=str(exports["relative-au"]))
    assert r.image.shape == target_img.shape and np.abs(r.image.astype(int) - target_img).max() > 0


def test_benchmark_model_timing(exports):
    """``facexpr evaluate --task edit`` times the generator alone at 128 and 256 px crops."""
    from facexpr.evaluate import edit as bench
    from facexpr.methods.relative_au.method import AUMethod

    m = AUMethod(exports["relative-au"], family="relative-au")
    assert bench._generator(m) is m.exported
    ms = bench.model_ms(m.exported, repeats=2)
    assert set(ms) == {"128", "256"} and all(isinstance(v, float) and v > 0 for v in ms.values())