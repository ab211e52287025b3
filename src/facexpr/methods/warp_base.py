"""The product's ``warp`` as the base a generator refines ("warp + learned residual").

A generator on the shared residual shape (:mod:`facexpr.methods.residual`) used to start from a
plain landmark warp of the crop: no mouth interior, no rigid irises, no opened-eye sclera, no
folds — so a short CPU run had to learn all of that and an opened mouth came out as a lip-coloured
blob. Here the base is exactly what the ``warp`` method renders (:class:`~.warp.method.Warp`):
the mesh warp with the source's (or a synthesised) mouth interior, the irises and eyeballs, and
the expression model's fold shading. The generator then only adds what the warp still misses,
and at initialisation the method *is* ``warp``.

Two entry points, one renderer, so training and inference cannot disagree:

* :func:`render_base` — inference: the whole photo warped for a :class:`~.base.RenderJob` (the
  pipeline's closed-loop-corrected geometry included);
* :func:`crop_base` — training: the same warp on a sample's aligned crops (in data workers).
"""
from __future__ import annotations

import numpy as np

from ..expression.model import load_default_model
from ..expression.retarget import Retargeted
from ..faces.landmarks import Face
from ..faces.paste import Patch, paste_back
from .base import RenderJob
from .flow import landmark_flow
from .samples import to_tensor_image, to_uint8_image
from .warp.method import Warp

_WARP = Warp()


def render_base(job: RenderJob) -> tuple[np.ndarray, Patch]:
    """(the target photo with the warp pasted in, the warp's patch)."""
    patch = _WARP.render(job)
    return paste_back(job.target, patch), patch


def _crop_face(landmarks: np.ndarray, blendshapes: np.ndarray, size: int) -> Face:
    return Face(np.asarray(landmarks, np.float64), np.asarray(blendshapes, np.float32), np.eye(4), (size, size))


def crop_base(sample: dict, shading: bool = True) -> np.ndarray:
    """The warp of a sample's target crop to its wanted landmarks, (3, S, S) float32 in [-1, 1]
    (the sample's format): the source crop gives the mouth interior, as in a transfer; the
    expression model's fold shading is that of the blendshape change ``want − target``."""
    target = to_uint8_image(sample["target"])
    source = to_uint8_image(sample["source"])
    S = target.shape[0]
    t_face = _crop_face(sample["target_landmarks"], sample["target_blendshapes"], S)
    s_face = _crop_face(sample["source_landmarks"], sample["source_blendshapes"], S)
    want_bs = np.asarray(sample["want_blendshapes"], np.float64)
    delta = want_bs - t_face.blendshapes
    ratio = layout = None
    if shading:
        model = load_default_model()
        ratio = model.shading_ratio(delta)
        layout = model.layout if ratio is not None else None
    rt = Retargeted(np.asarray(sample["want_landmarks"], np.float64), delta, want_bs, shading=ratio, layout=layout)
    out, _ = render_base(RenderJob(target, t_face, source, s_face, rt))
    return to_tensor_image(out)


def add_base(sample: dict, flow_grid: int = 0, warp: bool = True) -> dict:
    """A residual family's ``sample_transform`` step: the base flow (target → wanted landmarks,
    what the backbone is told) and, with ``warp``, the base image — unless inference already put
    the full photo's warp, cropped, there."""
    sample["base_flow"] = landmark_flow(sample["target_landmarks"], sample["want_landmarks"],
                                        sample["target"].shape[-1], int(flow_grid))
    if warp and "base" not in sample:
        sample["base"] = crop_base(sample)
    return sample


__all__ = ["render_base", "crop_base", "add_base"]
