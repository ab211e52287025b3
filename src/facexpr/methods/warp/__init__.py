"""``warp``: move the target's own pixels along the dense face mesh to the retargeted geometry
(:mod:`.method`). No network and no training: no ``nets.py``/``train.py``, no weights. It edits too:
an AU edit reaches it as the target retargeted to its own face with the blendshapes edited through
the AU table (:func:`facexpr.pipeline.run_edit`)."""
from __future__ import annotations

from ..spec import MethodSpec

SPECS = (
    MethodSpec(name="warp", adapter="facexpr.methods.warp.method:Warp", capabilities=frozenset({"transfer", "edit"}), landmark_driven=True,
               summary="mesh warp of the target's own pixels + expression shading (no generator; default)"),
)
