"""``pix2pix``: the landmark-fusion paper's baseline (Fan et al. 2023 compare against pix2pix,
Isola et al. 2017), trained by this project on the same data and schedule.

A plain U-Net (``configs/pix2pix-baseline-128.yaml``: no attention mask, no map of the target's
own key points) edits the aligned target crop given the **source's** key-point image as it is —
no fusion module. Because both crops are aligned to one template, the source's key points keep
the source's face shape (eye distance, jaw, lip thickness): exactly the identity leak the fusion
module exists to remove. Its row in ``docs/RESULTS.md`` measures that difference.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .. import register

GENERATOR_PATH = Path(__file__).resolve().parents[2] / "data" / "pix2pix_g128.safetensors"


def source_in_target(job, size: int) -> np.ndarray:
    """The source's landmarks placed so that, in the target's aligned crop, they sit where they
    sat in the source's aligned crop (× ``intensity`` and ``--regions`` from the target's own)."""
    from ...evaluate.crops import alignment

    M_s = alignment(job.source_face.landmarks, size)
    M_t_inv = cv2.invertAffineTransform(alignment(job.target_face.landmarks, size))
    src = np.asarray(job.source_face.landmarks, np.float64)
    tgt = np.asarray(job.target_face.landmarks, np.float64)
    xy = src[:, :2] @ M_s[:, :2].T + M_s[:, 2]          # source image -> template crop
    xy = xy @ M_t_inv[:, :2].T + M_t_inv[:, 2]          # template crop -> target image
    intensity = float(job.options.get("intensity", 1.0)) if job.options else 1.0
    disp = (xy - tgt[:, :2]) * intensity
    weights = job.retargeted.point_weights
    if weights is not None:
        disp = disp * np.asarray(weights)[:, None]
    out = tgt.copy()
    out[:, :2] += disp
    return out


class Pix2PixMethod:
    name = "pix2pix"

    def __init__(self, generator: str | Path = GENERATOR_PATH, device: str = "cpu"):
        from ...errors import ModelError
        from ...train.method import ExportedMethod

        generator = Path(generator)
        if not generator.is_file():
            raise ModelError(f"pix2pix: generator weights {generator} not found "
                             "(train configs/pix2pix-baseline-128.yaml and export it, see docs/models/pix2pix.md)")
        self.exported = ExportedMethod(generator, device)
        self.size = self.exported.size

    def render(self, job):
        return self.exported.render_landmarks(job, source_in_target(job, self.size))


@register("pix2pix")
def _factory() -> Pix2PixMethod:
    return Pix2PixMethod()


__all__ = ["Pix2PixMethod", "source_in_target", "GENERATOR_PATH"]
