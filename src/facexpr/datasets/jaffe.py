"""Japanese Female Facial Expression database (JAFFE; Lyons, Kamachi & Gyoba 1998): 10 women, 7
expressions, 213 greyscale 256x256 images.

Published layout: one folder of TIFFs::

    KA.AN1.39.tiff
    <model>.<expression><n>.<image number>.tiff

models: KA, KL, KM, KR, MK, NA, NM, TM, UY, YM; expression: AN angry, DI disgusted, FE fearful,
HA happy, NE neutral, SA sad, SU surprised; n counts a model's takes of that expression (the
first take is used).
"""
from __future__ import annotations

import re
from pathlib import Path

from .expressions import Sample

PATTERN = re.compile(r"^(?P<model>[A-Z]{2})\.(?P<expr>AN|DI|FE|HA|NE|SA|SU)(?P<take>\d+)\.(?P<num>\d+)\.tiff?$",
                     re.IGNORECASE)
EXPRESSIONS = {"AN": "angry", "DI": "disgusted", "FE": "fearful", "HA": "happy", "NE": "neutral",
               "SA": "sad", "SU": "surprised"}


def samples(root: Path) -> list[Sample]:
    found = []
    for p in Path(root).rglob("*"):
        m = PATTERN.match(p.name)
        if m:
            found.append((m["model"].upper(), EXPRESSIONS[m["expr"].upper()], int(m["take"]), p))
    # keep each model's first take of each expression
    return [Sample(person=model, expression=expr, image=p) for model, expr, _, p in sorted(found)]
