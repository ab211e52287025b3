"""The ``probes`` benchmark: real expressions from outside the training data onto unseen people.

Sources (each with a human label):

* the photos of ``probes/`` (``labels.csv``: ``file,label,faceapi_reads``); an image without a
  label (``group.jpeg``, several people) is left out, and so is any image in which no face is
  found (listed in the run's log);
* labelled frames of ``video/WolfgangLanger_Pexels.mp4`` (:data:`VIDEO_FRAMES`): frame 0 (near
  neutral), three frames of the sad stretch (~25–60) and four of the smiling/laughing one
  (~250–471); frames 60–250 are avoided (a hand covers the face).

Targets: the neutral photos of the *unseen* London people (:func:`facexpr.datasets.london.split`).
Pairing, fixed and seeded: each source gets ``k`` (default 3) distinct targets drawn with
``numpy.random.default_rng(seed)`` in source order; the pair id is ``<source>-<target id>``.

Video frames carry the clip's first frame (:data:`REFERENCE_FRAME`) as their ``source_neutral``,
the reference ``facexpr animate`` drives a photo from (relative motion). ``facexpr evaluate
--benchmark probes`` transfers every frame as a lone photo; with ``--source-neutral`` the video
frames are transferred as the product transfers a video: their change since that reference (the
photos have no neutral and are transferred as before, and so is the reference frame itself, whose
change from itself would be nothing). A single photo cannot separate a crying grimace from a smile
(MediaPipe reads the clip's crying mouth as a 0.8–0.9 smile, and the lowered brows hide in the
person's identity); its change from the same face's reference can.

No ground truth exists, so the scores are the emotion judges' agreement with the label (face-api,
FER), identity kept (dlib < 0.6 to the target), the expression change, and realism (KID/FID of the
outputs against the targets, real face photos). ``probes-judge`` is the same pairs labelled by
face-api's own reading of each *source* (``labels.csv``'s ``faceapi_reads``; computed for video
frames): agreement with what the judge sees in the source, not with what a person wrote.

Independence: the expression judge reads MediaPipe, which the methods' analysis uses too; face-api,
FER and dlib are separate networks that no method uses.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from ..datasets import london
from ..datasets.expressions import Pair, canonical_emotion, load_ref
from ..errors import InputError
from ..expression.analysis import analyze_faces
from .judges.emotion_faceapi import EMOTIONS as FACEAPI_CLASSES
from .judges.emotion_faceapi import get_faceapi_emotion

VIDEO = "video/WolfgangLanger_Pexels.mp4"
VIDEO_FRAMES = {0: "neutral", 30: "sad", 42: "sad", 55: "sad", 280: "happy", 340: "happy", 400: "happy", 460: "happy"}
REFERENCE_FRAME = 0  # the clip's reference for relative motion (as facexpr animate's default)
TARGETS_PER_SOURCE = 3


def sources(root: Path, log=None) -> list[tuple[str, str, str, str | None, str | None]]:
    """``(id, image reference, label, face-api's reading or None, the source's neutral reference
    or None)`` of every usable source."""
    log = log or (lambda m: print(m, file=sys.stderr))
    root = Path(root)
    labels = root / "probes" / "labels.csv"
    if not labels.is_file():
        raise InputError(f"{labels}: no such file (the probes benchmark needs the shared data's probes/)")
    out = []
    with open(labels, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            name, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
            if not name or not label:
                log(f"probes: {name or '(empty row)'} skipped (no label: e.g. a group photo)")
                continue
            out.append((Path(name).stem, str(root / "probes" / name), label,
                        (row.get("faceapi_reads") or "").strip() or None, None))
    video = root / VIDEO
    if video.is_file():
        ref = f"{video}#frame={REFERENCE_FRAME}"
        out += [(f"video{n:03d}", f"{video}#frame={n}", label, None, None if n == REFERENCE_FRAME else ref)
                for n, label in VIDEO_FRAMES.items()]
    else:
        log(f"probes: {video} not found, video frames skipped")
    usable = []
    for sid, ref, label, reading, neutral in out:
        try:
            found = bool(analyze_faces(load_ref(ref)))
        except InputError as e:
            log(f"probes: {sid} skipped ({e})")
            continue
        if not found:
            log(f"probes: {sid} skipped (no face found)")
            continue
        usable.append((sid, ref, label, reading, neutral))
    return usable


def judge_reading(ref: str) -> str | None:
    """face-api's top class for the largest face of an image reference."""
    img = load_ref(ref)
    faces = analyze_faces(img)
    if not faces:
        return None
    probs = get_faceapi_emotion().classify_face(img, faces[0].landmarks[:, :2])
    return FACEAPI_CLASSES[int(np.argmax(probs))]


def probes_pairs(root: Path, seed: int = 0, k: int = TARGETS_PER_SOURCE, by_judge: bool = False,
                 log=None) -> list[Pair]:
    """The seeded pairing of the module doc; ``by_judge``: label = face-api's reading of the source."""
    root = Path(root)
    try:
        targets = london.split(root / "london", "unseen")
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if len(targets) < k:
        raise InputError(f"{root / 'london'}: fewer than {k} unseen London neutral photos")
    rng = np.random.default_rng(seed)
    pairs = []
    for sid, ref, label, reading, neutral in sources(root, log):
        text = (reading or judge_reading(ref)) if by_judge else label
        for t in rng.choice(len(targets), size=k, replace=False):
            p = targets[int(t)]
            pairs.append(Pair(id=f"{sid}-{p.id}", source=ref, target=p.neutral, source_neutral=neutral,
                              label=canonical_emotion(text), unseen=True, expression=text))
    return pairs


__all__ = ["probes_pairs", "sources", "judge_reading", "VIDEO_FRAMES", "REFERENCE_FRAME", "TARGETS_PER_SOURCE"]
