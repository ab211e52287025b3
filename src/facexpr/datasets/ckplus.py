"""Extended Cohn-Kanade (CK+; Lucey et al. 2010): 123 subjects, 593 sequences from neutral to peak.

Published layout (the root holds both folders, possibly one level down)::

    cohn-kanade-images/S005/001/S005_001_00000001.png   (frames; the first is neutral)
    Emotion/S005/001/S005_001_00000011_emotion.txt     (one number, for the last = peak frame)

Emotion codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
Only the 327 sequences with an emotion file are used: the peak frame is the expression, the
first frame of the same sequence its neutral (so a target's neutral and its ground truth come from
one take). Contempt pairs are built but carry no emotion label.
"""
from __future__ import annotations

from pathlib import Path

from .expressions import Sample

CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy",
         6: "sadness", 7: "surprise"}
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def _find(root: Path, name: str) -> Path | None:
    for cand in (root / name, *(d / name for d in sorted(root.iterdir()) if d.is_dir())):
        if cand.is_dir():
            return cand
    return None


def samples(root: Path) -> list[Sample]:
    root = Path(root)
    images, emotion = _find(root, "cohn-kanade-images"), _find(root, "Emotion")
    if images is None or emotion is None:
        raise FileNotFoundError(f"{root}: expected cohn-kanade-images/ and Emotion/ folders (CK+ layout)")
    out = []
    for txt in sorted(emotion.glob("*/*/*_emotion.txt")):
        subject, seq = txt.parent.parent.name, txt.parent.name
        try:
            code = int(float(txt.read_text().split()[0]))
        except (ValueError, IndexError):
            continue
        frames = sorted(p for p in (images / subject / seq).glob("*") if p.suffix.lower() in IMAGE_EXTS)
        if len(frames) < 2 or code not in CODES:
            continue
        peak_name = txt.name.replace("_emotion.txt", "")
        peak = next((f for f in frames if f.stem == peak_name), frames[-1])
        out.append(Sample(person=subject, expression=CODES[code], image=peak, neutral=frames[0]))
    return out
