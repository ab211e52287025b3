"""The skin-shading colour (``SKIN_CHROMA``) is what real photos show: re-measured on a few London
train-split people it agrees with the shipped constant (``facexpr.research.skin_chroma``)."""
from __future__ import annotations

import numpy as np

from facexpr.expression.shading import SKIN_CHROMA


def test_shipped_skin_chroma_is_what_real_smiles_show(shared_data):
    from facexpr.research.skin_chroma import measure

    k = measure(shared_data, people=6)["all"]
    assert k[0] < k[1] and k[0] < k[2]  # real folds are redder than a grey shadow
    assert np.abs(k - SKIN_CHROMA).max() < 0.06  # six people agree with the sixty it was measured on
