"""The one interface every method implements, and the typed requests it receives.

Detection, alignment, retargeting and paste-back are shared: a method only turns a
:class:`RenderJob` into a :class:`~facexpr.faces.paste.Patch`. What the job asks for is a typed
request, never an options dict:

* :class:`TransferRequest`: the source face's expression (× ``intensity``, on ``regions``);
* :class:`EditRequest`: the action units the output should show (``want_aus``).

Each method declares the requests it can serve (``capabilities``, a subset of
:data:`CAPABILITIES`); the pipeline refuses any other with
:class:`~facexpr.errors.MethodCannot` (one line, exit code 2) before any work is done.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Protocol, Union

import numpy as np

from ..errors import MethodCannot
from ..expression.blendshapes import REGIONS
from ..expression.retarget import Retargeted
from ..faces.landmarks import Face
from ..faces.paste import Patch

TRANSFER = "transfer"
EDIT = "edit"
CAPABILITIES = (TRANSFER, EDIT)


@dataclass(frozen=True)
class TransferRequest:
    """Put the source face's expression on the target (``intensity`` in [0, MAX_INTENSITY], already
    validated by :func:`facexpr.limits.check_intensity`; ``regions`` of :data:`REGIONS`)."""

    intensity: float = 1.0
    regions: tuple[str, ...] = REGIONS
    kind: ClassVar[str] = TRANSFER


@dataclass(frozen=True)
class EditRequest:
    """Change the target's action units: the output should show ``want_aus`` (``action_units.AUS``
    order, in [0, 1]); ``current_aus`` are the target's before the edit."""

    want_aus: np.ndarray
    current_aus: np.ndarray
    kind: ClassVar[str] = EDIT


Request = Union[TransferRequest, EditRequest]


@dataclass
class RenderJob:
    target: np.ndarray        # full-resolution RGB target photo
    target_face: Face
    source: np.ndarray        # full-resolution RGB source photo (an edit: the target itself)
    source_face: Face         # (an edit: the target with its blendshapes edited through the AU table)
    retargeted: Retargeted    # the geometry and expression the target should end with
    request: Request = field(default_factory=TransferRequest)


class Method(Protocol):
    name: str
    capabilities: frozenset[str]

    def render(self, job: RenderJob) -> Patch: ...


def require(method, kind: str) -> None:
    """Raise :class:`MethodCannot` unless ``method`` declares capability ``kind``."""
    caps = frozenset(getattr(method, "capabilities", ()))
    if kind not in caps:
        can = ", ".join(sorted(caps)) or "nothing"
        raise MethodCannot(f"method '{method.name}' cannot {kind} (it can: {can}); "
                           f"`facexpr methods` lists what each method can do")


__all__ = ["TRANSFER", "EDIT", "CAPABILITIES", "TransferRequest", "EditRequest", "Request", "RenderJob",
           "Method", "require"]
