"""Pair lists to evaluate: a named benchmark (``london`` or a dataset adapter) or a user's CSV.

``london`` is the project's fixed benchmark (102 pairs, :func:`facexpr.datasets.london.benchmark_pairs`,
with the ``unseen`` flag). The dataset adapters build cross-identity pairs with ground truth from a
dataset's published layout (see :mod:`facexpr.datasets.expressions`); their data folder defaults to
``<shared data>/<name>`` and is usually given with ``--data``.

A pairs CSV has the columns ``id,source,target`` and optionally ``gt,label,source_neutral``; paths
are relative to the CSV's folder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from ..datasets import data_root
from ..datasets.expressions import EMOTIONS, Pair, cross_identity_pairs
from ..datasets.pairs import read_pairs_csv
from ..errors import InputError
from .probes import probes_pairs
from .roundtrip import roundtrip_pairs
from ..datasets import london


def _adapter(module: str) -> Callable[[Path], list]:
    def samples(root: Path):
        import importlib

        return importlib.import_module(f"facexpr.datasets.{module}").samples(root)
    return samples


ADAPTERS: dict[str, tuple[str, Callable[[Path], list]]] = {
    "rafd": ("Radboud Faces Database (frontal camera, frontal gaze)", _adapter("rafd")),
    "ckplus": ("Extended Cohn-Kanade CK+ (neutral -> peak sequences)", _adapter("ckplus")),
    "mmi": ("MMI Facial Expression Database (onset-apex-offset videos)", _adapter("mmi")),
    "cfd": ("Chicago Face Database (N, A, F, HC, HO)", _adapter("cfd")),
    "jaffe": ("JAFFE (10 Japanese women, 7 expressions)", _adapter("jaffe")),
    "kdef": ("KDEF (straight angle, series A then B)", _adapter("kdef")),
    "folders": ("generic <person>/<expression>.<ext> folders", _adapter("folders")),
}
PROBES = ("probes", "probes-judge")  # real photos + video frames onto unseen London neutrals (evaluate/probes.py)
ROUNDTRIP = "roundtrip"  # unseen London neutrals edited to each emotion, onto other unseen people (evaluate/roundtrip.py)
BENCHMARKS = ("london", *PROBES, ROUNDTRIP, *ADAPTERS)


def london_pairs(root: Path) -> list[Pair]:
    return [Pair(id=p.id, source=p.source, target=p.target, gt=p.gt, source_neutral=p.source_neutral,
                 label="happy", unseen=p.unseen, expression="smiling")
            for p in london.benchmark_pairs(root)]


def benchmark_pairs(name: str, data: Path | None = None, seed: int = 0, work: Path | None = None) -> list[Pair]:
    """The pairs of benchmark ``name``; ``data`` is its folder (default: the shared data's);
    ``work``: where a benchmark that makes its sources (``roundtrip``) writes them."""
    name = name.lower()
    if name not in BENCHMARKS:
        raise InputError(f"unknown benchmark '{name}' (available: {', '.join(BENCHMARKS)})")
    if data is None:
        shared = data_root()
        if shared is None:
            raise InputError(f"no data folder for benchmark '{name}': pass --data or set FACEXPR_DATA")
        data = shared if name in (*PROBES, ROUNDTRIP) else shared / name
    data = Path(data)
    if not data.is_dir():
        raise InputError(f"{data}: no such folder (data for benchmark '{name}')")
    try:
        if name == "london":
            return london_pairs(data)
        if name in PROBES:  # data: the shared data folder (probes/, video/, london/ inside)
            return probes_pairs(data, seed=seed, by_judge=name == "probes-judge")
        if name == ROUNDTRIP:
            return roundtrip_pairs(data, Path(work or Path("reports") / ROUNDTRIP) / "sources", seed=seed)
        pairs = cross_identity_pairs(ADAPTERS[name][1](data), seed=seed)
    except FileNotFoundError as e:
        raise InputError(str(e)) from None
    if not pairs:
        raise InputError(f"{data}: no {name} pairs found (expected layout: see facexpr.datasets.{name})")
    return pairs


def subset(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """``limit`` pairs spread evenly over the list (so both London parts stay represented)."""
    if limit is None or limit >= len(pairs):
        return list(pairs)
    if limit < 1:
        raise InputError("--limit must be at least 1")
    idx = np.unique(np.round(np.linspace(0, len(pairs) - 1, limit)).astype(int))
    return [pairs[i] for i in idx]


__all__ = ["Pair", "EMOTIONS", "BENCHMARKS", "ADAPTERS", "benchmark_pairs", "london_pairs",
           "read_pairs_csv", "subset"]
