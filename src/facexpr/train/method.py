"""A rendering method backed by an exported generator (``--method path/to/model.safetensors``).

The target face is cropped exactly as in training (:func:`facexpr.evaluate.crops.alignment`), the
retargeted landmarks are mapped into the crop, the sample is built as the data pipeline builds it
(:func:`facexpr.train.data.make_sample` + the task's ``sample_transform``), the generator renders
the crop, and a feathered face-oval mask pastes it back through the inverse crop transform.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..expression import action_units
from ..faces.paste import Patch, polygon_mask
from ..faces.topology import FACE_OVAL


class ExportedMethod:
    def __init__(self, path: str | Path, device: str = "cpu"):
        from .export import load_exported

        self.path = Path(path)
        self.name = self.path.stem
        self.device = device
        self.G, self.task, self.card = load_exported(self.path, device)
        self.size = int(self.card["size"])

    def _side(self, image, face, M):
        from ..evaluate.crops import aligned_crop
        from .prepare import crop_landmarks

        bs = np.asarray(face.blendshapes, np.float32)
        return {"image": aligned_crop(image, face.landmarks, self.size), "landmarks": crop_landmarks(face.landmarks, M),
                "blendshapes": bs, "aus": action_units.estimate(bs), "identity": np.zeros(128, np.float32)}

    def render(self, job) -> Patch:
        return self.render_landmarks(job, job.retargeted.landmarks)

    @torch.no_grad()
    def render_landmarks(self, job, landmarks: np.ndarray) -> Patch:
        """Render the target with the face geometry ``landmarks`` (target image coordinates)."""
        from ..evaluate.crops import alignment
        from .data import make_sample, to_uint8_image
        from .prepare import crop_landmarks

        S = self.size
        M = alignment(job.target_face.landmarks, S)
        target = self._side(job.target, job.target_face, M)
        source = self._side(job.source, job.source_face, alignment(job.source_face.landmarks, S))
        want_lm = crop_landmarks(landmarks, M)
        sample = make_sample(target, source, {"landmarks": want_lm, "blendshapes": job.retargeted.blendshapes})
        sample = self.task.sample_transform(sample)
        batch = {k: torch.as_tensor(np.asarray(v))[None].to(self.device) for k, v in sample.items()}
        out = to_uint8_image(self.task.generate(self.G, batch)[0])
        oval = np.concatenate([target["landmarks"][list(FACE_OVAL), :2], want_lm[list(FACE_OVAL), :2]])
        hull = cv2.convexHull(oval.astype(np.float32))[:, 0]
        mask = polygon_mask((S, S), hull, feather=0.05 * S)
        return Patch(image=out, mask=mask, to_target=cv2.invertAffineTransform(M))
