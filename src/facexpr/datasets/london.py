"""Face Research Lab London Set (DeBruine & Jones 2017, CC-BY 4.0): 102 people, neutral + smiling.

Layout: ``london/neutral/NNN_03.jpg`` and ``london/smiling/NNN_08.jpg``.

The project fits things (the expression model) on a fixed split: the first
:data:`TRAIN_COUNT` ids in sorted order are *train*; the rest are *unseen*, and every benchmark is
reported on the unseen part as well as on the whole.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TRAIN_COUNT = 60
SOURCE_SHIFT = 37  # benchmark: the source of target k is the smiling photo of person (k + 37) mod n


@dataclass(frozen=True)
class Person:
    id: str
    neutral: Path
    smiling: Path


def people(root: Path) -> list[Person]:
    """Every person with both photos, sorted by id."""
    root = Path(root)
    if (root / "london").is_dir():
        root = root / "london"
    out = []
    for n in sorted((root / "neutral").glob("*_03.jpg")):
        pid = n.name.split("_")[0]
        s = root / "smiling" / f"{pid}_08.jpg"
        if s.exists():
            out.append(Person(pid, n, s))
    if not out:
        raise FileNotFoundError(f"no London pairs under {root} (expected neutral/NNN_03.jpg + smiling/NNN_08.jpg)")
    return out


def split(root: Path, part: str = "all") -> list[Person]:
    ps = people(root)
    if part == "train":
        return ps[:TRAIN_COUNT]
    if part == "unseen":
        return ps[TRAIN_COUNT:]
    if part == "all":
        return ps
    raise ValueError(f"unknown split '{part}' (train, unseen, all)")


@dataclass(frozen=True)
class BenchmarkPair:
    id: str
    source: Path
    target: Path
    gt: Path
    source_neutral: Path
    unseen: bool  # the target person is outside the fitting split


def benchmark_pairs(root: Path) -> list[BenchmarkPair]:
    """The 102 cross-identity pairs of the London benchmark (see the data README)."""
    ps = people(root)
    n = len(ps)
    out = []
    for k, p in enumerate(ps):
        src = ps[(k + SOURCE_SHIFT) % n]
        out.append(BenchmarkPair(p.id, src.smiling, p.neutral, p.smiling, src.neutral, k >= TRAIN_COUNT))
    return out
