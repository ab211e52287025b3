"""Karolinska Directed Emotional Faces (KDEF; Lundqvist, Flykt & Öhman 1998): 70 people, 7
expressions, 5 angles, photographed twice (series A and B).

Published layout::

    KDEF/AF01/AF01ANS.JPG
    KDEF/<series><gender><id>/<series><gender><id><expression><angle>.JPG

series: A or B; gender: F or M; id: 01-35; expression: AF afraid, AN angry, DI disgusted,
HA happy, NE neutral, SA sad, SU surprised; angle: S straight (used), HL/HR half, FL/FR full
profile. The person is gender + id (AF01 and BF01 are the same woman); series A is preferred,
B fills in what A lacks.
"""
from __future__ import annotations

import re
from pathlib import Path

from .expressions import Sample

PATTERN = re.compile(r"^(?P<series>[AB])(?P<gender>[FM])(?P<id>\d{2})(?P<expr>AF|AN|DI|HA|NE|SA|SU)"
                     r"(?P<angle>S|HL|HR|FL|FR)\.jpe?g$", re.IGNORECASE)
EXPRESSIONS = {"AF": "fearful", "AN": "angry", "DI": "disgusted", "HA": "happy", "NE": "neutral",
               "SA": "sad", "SU": "surprised"}


def samples(root: Path, angle: str = "S") -> list[Sample]:
    best: dict[tuple[str, str], tuple[str, Path]] = {}
    for p in sorted(Path(root).rglob("*")):
        m = PATTERN.match(p.name)
        if not m or m["angle"].upper() != angle:
            continue
        key = (m["gender"].upper() + m["id"], EXPRESSIONS[m["expr"].upper()])
        series = m["series"].upper()
        if key not in best or series < best[key][0]:
            best[key] = (series, p)
    return [Sample(person=person, expression=expr, image=p) for (person, expr), (_, p) in sorted(best.items())]
