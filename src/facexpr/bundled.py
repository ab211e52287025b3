"""Files shipped inside the package for a first run: a source/target sample pair (two London-set
photos, CC-BY 4.0, credited in ``data/samples/README.md``), so ``facexpr transfer`` works right
after ``pip install`` with no dataset download."""
from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

SAMPLE_FILES = ("source_smiling.jpg", "target_neutral.jpg")  # (source, target)
SAMPLE_CREDIT = ("Face Research Lab London Set, DeBruine & Jones 2017, CC-BY 4.0 "
                 "(doi:10.6084/m9.figshare.5047666.v5)")


def samples_dir() -> Path:
    """The installed folder of the sample pair (a real folder: wheels install unzipped)."""
    return Path(str(files("facexpr") / "data" / "samples"))


def sample_pair() -> tuple[Path, Path]:
    """``(source, target)``: a smiling face and another person's neutral face."""
    d = samples_dir()
    return d / SAMPLE_FILES[0], d / SAMPLE_FILES[1]


def copy_samples(out_dir: Path) -> tuple[Path, Path]:
    """Copy the pair (and its credit) into ``out_dir``; returns the copies' paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for p in (*sample_pair(), samples_dir() / "README.md"):
        shutil.copyfile(p, out_dir / p.name)
        copies.append(out_dir / p.name)
    return copies[0], copies[1]


__all__ = ["SAMPLE_FILES", "SAMPLE_CREDIT", "samples_dir", "sample_pair", "copy_samples"]
