"""Evaluate on small faces: every input photo shrunk before the transfer (``evaluate --downscale N``).

The benchmarks' photos are large studio portraits (London: 1350 px), but the product meets phone
crops and web thumbnails, where a face is 100–200 px wide. A refiner trained on large faces can
look less real there than the warp it refines; only a benchmark on small inputs shows that.

Each source, target, ground-truth and source-neutral image is resized so its long side is ``N``
pixels with ``cv2.INTER_AREA`` (the area average a camera or a thumbnailer does; no aliasing) and
written losslessly (PNG) to a work folder; the pairs then point at those copies, so every method,
the batch engines and every judge see exactly the same small images. An image already that small
is left as it is (never upscaled). KID/FID/LPIPS are computed on the small images' aligned crops as
usual: the reference set is down-scaled too, so they compare like with like.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import cv2

from ..datasets.expressions import Pair, load_ref
from ..errors import FacexprError, InputError
from ..io import save_image

MIN_SIDE = 64      # below this MediaPipe finds no face in a portrait: every score would be a failure
MAX_SIDE = 8192    # larger than any benchmark photo: a typo, not a request


@dataclass(frozen=True)
class Downscale:
    """Shrink every input image to ``long_side`` pixels on its long side (INTER_AREA) before the run."""
    long_side: int

    def __post_init__(self):
        if isinstance(self.long_side, bool) or not isinstance(self.long_side, int) or \
                not MIN_SIDE <= self.long_side <= MAX_SIDE:
            raise InputError(f"--downscale must be a whole number of pixels from {MIN_SIDE} to {MAX_SIDE} "
                             f"(the long side of every input image), got {self.long_side!r}")

    def describe(self) -> str:
        return (f"every source, target and ground-truth image down-scaled to {self.long_side} px on its long "
                "side (INTER_AREA) before the transfer; all metrics on those small images")

    def image(self, image):
        """``image`` with its long side at most :attr:`long_side` (area-averaged; never upscaled)."""
        h, w = image.shape[:2]
        s = self.long_side / max(h, w)
        if s >= 1:
            return image
        return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)

    def pairs(self, pairs: list[Pair], work: Path) -> list[Pair]:
        """The pairs with every image reference replaced by a down-scaled PNG copy in ``work``
        (one copy per distinct reference: London's sources are other pairs' ground truths).
        An unreadable input keeps its reference, so the runner reports that pair as skipped."""
        work = Path(work)
        work.mkdir(parents=True, exist_ok=True)
        done: dict[str, object] = {}

        def small(ref):
            if ref is None:
                return None
            key = str(ref)
            if key not in done:
                try:
                    image = load_ref(ref)
                except FacexprError:  # the runner reports it (a skipped pair), as without --downscale
                    done[key] = ref
                else:
                    name = hashlib.sha1(key.encode()).hexdigest()[:16] + ".png"
                    save_image(self.image(image), work / name)
                    done[key] = work / name
            return done[key]

        return [replace(p, source=small(p.source), target=small(p.target), gt=small(p.gt),
                        source_neutral=small(p.source_neutral)) for p in pairs]


__all__ = ["Downscale", "MIN_SIDE", "MAX_SIDE"]
