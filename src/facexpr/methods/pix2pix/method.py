"""``pix2pix``: the landmark-fusion paper's baseline (Fan et al. 2023 compare against pix2pix,
Isola et al. 2017), trained by this project on the same data and schedule.

A plain U-Net (``configs/pix2pix-baseline-128.yaml``: no attention mask, no map of the target's
own key points) edits the aligned target crop given the **source's** key-point image as it is —
no fusion module. Because both crops are aligned to one template, the source's key points keep
the source's face shape (eye distance, jaw, lip thickness): exactly the identity leak the fusion
module exists to remove. Its row in ``docs/RESULTS.md`` measures that difference.

``pix2pix-warp`` is the same baseline on the shared "warp + learned residual" renderer
(:class:`Pix2PixWarpAdapter`): the source's key points, placed in the target's frame, drive the
product's warp, and a plain U-Net told the wanted key-point image refines it.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import torch

from ...expression.model import load_default_model
from ...expression.retarget import Retargeted
from ...faces.align import to_canonical
from ...faces.crops import alignment
from ..exported import GeneratorAdapter, GeneratorMethod
from ..nets import UNetGenerator, unwrap
from ..residual import compose
from ..samples import landmark_map
from ..warp_base import add_base
from .nets import keypoint_warp_generator


class Pix2PixAdapter(GeneratorAdapter):
    """The pix2pix family's generator at inference (and the base of its training recipe,
    :class:`~.train.Pix2PixTask`): input = target crop (3) + the target's key-point image (1,
    unless the U-Net was built with ``in_ch=4``: plain pix2pix) + the wanted key-point image (1);
    key-point images ``model.kp_thickness`` px wide (default 1)."""

    @classmethod
    def build_generator(cls, spec: dict):
        return UNetGenerator(**spec)

    def sample_transform(self, sample: dict) -> dict:
        size = sample["target"].shape[-1]
        th = int(self.model.get("kp_thickness", 1))
        sample["target_map"] = landmark_map(sample["target_landmarks"], size, th)
        sample["want_map"] = landmark_map(sample["want_landmarks"], size, th)  # landmark-fusion: the fused points
        return sample

    def _g(self, G, image, from_map, to_map):
        if unwrap(G).spec["in_ch"] == 4:  # plain pix2pix: no map of where the face is now
            return G(torch.cat([image, to_map * 2 - 1], 1))
        return G(torch.cat([image, from_map * 2 - 1, to_map * 2 - 1], 1))

    def generate(self, G, batch):
        return self._g(G, batch["target"], batch["target_map"], batch["want_map"])[0]


class Pix2PixWarpAdapter(Pix2PixAdapter):
    """A key-point-image U-Net on the product's warp: the warp moves the target to the
    wanted key points (:mod:`facexpr.methods.warp_base`, the sample's ``base``; the base flow tells
    the net where), and the U-Net (:class:`~.nets.KeypointUNet`: the wanted key-point image, plus
    the target's own unless the spec says ``target_map: False``) adds a flow correction, a colour
    residual and a blend mask, applied at the photo's own resolution. At initialisation the output
    is the warp."""

    warp_base = True

    @classmethod
    def build_generator(cls, spec: dict):
        return keypoint_warp_generator(**spec)

    def sample_transform(self, sample: dict) -> dict:
        return add_base(super().sample_transform(sample), int(self.model.get("flow_grid", 64)))

    def generate(self, G, batch):
        return G(batch["target"], batch["base_flow"], batch["target_map"], batch["want_map"], base=batch["base"])[0]

    @torch.no_grad()
    def generate_detail(self, G, batch, image: torch.Tensor) -> torch.Tensor:
        """The fields computed on the training-size crop, applied to ``image`` (a larger crop of
        the warped photo)."""
        return compose(image, G.fields(batch["target"], batch["base_flow"], batch["target_map"], batch["want_map"],
                                       base=batch["base"]))


def as_geometry(job, landmarks: np.ndarray) -> Retargeted:
    """``job.retargeted`` with ``landmarks`` (image coordinates) as its measured canonical
    displacement: a key-point-driven method's geometry, which the pipeline's closed loop may
    then correct like ``warp``'s."""
    reference = load_default_model().mean_shape
    disp = to_canonical(landmarks, reference)[0] - to_canonical(job.target_face.landmarks, reference)[0]
    return replace(job.retargeted, landmarks=landmarks, geometry=disp)


def source_in_target(job, size: int) -> np.ndarray:
    """The source's landmarks placed so that, in the target's aligned crop, they sit where they
    sat in the source's aligned crop (× ``intensity`` and ``--regions`` from the target's own)."""
    M_s = alignment(job.source_face.landmarks, size)
    M_t_inv = cv2.invertAffineTransform(alignment(job.target_face.landmarks, size))
    src = np.asarray(job.source_face.landmarks, np.float64)
    tgt = np.asarray(job.target_face.landmarks, np.float64)
    xy = src[:, :2] @ M_s[:, :2].T + M_s[:, 2]          # source image -> template crop
    xy = xy @ M_t_inv[:, :2].T + M_t_inv[:, 2]          # template crop -> target image
    disp = (xy - tgt[:, :2]) * job.intent.intensity
    weights = job.retargeted.point_weights
    if weights is not None:
        disp = disp * np.asarray(weights)[:, None]
    out = tgt.copy()
    out[:, :2] += disp
    return out


class Pix2PixMethod(GeneratorMethod):
    """The source's key points in the target's frame are the geometry (:meth:`geometry`, which
    the pipeline asks for before rendering a transfer); the generator renders the job's retargeted
    landmarks — on the product's warp (``pix2pix-warp``) after the closed loop corrected them."""

    doc = "docs/models/pix2pix.md"
    family = "pix2pix"

    def geometry(self, job) -> Retargeted:
        return as_geometry(job, source_in_target(job, self.size))


__all__ = ["Pix2PixMethod", "Pix2PixAdapter", "Pix2PixWarpAdapter", "as_geometry", "source_in_target"]
