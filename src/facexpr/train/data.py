"""Training data: a torch ``Dataset`` over prepared caches, and the three training regimes.

Every sample, whatever the regime, has the same keys (images are float32 (3, S, S) in [-1, 1];
landmarks (478, 3) in crop pixels; blendshapes (52,); AUs (17,) in [0, 1]; identity (128,)):

* ``target``, ``target_*``: the person whose photo is edited (the generator's input);
* ``source``, ``source_*``: the face whose expression is wanted;
* ``want_landmarks``, ``want_blendshapes``, ``want_aus``: what the output should show;
* ``gt`` and ``has_gt`` (1/0): the true output when the regime knows it (zeros otherwise);
* ``index``: the sample's number (samples are a pure function of ``(seed, index)``).

AUs are a cache item's AU labels (e.g. OpenFace intensities / 5) when it has them and
``data.au_labels`` is on, else the 17 AUs estimated from its blendshapes; where a regime changes an
expression (deformation, retargeting) the AUs move by the estimated change.

``data.code: fitted`` replaces the cache's MediaPipe scores by the expression code inference uses
(fitted to the cached landmarks with the 3D prior and fused with MediaPipe's reliable scores,
:func:`facexpr.expression.analysis.fuse`); ``data.aus: all`` gives the 22 AUs of
:data:`facexpr.expression.action_units.AUS` estimated from it (17-AU labels cannot be, and are not,
used then). ``data.deform.sampler: prior`` draws the self-supervised changes from the prior's space
(:mod:`facexpr.train.prior_changes`).

Regimes (``data.regime``):

* ``unpaired``: any target, any source (another person when possible); the wanted geometry is
  the target's own, retargeted to the source's expression by the expression model; no ``gt``;
* ``same_person``: two photos of one group (a person's neutral and expression photos, frames of a
  CK+ sequence or a video clip): target = one of them (neutral when ``neutral_target`` and there
  is one), source = gt = the other;
* ``self_supervised``: one photo; the target is a landmark-driven deformation of it
  (:mod:`facexpr.train.augment`), source = gt = the photo itself;
* ``mixed``: each sample draws one of the three above with the odds in ``data.mix`` (so a run can
  learn from true pairs, deformations and unpaired faces at once; ``has_gt`` says which).

Because a sample depends only on ``(seed, index)``, not on worker processes or the global RNG,
a resumed run draws exactly the batches an uninterrupted one would (see :class:`IndexSampler`).
"""
from __future__ import annotations

from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from ..cache import CacheError, read_index, read_item, read_meta
from ..methods.samples import make_sample
from ..expression import action_units
from ..expression.analysis import default_fitter, fuse
from ..expression.blendshapes import region_mask
from .config import DataConfig
from .config import REGIMES
from ..expression.model import load_default_model
from ..faces.landmarks import Face
from ..expression.retarget import RetargetConfig, apply_delta, expression_delta
from .augment import deform, random_delta
from .prior_changes import prior_delta

SIDES = ("target", "source")


class FaceCache:
    """The finished items of one or more prepared caches (same crop size), indexable 0..n-1."""

    def __init__(self, roots: Sequence[str | Path], size: int | None = None, memory_items: int = 256):
        if isinstance(roots, (str, Path)):
            roots = [roots]
        if not roots:
            raise CacheError("no cache given (data.cache is empty)")
        self.roots = [Path(r) for r in roots]
        self.records: list[dict] = []
        self._root_of: list[int] = []
        sizes = set()
        for k, root in enumerate(self.roots):
            meta = read_meta(root)
            sizes.add(meta["size"])
            recs = [r for r in read_index(root).values() if r.get("ok")]
            recs.sort(key=lambda r: r["key"])
            for r in recs:
                r = dict(r)
                r["person"] = f"{k}:{r['person']}"
                r["group"] = f"{k}:{r['group']}"
                self.records.append(r)
                self._root_of.append(k)
        if len(sizes) > 1:
            raise CacheError(f"caches of different crop sizes {sorted(sizes)}: prepare them at one --size")
        self.size = sizes.pop()
        if size is not None and size != self.size:
            raise CacheError(f"the config's size is {size} but the caches hold {self.size}px crops")
        if not self.records:
            raise CacheError(f"no prepared faces in {', '.join(map(str, self.roots))}")
        self.blendshapes = np.array([r["blendshapes"] for r in self.records], np.float32)
        self.persons = [r["person"] for r in self.records]
        self.groups = [r["group"] for r in self.records]
        self.is_neutral = np.array([r.get("label") == "neutral" for r in self.records])
        self._memory: OrderedDict[int, dict] = OrderedDict()
        self._memory_items = memory_items

    def __len__(self) -> int:
        return len(self.records)

    def load(self, i: int) -> dict[str, np.ndarray]:
        """Image (S, S, 3) uint8 and annotations of item ``i`` (a small LRU keeps recent ones)."""
        if i in self._memory:
            self._memory.move_to_end(i)
            return self._memory[i]
        d = read_item(self.roots[self._root_of[i]], self.records[i]["file"])
        d["au_labels"] = self.records[i].get("au_labels")
        if self._memory_items:
            self._memory[i] = d
            if len(self._memory) > self._memory_items:
                self._memory.popitem(last=False)
        return d


