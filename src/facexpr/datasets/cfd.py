"""Chicago Face Database (CFD 3.0; Ma, Correll & Wittenbrink 2015), with CFD-MR and CFD-INDIA.

Published layout::

    CFD Version 3.0/Images/CFD/AF-200/CFD-AF-200-228-N.jpg
    .../<model>/CFD-<model>-<session>-<expression>.jpg

model: ethnicity + gender + number (AF-200, WM-001, ...); expression: N neutral, A angry,
F fearful, HC happy with closed mouth, HO happy with open mouth (only part of the models have the
four expressions). The whole tree under the root is searched. HC and HO are separate expressions
('happy_closed', 'happy_open'), both labelled happy.
"""
from __future__ import annotations

import re
from pathlib import Path

from .expressions import Sample

PATTERN = re.compile(r"^CFD-(?P<model>[A-Z]+-\d+)-(?P<session>\d+)-(?P<expr>N|A|F|HC|HO)\.jpe?g$", re.IGNORECASE)
EXPRESSIONS = {"N": "neutral", "A": "angry", "F": "fearful", "HC": "happy_closed", "HO": "happy_open"}


def samples(root: Path) -> list[Sample]:
    out = []
    for p in sorted(Path(root).rglob("*")):
        m = PATTERN.match(p.name)
        if m:
            out.append(Sample(person=m["model"].upper(), expression=EXPRESSIONS[m["expr"].upper()], image=p))
    return out
