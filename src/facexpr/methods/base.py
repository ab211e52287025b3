"""The one interface every method implements.

Detection, alignment, retargeting and paste-back are shared: a method only turns a
:class:`RenderJob` into a :class:`~facexpr.faces.paste.Patch`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..expression.retarget import Retargeted
from ..faces.landmarks import Face
from ..faces.paste import Patch


@dataclass
class RenderJob:
    target: np.ndarray        # full-resolution RGB target photo
    target_face: Face
    source: np.ndarray        # full-resolution RGB source photo
    source_face: Face
    retargeted: Retargeted    # the geometry and expression the target should end with
    options: dict = field(default_factory=dict)


class Method(Protocol):
    name: str

    def render(self, job: RenderJob) -> Patch: ...
