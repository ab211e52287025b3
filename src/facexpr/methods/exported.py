"""A rendering method backed by an exported generator (``--method path/to/model.safetensors``).

The target face is cropped exactly as in training (:func:`facexpr.evaluate.crops.alignment`), the
retargeted landmarks are mapped into the crop, the sample is built as the data pipeline builds it
(:func:`facexpr.train.data.make_sample` + the task's ``sample_transform``), the generator renders
the crop, and a feathered face-oval mask pastes it back through the inverse crop transform. A task
whose edit is a field (relative-au's flow + residual) has it applied to a crop at the face's own
resolution instead (``detail``), so the pasted face is as sharp as the photo.

The wanted action units default to those of the retargeted blendshapes; an AU edit passes its own
(``job.options["want_aus"]``, or :meth:`ExportedMethod.render_aus`), which AU-conditioned tasks
(``relative-au``, ``ganimation``) read from the sample's ``want_aus``.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from ..expression import action_units
from ..faces.paste import Patch, polygon_mask
from ..faces.topology import FACE_OVAL


MAX_DETAIL = 768  # px: the largest crop a generator's edit field is applied to


class ExportedMethod:
    """``detail``: when the task can apply its edit at another resolution
    (:meth:`facexpr.train.tasks.TrainTask.generate_detail`, e.g. relative-au's flow field), apply
    it to a crop at the face's own resolution (up to :data:`MAX_DETAIL` px) instead of pasting back
    the upsampled training-size crop: the face stays as sharp as the photo."""

    def __init__(self, path: str | Path, device: str = "cpu", detail: bool = True):
        from .export import load_exported

        self.detail = detail
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
        """Render ``job``: with ``job.options["want_aus"]`` (an AU edit) through :meth:`render_aus`,
        else with the retargeted landmarks."""
        want_aus = (job.options or {}).get("want_aus")
        if want_aus is not None:
            return self.render_aus(job, want_aus, job.retargeted.landmarks)
        return self.render_landmarks(job, job.retargeted.landmarks)

    @torch.no_grad()
    def _generate(self, job, landmarks: np.ndarray, want_aus: np.ndarray | None):
        """The generator's crop and the alignment ``M``, the target's and the wanted crop landmarks."""
        from ..evaluate.crops import alignment
        from .data import make_sample, to_uint8_image
        from .prepare import crop_landmarks

        S = self.size
        M = alignment(job.target_face.landmarks, S)
        target = self._side(job.target, job.target_face, M)
        source = self._side(job.source, job.source_face, alignment(job.source_face.landmarks, S))
        want_lm = crop_landmarks(landmarks, M)
        want = {"landmarks": want_lm, "blendshapes": job.retargeted.blendshapes}
        if want_aus is not None:
            want["aus"] = np.asarray(want_aus, np.float32).reshape(len(action_units.AUS))
        sample = self.task.sample_transform(make_sample(target, source, want))
        batch = {k: torch.as_tensor(np.asarray(v))[None].to(self.device) for k, v in sample.items()}
        D = self._detail_size(M)
        if D > S:
            from ..evaluate.crops import aligned_crop
            from .data import to_tensor_image

            hi = torch.as_tensor(to_tensor_image(aligned_crop(job.target, job.target_face.landmarks, D)))[None]
            out = self.task.generate_detail(self.G, batch, hi.to(self.device))
            if out is not None:
                M_hi = alignment(job.target_face.landmarks, D)
                return (to_uint8_image(out[0]), M_hi, crop_landmarks(job.target_face.landmarks, M_hi),
                        crop_landmarks(landmarks, M_hi))
        out = to_uint8_image(self.task.generate(self.G, batch)[0])
        return out, M, target["landmarks"], want_lm

    def _detail_size(self, M: np.ndarray) -> int:
        """The crop side at the face's own resolution (a multiple of 16, at most MAX_DETAIL)."""
        if not self.detail:
            return self.size
        native = self.size / float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
        return int(np.clip(round(native / 16) * 16, self.size, MAX_DETAIL))

    def render_landmarks(self, job, landmarks: np.ndarray, want_aus: np.ndarray | None = None) -> Patch:
        """Render the target with the face geometry ``landmarks`` (target image coordinates) and,
        when given, the wanted action units ``want_aus`` (17, ``action_units.AUS`` order)."""
        out, M, target_lm, want_lm = self._generate(job, landmarks, want_aus)
        S = out.shape[0]
        oval = np.concatenate([target_lm[list(FACE_OVAL), :2], want_lm[list(FACE_OVAL), :2]])
        hull = cv2.convexHull(oval.astype(np.float32))[:, 0]
        mask = polygon_mask((S, S), hull, feather=0.05 * S)
        return Patch(image=out, mask=mask, to_target=cv2.invertAffineTransform(M))

    def render_aus(self, job, want_aus: np.ndarray, landmarks: np.ndarray | None = None) -> Patch:
        """Render the target with the wanted action units ``want_aus`` (17, in [0, 1]).

        ``landmarks`` (default: the target's own) only fills the sample's wanted geometry. The
        paste-back mask is the target's face oval, expanded (a jaw drop lengthens the face, so the
        lower half grows downward more) and feathered inwards: no hard seam anywhere.
        """
        lm = job.target_face.landmarks if landmarks is None else landmarks
        out, M, target_lm, _ = self._generate(job, lm, want_aus)
        S = out.shape[0]
        mask = oval_mask(target_lm[:, :2], S)
        return Patch(image=out, mask=mask, to_target=cv2.invertAffineTransform(M))


def oval_mask(crop_xy: np.ndarray, size: int, grow: float = 0.03, drop: float = 0.08,
              feather: float = 0.05) -> np.ndarray:
    """Soft (size, size) mask of a face's oval in crop pixels (0 on the crop's border).

    The oval is pushed outwards by the feather's width (so the inward feather falls outside the
    face and the whole face has weight 1), scaled by ``1 + grow`` about its centre, and its lower
    half is stretched down by up to ``drop`` of the oval's height (most at the chin: a jaw drop
    lengthens the face); the edge is feathered over ``feather`` · size px.
    """
    oval = np.asarray(crop_xy, np.float64)[list(FACE_OVAL)]
    c = oval.mean(0)
    f_px = feather * size
    r = oval - c
    big = c + r * (1.0 + grow) + r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-6) * (f_px + 2.0)
    h = float(np.ptp(oval[:, 1]))
    below = np.clip((big[:, 1] - c[1]) / max(big[:, 1].max() - c[1], 1e-6), 0.0, 1.0)
    big[:, 1] += drop * h * below
    big = np.clip(big, 0.5, size - 1.5)
    hull = cv2.convexHull(big.astype(np.float32))[:, 0]
    # Built on a padded canvas so the inward feather also runs along the crop's edges (erosion
    # sees the zeros beyond them): never a seam where the face nears the crop's border.
    pad = int(np.ceil(f_px)) + 2
    m = polygon_mask((size + 2 * pad, size + 2 * pad), hull, feather=f_px, offset=(-pad, -pad))
    return np.ascontiguousarray(m[pad:-pad, pad:-pad])
