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

from ..spec import source_warp_spec

SPECS = (source_warp_spec("aip-gan", "AIPTask", "AIPAdapter",
                          "Ali & Hughes 2020: attended expression + identity features, bilinear pooling, refine the warp"),)
