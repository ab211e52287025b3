"""Radboud Faces Database (RaFD; Langner et al. 2010): 67 models, 8 expressions, 5 cameras, 3 gazes.

Published layout: one folder of JPEGs (some copies nest them in sub-folders; all are searched)::

    Rafd090_01_Caucasian_female_angry_frontal.jpg
    Rafd<camera>_<model id>_<ethnicity>_<gender>_<expression>_<gaze>.jpg

camera: 000, 045, 090 (frontal), 135, 180; expression: angry, contemptuous, disgusted, fearful,
happy, neutral, sad, surprised; gaze: frontal, left, right. By default the frontal camera with
frontal gaze is used; "contemptuous" pairs are built but have no emotion label (not one of the
seven classes the emotion judges know).
"""
from __future__ import annotations

import re
from pathlib import Path

from .expressions import Sample

PATTERN = re.compile(r"^Rafd(?P<cam>\d{3})_(?P<id>\d+)_(?P<eth>[A-Za-z]+)_(?P<gender>[A-Za-z]+)_"
                     r"(?P<expr>[A-Za-z]+)_(?P<gaze>[A-Za-z]+)\.jpe?g$", re.IGNORECASE)


def samples(root: Path, camera: str = "090", gaze: str = "frontal") -> list[Sample]:
    out = []
    for p in sorted(Path(root).rglob("*")):
        m = PATTERN.match(p.name)
        if m and m["cam"] == camera and m["gaze"].lower() == gaze:
            out.append(Sample(person=m["id"], expression=m["expr"].lower(), image=p))
    return out
