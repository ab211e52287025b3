"""Any expression set laid out as one folder per person, one image per expression::

    <root>/anna/neutral.jpg
    <root>/anna/happy.png
    <root>/ben/neutral.jpg
    <root>/ben/happy.jpg
    <root>/ben/surprised.webp

The file stem is the expression. A person needs ``neutral`` to be a target; the seven emotion
names (and common synonyms: happiness, smile, anger, fear, disgust, surprise, sadness, ...) get an
emotion label, any other name (``pout``, ``wink``) is transferred and scored without one.
"""
from __future__ import annotations

from pathlib import Path

from .expressions import Sample

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff")


def samples(root: Path) -> list[Sample]:
    out = []
    for person in sorted(p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")):
        for img in sorted(person.iterdir()):
            if img.suffix.lower() in IMAGE_EXTS and not img.name.startswith("."):
                out.append(Sample(person=person.name, expression=img.stem.lower(), image=img))
    return out
