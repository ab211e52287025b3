"""The one interface every method implements, and the job it receives.

Detection, alignment, retargeting and paste-back are shared: a method only turns a
:class:`RenderJob` into a :class:`~facexpr.faces.paste.Patch`. What the job asks for is typed,
never an options dict: ``job.retargeted`` is the geometry and its
:class:`~facexpr.expression.retarget.Intent` (transfer or edit, the action units the output should
show, intensity, regions, relative or absolute), computed once by the pipeline
(:func:`facexpr.pipeline.render`, the one entry point transfer, swap, edit, animate and the
evaluation share).

Each method's :class:`~.spec.MethodSpec` declares the kinds it can serve (``capabilities``, a
subset of :data:`CAPABILITIES`) and how it is driven (its traits); the pipeline refuses any other
kind with :class:`~facexpr.errors.MethodCannot` (one line, exit code 2) before any work is done.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from ..errors import MethodCannot
from ..expression.retarget import EDIT, TRANSFER, Intent, Retargeted
from ..faces.landmarks import Face, analysed
from ..faces.paste import Patch

if TYPE_CHECKING:
    from .spec import MethodSpec

CAPABILITIES = (TRANSFER, EDIT)


@dataclass
class RenderJob:
    target: np.ndarray        # full-resolution RGB target photo
    target_face: Face
    source: np.ndarray        # full-resolution RGB source photo (an edit: the target itself)
    source_face: Face         # (an edit: the target with its expression code edited through the AU table)
    retargeted: Retargeted    # the geometry the target should end with, and what was asked (``.intent``)

    def __post_init__(self):
        analysed(self.target_face, "render target")
        analysed(self.source_face, "render source")

    @property
    def intent(self) -> Intent:
        return self.retargeted.intent


class Method(Protocol):
    spec: "MethodSpec"  # given by the registry on construction; name, capabilities and traits

    def render(self, job: RenderJob) -> Patch: ...


def require(spec: "MethodSpec", kind: str) -> None:
    """Raise :class:`MethodCannot` unless ``spec`` declares capability ``kind``."""
    if kind not in spec.capabilities:
        can = ", ".join(sorted(spec.capabilities)) or "nothing"
        raise MethodCannot(f"method '{spec.name}' cannot {kind} (it can: {can}); "
                           f"`facexpr methods` lists what each method can do")


__all__ = ["TRANSFER", "EDIT", "CAPABILITIES", "Intent", "RenderJob", "Method", "require"]