class PairDataset:
    """Map-style dataset over an unbounded index space: ``ds[i]`` is a deterministic function of
    ``(seed, i)`` for the configured regime (see the module docstring)."""

    def __init__(self, cache: FaceCache, cfg: DataConfig, seed: int = 0,
                 transform: Callable[[dict], dict] | None = None, model=None):
        if cfg.regime not in REGIMES:
            raise ValueError(f"unknown regime {cfg.regime!r}")
        self.cache, self.cfg, self.seed, self.transform = cache, cfg, seed, transform
        self._model = model
        self._edit_model = None
        self._codes: dict[int, np.ndarray] = {}
        self.au_set = action_units.AUS if cfg.aus == "all" else action_units.AUS_V1
        self._region = region_mask(tuple(cfg.deform.regions)).astype(np.float64)
        by_group: dict[str, list[int]] = defaultdict(list)
        for i, g in enumerate(cache.groups):
            by_group[g].append(i)
        self.pair_groups = [np.array(v) for _, v in sorted(by_group.items()) if len(v) >= 2]
        mix = {k: float(v) for k, v in cfg.mix.items() if v > 0} if cfg.regime == "mixed" else {cfg.regime: 1.0}
        if cfg.regime == "mixed" and not self.pair_groups and len(mix) > 1:
            mix.pop("same_person", None)  # no group has two photos: draw from the other regimes
        self._regimes = sorted(mix)
        self._odds = np.array([mix[k] for k in self._regimes]) / sum(mix.values())
        if "same_person" in self._regimes and not self.pair_groups:
            raise CacheError("same_person pairs need groups with two or more photos (a person's neutral and "
                             "expression photos, a sequence or a video clip); the caches have none")
        self._by_person: dict[str, np.ndarray] = {}
        for i, p in enumerate(cache.persons):
            self._by_person.setdefault(p, [])
            self._by_person[p].append(i)

    @property
    def model(self):
        if self._model is None:
            self._model = load_default_model()
        return self._model

    @property
    def deform_model(self):
        """What moves the landmarks of a self-supervised change: the prior-backed edit model for
        the prior sampler (its changes are edits), else the measured-code model (legacy)."""
        if self.cfg.deform.sampler != "prior":
            return self.model
        if self._edit_model is None:
            self._edit_model = load_default_model(edit=True)
        return self._edit_model

    def code(self, i: int, d: dict | None = None) -> np.ndarray:
        """Item ``i``'s expression code: the cache's scores, or (``data.code: fitted``) the
        prior-fitted code of its landmarks (≈ 5 ms once per item, then remembered)."""
        if self.cfg.code != "fitted":
            return self.cache.blendshapes[i]
        if i not in self._codes:
            d = d if d is not None else self.cache.load(i)
            raw = np.asarray(d["blendshapes"], np.float32)
            fit = default_fitter().fit(np.asarray(d["landmarks"], np.float64), raw)
            self._codes[i] = fuse(fit.expression, raw).astype(np.float32)
        return self._codes[i]

    def __len__(self) -> int:  # unbounded; a large length for samplers that ask
        return 2 ** 62

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, int(index)])
        regime = self._regimes[0] if len(self._regimes) == 1 else \
            self._regimes[int(rng.choice(len(self._odds), p=self._odds))]
        sample = getattr(self, "_" + regime)(rng, int(index))
        return self.transform(sample) if self.transform else sample

    # -- regimes

    def _load(self, i: int) -> dict:
        """Item ``i``; its ``aus`` are its AU labels (e.g. OpenFace intensities) when it has them
        and ``data.au_labels`` is on, else the cache's estimate from blendshapes."""
        d = self.cache.load(i)
        if self.cfg.code == "fitted":
            d = {**d, "blendshapes": self.code(i, d)}
        if self.cfg.aus == "all":
            return {**d, "aus": action_units.estimate(d["blendshapes"], action_units.AUS).astype(np.float32)}
        if self.cfg.au_labels and d.get("au_labels") is not None:
            d = {**d, "aus": np.asarray(d["au_labels"], np.float32)}
        elif self.cfg.code == "fitted":
            d = {**d, "aus": action_units.estimate(d["blendshapes"], action_units.AUS_V1).astype(np.float32)}
        return d

    def _moved_aus(self, d: dict, new_blendshapes: np.ndarray) -> np.ndarray:
        """``d``'s AUs moved by the estimated change of its blendshapes to ``new_blendshapes`` (so
        label and estimate scales are never mixed within one sample)."""
        change = (action_units.estimate(new_blendshapes, self.au_set)
                  - action_units.estimate(d["blendshapes"], self.au_set))
        return np.clip(np.asarray(d["aus"], np.float32) + change, 0.0, 1.0).astype(np.float32)

    def _face(self, d: dict):
        s = self.cache.size
        return Face(np.asarray(d["landmarks"], np.float64), np.asarray(d["blendshapes"], np.float32),
                    np.asarray(d["pose"], np.float64), (s, s))

    def _unpaired(self, rng, index):
        n = len(self.cache)
        t = int(rng.integers(n))
        s = int(rng.integers(n))
        if self.cfg.other_person and len(self._by_person) > 1:
            for _ in range(16):
                if self.cache.persons[s] != self.cache.persons[t]:
                    break
                s = int(rng.integers(n))
        td, sd = self._load(t), self._load(s)
        if self.cfg.code == "fitted":  # as inference retargets a fitted code (FIT_GATE between two people)
            delta = expression_delta(sd["blendshapes"], td["blendshapes"], RetargetConfig(regions=self.cfg.deform.regions))
        else:
            delta = (sd["blendshapes"].astype(np.float64) - td["blendshapes"]) * self._region
        want_lm = apply_delta(self._face(td), delta, self.model)
        want_bs = np.clip(td["blendshapes"] + delta, 0, 1)
        return make_sample(td, sd, {"landmarks": want_lm, "blendshapes": want_bs,
                                    "aus": self._moved_aus(td, want_bs)}, None, index)

    def _same_person(self, rng, index):
        group = self.pair_groups[int(rng.integers(len(self.pair_groups)))]
        neutral = self.cache.is_neutral[group]
        if self.cfg.neutral_target and neutral.any() and (~neutral).any():
            t = int(rng.choice(group[neutral]))
            g = int(rng.choice(group[~neutral]))
        else:
            t, g = (int(x) for x in rng.choice(group, size=2, replace=False))
        td, gd = self._load(t), self._load(g)
        return make_sample(td, gd, {"landmarks": gd["landmarks"], "blendshapes": gd["blendshapes"],
                                    "aus": gd["aus"]}, gd["image"], index)

    def _self_supervised(self, rng, index):
        n = len(self.cache)
        a = int(rng.integers(n))
        ad = self._load(a)
        if self.cfg.deform.sampler == "prior":
            j = int(rng.integers(n))
            delta, _ = prior_delta(rng, ad["blendshapes"], self.cfg.deform, (lambda: self.code(j)) if n > 1 else None)
        else:
            borrow = self.cache.blendshapes[int(rng.integers(n))] if n > 1 else None
            delta = random_delta(rng, ad["blendshapes"], self.cfg.deform, borrow)
        img, lm = deform(ad["image"], ad["landmarks"], ad["blendshapes"], delta, self.deform_model, ad["pose"],
                         self.cfg.deform.grid)
        bs = np.clip(ad["blendshapes"] + delta, 0, 1).astype(np.float32)
        target = {"image": img, "landmarks": lm, "blendshapes": bs, "aus": self._moved_aus(ad, bs),
                  "identity": ad["identity"]}
        return make_sample(target, ad, {"landmarks": ad["landmarks"], "blendshapes": ad["blendshapes"],
                                        "aus": ad["aus"]}, ad["image"], index)


