"""``au-swap`` (Shao et al. 2019, "Explicit Facial Expression Transfer via Fine-Grained Semantic
Representations"): two unpaired photos swap expressions through AU-related / AU-free features.

* :mod:`.nets`: per-AU attention branches (AU-related features), the AU-free encoder, the
  multi-class adversary, the decoder on the shared "warp + learned residual" renderer;
* :mod:`.method`: the inference adapter (the shared :class:`~facexpr.methods.source_warp.SourceWarpMethod`
  renders it);
* :mod:`.train`: the training recipe (swap consistency, multi-class adversarial disentanglement).

Transfer only (an edit has no second photo to take AU features from); ``facexpr swap A B`` runs
both directions. Weights: ``src/facexpr/data/au_swap_g128.safetensors`` (:mod:`facexpr.assets`).
"""
from __future__ import annotations

from ..spec import source_warp_spec

SPECS = (source_warp_spec("au-swap", "AUSwapTask", "AUSwapAdapter",
                          "Shao et al. 2019: swapped AU-related features of the source refine the warp (transfer, swap)"),)
