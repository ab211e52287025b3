"""``aip-gan`` (Ali & Hughes 2020, "An Efficient Integration of Disentangled Attended Expression and
Identity Features for Facial Expression Transfer and Synthesis"): identity-preserving transfer.

* :mod:`.nets`: the expression encoder (supervised attention, landmark head), the identity encoder
  (self-supervised attention, intrinsic-image head), the cross-encoder bilinear pooling, the
  decoder on the shared "warp + learned residual" renderer;
* :mod:`.method`: the inference adapter (rendered by :class:`~facexpr.methods.source_warp.SourceWarpMethod`);
* :mod:`.train`: the training recipe (landmark, attention, intrinsic, identity and leakage terms).

Transfer only (an edit has no source photo to encode). Weights:
``src/facexpr/data/aip_gan_g128.safetensors`` (:mod:`facexpr.assets`).
"""
from __future__ import annotations

from ..spec import MethodSpec

SPECS = (
    MethodSpec(name="aip-gan", adapter="facexpr.methods.source_warp:SourceWarpMethod",
               capabilities=frozenset({"transfer"}), landmark_driven=True, weights=("aip_gan_g128",), crop_size=128,
               config="configs/aip-gan-cpu.yaml", card="docs/models/aip-gan.md",
               task="facexpr.methods.aip_gan.train:AIPTask",
               generator="facexpr.methods.aip_gan.method:AIPAdapter",
               summary="Ali & Hughes 2020: attended expression + identity features, bilinear pooling, refine the warp"),
)