class IndexSampler:
    """Sample indices for an unbounded run: global batch ``b`` holds indices
    ``b*B*W + rank*B + j`` (B = per-process batch, W = processes), starting at batch ``first``.
    Resuming at batch k therefore continues exactly where the run stopped, on any worker count."""

    def __init__(self, batch_size: int, first: int = 0, rank: int = 0, world: int = 1, offset: int = 0):
        self.batch_size, self.first, self.rank, self.world, self.offset = batch_size, first, rank, world, offset

    def __iter__(self) -> Iterator[int]:
        b = self.first
        B, W = self.batch_size, self.world
        while True:
            base = self.offset + b * B * W + self.rank * B
            yield from range(base, base + B)
            b += 1

    def __len__(self) -> int:
        return 2 ** 62


def make_loader(dataset: PairDataset, batch_size: int, first_batch: int = 0, rank: int = 0, world: int = 1,
                num_workers: int = 0, seed: int = 0, offset: int = 0, pin_memory: bool = False):
    """A DataLoader yielding batches from global batch ``first_batch`` on (this process's share)."""
    import torch

    kw = {}
    if num_workers:
        kw = {"persistent_workers": False, "prefetch_factor": 2}
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=IndexSampler(batch_size, first_batch, rank, world, offset),
        num_workers=num_workers, generator=torch.Generator().manual_seed(seed),  # keeps the global RNG untouched
        drop_last=True, pin_memory=pin_memory, **kw)


def fixed_batch(dataset: PairDataset, n: int, offset: int = 10 ** 12) -> dict:
    """``n`` samples far from the training indices, collated: the batch shown in image grids."""
    import torch

    return torch.utils.data.default_collate([dataset[offset + i] for i in range(n)])
