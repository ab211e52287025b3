"""MMI Facial Expression Database (Pantic et al. 2005): posed onset-apex-offset videos.

Published layout (the download's ``Sessions`` folder, or its parent)::

    Sessions/<n>/session.xml          <session ...><subject id="1"/><track view="0" .../></session>
    Sessions/<n>/S001-001.avi         the video: neutral -> apex -> neutral
    Sessions/<n>/S001-001.xml         <Metatag Name="Emotion" Value="1..6"/> (when labelled)

Emotion values: 1 anger, 2 disgust, 3 fear, 4 happiness, 5 sadness, 6 surprise. Only labelled,
frontal (``view="0"``, or no view given) video sessions are used. The neutral is frame 0; the
expression is the middle frame (``"<video>#frame=middle"``), where the apex of an onset-apex-offset
take lies; MMI's per-AU apex markers are not read. The subject is ``<subject id>`` of session.xml,
else the file-name prefix (``S001``).
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .expressions import Sample

EMOTIONS = {1: "anger", 2: "disgust", 3: "fear", 4: "happiness", 5: "sadness", 6: "surprise"}
VIDEO_EXTS = (".avi", ".mp4", ".mov", ".mkv")


def _xml(path: Path):
    try:
        return ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None


def samples(root: Path) -> list[Sample]:
    root = Path(root)
    sessions = root / "Sessions" if (root / "Sessions").is_dir() else root
    out = []
    for d in sorted(p for p in sessions.iterdir() if p.is_dir()):
        meta = _xml(d / "session.xml")
        subject, view = None, None
        if meta is not None:
            subj = meta.find(".//subject")
            subject = subj.get("id") if subj is not None else None
            track = meta.find(".//track")
            view = track.get("view") if track is not None else None
        if view not in (None, "0"):
            continue
        for video in sorted(p for p in d.iterdir() if p.suffix.lower() in VIDEO_EXTS):
            label_xml = _xml(video.with_suffix(".xml"))
            if label_xml is None:
                continue
            tag = next((t for t in label_xml.iter("Metatag") if t.get("Name") == "Emotion"), None)
            try:
                emotion = EMOTIONS[int(tag.get("Value"))] if tag is not None else None
            except (TypeError, ValueError, KeyError):
                emotion = None
            if emotion is None:
                continue
            person = f"S{int(subject):03d}" if subject and subject.isdigit() else video.stem.split("-")[0]
            out.append(Sample(person=person, expression=emotion, image=f"{video}#frame=middle",
                              neutral=f"{video}#frame=0"))
    return out
