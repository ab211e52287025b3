"""A rendering method backed by an exported generator: the shipped generator methods use it, and
``--method path/to/model.safetensors`` loads any exported file with it.

An exported file (:func:`facexpr.train.export.export`) holds the generator's weights and, in its
metadata, the family it belongs to (``task``), the generator's constructor arguments (``spec``), the
crop size and the model card. :func:`load_exported` rebuilds it with the family's
:class:`GeneratorAdapter` (``methods/<family>/method.py``: how a sample becomes the generator's
input and how its output is read) — the inference half of the family's training recipe, which
extends it; nothing of the training framework is loaded.

The target face is cropped exactly as in training (:func:`facexpr.faces.crops.alignment`), the
retargeted landmarks are mapped into the crop, the sample is built as the data pipeline builds it
(:func:`facexpr.methods.samples.make_sample` + the adapter's ``sample_transform``), the generator
renders the crop, and a feathered face-oval mask pastes it back through the inverse crop transform.
A family whose edit is a field (relative-au's flow + residual) has it applied to a crop at the
face's own resolution instead (``detail``), so the pasted face is as sharp as the photo.

Every job's :class:`~facexpr.expression.retarget.Intent` reaches the sample: its retargeted
landmarks, and its ``want_aus`` (what AU-conditioned families, ``relative-au`` and ``ganimation``,
are told). An exported file's capabilities and traits are its family's registered
:class:`~.spec.MethodSpec` (:func:`exported_spec`); :class:`GeneratorMethod` is the base of every
registered generator method, which checks its weights against its spec.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn as nn

from ..errors import ModelError
from ..expression import action_units
from ..faces.crops import aligned_crop, alignment, crop_landmarks
from ..faces.paste import Patch, paste_back, paste_change, polygon_mask
from ..faces.topology import FACE_OVAL
from .base import EDIT
from .samples import make_sample, to_tensor_image, to_uint8_image
from .registry import get_spec, spec_for_task
from .spec import MethodSpec, load_ref
from .warp_base import render_base

FORMAT = "facexpr-generator"

MAX_DETAIL = 768  # px: the largest crop a generator's edit field is applied to


class GeneratorAdapter:
    """How a generator family is run: the sample it reads, its forward pass, its constructor.

    ``model``: the training config's ``model:`` section (a mapping), as stored in the exported file.
    Training recipes (:class:`facexpr.train.tasks.TrainTask`) extend their family's adapter, so the
    two can never disagree.
    """

    au_set: tuple[int, ...] = action_units.AUS_V1  # the AUs the generator reads (a prefix of AUS)

    def __init__(self, model=None):
        self.model = model if model is not None else {}

    def sample_transform(self, sample: dict) -> dict:
        """Per-sample preprocessing (numpy in, numpy out), in data workers and at inference."""
        return sample

    def generate(self, G: nn.Module, batch: dict) -> torch.Tensor:
        """Output images (N, 3, S, S) in [-1, 1] for a batch (inference, image grids, export)."""
        raise NotImplementedError

    def generate_detail(self, G: nn.Module, batch: dict, image: torch.Tensor) -> torch.Tensor | None:
        """Optional: the output for ``image``, a larger crop of the batch's target (1, 3, H, W),
        when the generator's edit can be applied at another resolution (a flow field can); None
        otherwise, and inference upsamples :meth:`generate`'s output."""
        return None

    @classmethod
    def build_generator(cls, spec: dict) -> nn.Module:
        """Rebuild the generator from its ``spec`` (stored in exported files)."""
        raise NotImplementedError

    def generator_spec(self, G: nn.Module) -> dict:
        return dict(getattr(G, "spec", {}))


def load_module(module: nn.Module, path: Path, strict: bool = True) -> None:
    """Load a safetensors state dict into ``module`` (each tensor cast to the module's dtype)."""
    from safetensors.torch import load_file

    sd = load_file(str(path))
    ref = module.state_dict()
    sd = {k: v.to(ref[k].dtype) if k in ref else v for k, v in sd.items()}
    module.load_state_dict(sd, strict=strict)


def adapter_for(task: str) -> type[GeneratorAdapter]:
    """The :class:`GeneratorAdapter` class of the method family whose training task is ``task``."""
    spec = spec_for_task(task)
    if spec is None or not spec.generator:
        raise ModelError(f"no method family runs '{task}' generators")
    return load_ref(spec.generator)


def load_exported(path: str | Path, device: str = "cpu"):
    """``(generator (float32, eval), adapter, card)`` from an exported file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: exported generator not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as e:
        raise ModelError(f"{path}: not a safetensors file ({e})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(f"{path}: not a facexpr generator (no '{FORMAT}' metadata)")
    try:
        card = json.loads(meta["card"])
        spec = json.loads(meta["spec"])
        adapter = adapter_for(meta["task"])((card.get("config") or {}).get("model") or {})
        G = adapter.build_generator(spec)
        load_module(G, path)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, json.JSONDecodeError) as e:
        raise ModelError(f"{path}: weights do not fit the generator ({str(e).splitlines()[0][:200]})") from None
    return G.float().eval().to(device), adapter, card


def exported_spec(path: Path, family: MethodSpec, warp_base: bool) -> MethodSpec:
    """The spec of an exported file run by path: its family's capabilities and traits, except
    that it renders the pipeline's geometry (no fusion module or key points of its own come with
    a file), and renders the retargeted landmarks as its adapter says (an ablation may refine a
    plain landmark warp instead of the product's)."""
    return replace(family, name=str(path), weights=(), kwargs={}, shipped=False, landmark_driven=warp_base,
                   own_geometry=False)


def check_traits(spec: MethodSpec, warp_base: bool, path: Path) -> None:
    """A generator runs as a method only if it is driven the way the method's spec declares."""
    if spec.landmark_driven != warp_base:
        raise ModelError(f"{spec.name}: {path} {'refines' if warp_base else 'does not refine'} the product's "
                         f"warp, unlike the method it was given as")


class ExportedMethod:
    """``detail``: when the family can apply its edit at another resolution
    (:meth:`GeneratorAdapter.generate_detail`, e.g. relative-au's flow field), apply
    it to a crop at the face's own resolution (up to :data:`MAX_DETAIL` px) instead of pasting back
    the upsampled training-size crop: the face stays as sharp as the photo.

    ``spec``: the registered method it runs for (its traits are checked against the file);
    None for a file given by path (:func:`exported_spec`)."""

    def __init__(self, path: str | Path, device: str = "cpu", detail: bool = True, spec: MethodSpec | None = None):
        self.detail = detail
        self.path = Path(path)
        self.name = self.path.stem
        self.device = device
        self.G, self.adapter, self.card = load_exported(self.path, device)
        self.size = int(self.card["size"])
        self.au_set = tuple(self.adapter.au_set)
        # refines the product's warp (:mod:`.warp_base`): renders the retargeted landmarks
        self.warp_base = bool(getattr(self.adapter, "warp_base", False))
        self.spec = spec or exported_spec(self.path, spec_for_task(self.card.get("task")), self.warp_base)
        check_traits(self.spec, self.warp_base, self.path)

    def _side(self, image, face, M):
        bs = np.asarray(face.blendshapes, np.float32)
        return {"image": aligned_crop(image, face.landmarks, self.size), "landmarks": crop_landmarks(face.landmarks, M),
                "blendshapes": bs, "aus": action_units.estimate(bs, self.au_set), "identity": np.zeros(128, np.float32)}

    def render(self, job) -> Patch:
        """Render ``job``: an edit through :meth:`render_aus`, a transfer through
        :meth:`render_landmarks`; both with the retargeted landmarks, and a family told action units
        (``au_conditioned``) with the intent's ``want_aus``."""
        if job.intent.kind == EDIT:
            return self.render_aus(job, job.intent.want_aus, job.retargeted.landmarks)
        return self.render_landmarks(job, job.retargeted.landmarks,
                                     job.intent.want_aus if self.spec.au_conditioned else None)

    @torch.no_grad()
    def _generate(self, job, landmarks: np.ndarray, want_aus: np.ndarray | None):
        """The generator's crop and the alignment ``M``, the target's and the wanted crop landmarks,
        and (a family on the product's warp) the warped photo, the warp's patch and the crop of the
        warped photo the generator refined (what :meth:`_on_warp` subtracts to get its change)."""
        S = self.size
        M = alignment(job.target_face.landmarks, S)
        target = self._side(job.target, job.target_face, M)
        source = self._side(job.source, job.source_face, alignment(job.source_face.landmarks, S))
        want_lm = crop_landmarks(landmarks, M)
        want = {"landmarks": want_lm, "blendshapes": job.retargeted.blendshapes}
        if want_aus is not None:
            want["aus"] = np.asarray(want_aus, np.float32).reshape(-1)[:len(self.au_set)]  # trained on these
        sample = make_sample(target, source, want, aus=self.au_set)
        canvas, warped, base = job.target, None, None
        if self.warp_base:
            rt = replace(job.retargeted, landmarks=np.asarray(landmarks, np.float64))
            canvas, warped = render_base(replace(job, retargeted=rt))
            base = aligned_crop(canvas, job.target_face.landmarks, S)
            sample["base"] = to_tensor_image(base)
        sample = self.adapter.sample_transform(sample)
        batch = {k: torch.as_tensor(np.asarray(v))[None].to(self.device) for k, v in sample.items()}
        D = self._detail_size(M)
        if D > S:
            hi_crop = aligned_crop(canvas, job.target_face.landmarks, D)
            hi = torch.as_tensor(to_tensor_image(hi_crop))[None]
            out = self.adapter.generate_detail(self.G, batch, hi.to(self.device))
            if out is not None:
                M_hi = alignment(job.target_face.landmarks, D)
                return (to_uint8_image(out[0]), M_hi, crop_landmarks(job.target_face.landmarks, M_hi),
                        crop_landmarks(landmarks, M_hi), canvas, warped, hi_crop if self.warp_base else None)
        out = to_uint8_image(self.adapter.generate(self.G, batch)[0])
        return out, M, target["landmarks"], want_lm, canvas, warped, base

    @staticmethod
    def _on_warp(patch: Patch, canvas: np.ndarray, warped: Patch | None, base: np.ndarray | None = None) -> Patch:
        """A refinement of the warp goes back onto the warped photo, and the whole warped region
        is the patch: the warp's motion outside the generator's oval (its fade to the ring) stays.

        With ``base`` (the crop of the warped photo the generator refined) only the generator's
        *change* is pasted (:func:`paste_change`): the warped photo's own pixels are never
        resampled into the crop and back, which blurs them by about a pixel — nothing on a large
        face, but on a small one (a face about as wide as the crop) it is a visible softening of
        the whole face."""
        if warped is None:
            return patch
        x0, y0 = (int(round(v)) for v in warped.to_target[:, 2])
        h, w = warped.mask.shape
        whole = paste_back(canvas, patch) if base is None else paste_change(canvas, patch, base)
        return Patch(np.ascontiguousarray(whole[y0:y0 + h, x0:x0 + w]), warped.mask, warped.to_target)

    def _detail_size(self, M: np.ndarray) -> int:
        """The crop side at the face's own resolution (a multiple of 16, at most MAX_DETAIL)."""
        if not self.detail:
            return self.size
        native = self.size / float(np.sqrt(abs(np.linalg.det(M[:, :2]))))
        return int(np.clip(round(native / 16) * 16, self.size, MAX_DETAIL))

    def render_landmarks(self, job, landmarks: np.ndarray, want_aus: np.ndarray | None = None) -> Patch:
        """Render the target with the face geometry ``landmarks`` (target image coordinates) and,
        when given, the wanted action units ``want_aus`` (17, ``action_units.AUS`` order)."""
        out, M, target_lm, want_lm, canvas, warped, base = self._generate(job, landmarks, want_aus)
        S = out.shape[0]
        oval = np.concatenate([target_lm[list(FACE_OVAL), :2], want_lm[list(FACE_OVAL), :2]])
        hull = cv2.convexHull(oval.astype(np.float32))[:, 0]
        mask = polygon_mask((S, S), hull, feather=0.05 * S)
        return self._on_warp(Patch(image=out, mask=mask, to_target=cv2.invertAffineTransform(M)), canvas, warped,
                             base)

    def render_aus(self, job, want_aus: np.ndarray, landmarks: np.ndarray | None = None) -> Patch:
        """Render the target with the wanted action units ``want_aus`` (17, in [0, 1]).

        ``landmarks`` (default: the target's own) only fills the sample's wanted geometry. The
        paste-back mask is the target's face oval, expanded (a jaw drop lengthens the face, so the
        lower half grows downward more) and feathered inwards: no hard seam anywhere.
        """
        lm = job.target_face.landmarks if landmarks is None else landmarks
        out, M, target_lm, _, canvas, warped, base = self._generate(job, lm, want_aus)
        S = out.shape[0]
        mask = oval_mask(target_lm[:, :2], S)
        return self._on_warp(Patch(image=out, mask=mask, to_target=cv2.invertAffineTransform(M)), canvas, warped,
                             base)


class GeneratorMethod:
    """The base of every registered method backed by an exported generator: its spec (given by
    the registry, or looked up by ``family`` when built directly), the file checked against it (its
    family, :meth:`accepts`, and its traits), and the render every family shares — the job's
    retargeted landmarks and intent. A family with its own retargeting adds ``geometry(job)``."""

    doc = "docs/TRAINING.md"  # where a missing generator is explained
    family: str | None = None  # the method built when neither a spec nor a family is given (None: the file's)
    label = "generator"        # what error messages call it before its spec is known

    def load_parts(self) -> None:
        """Load what the method needs besides the generator (its weights exist, not yet read)."""

    def __init__(self, generator: str | Path, family: str | None = None, device: str = "cpu",
                 spec: MethodSpec | None = None):
        family = family or self.family
        spec = spec or (get_spec(family, shipped=False) if family else None)
        path = Path(generator)
        if not path.is_file():
            raise ModelError(f"{spec.name if spec else self.label}: generator weights {path} not found "
                             f"(train and export one, see {self.doc})")
        self.load_parts()
        self.exported = ExportedMethod(path, device, spec=spec)
        task = str(self.exported.card.get("task"))
        if spec is None:  # built directly from a file: the method its family trained
            spec = spec_for_task(task)
            check_traits(spec, self.exported.warp_base, path)
        self.spec = spec
        if not self.accepts(task):
            raise ModelError(f"{spec.name}: {path} holds a '{task}' generator, not a '{spec.name}' one")
        self.size = self.exported.size

    @property
    def name(self) -> str:
        return self.spec.name

    def accepts(self, task: str) -> bool:
        """Whether a generator trained as ``task`` may run as this method."""
        return task == self.spec.name or task.startswith(self.spec.name + "-")

    def render(self, job) -> Patch:
        return self.exported.render(job)


def oval_mask(crop_xy: np.ndarray, size: int, grow: float = 0.03, drop: float = 0.08,
              feather: float = 0.05) -> np.ndarray:
    """Soft (size, size) mask of a face's oval in crop pixels (0 on the crop's border).

    The oval is pushed outwards by the feather's width (so the inward feather falls outside the
    face and the whole face has weight 1), scaled by ``1 + grow`` about its centre, and its lower
    half is stretched down by up to ``drop`` of the oval's height (most at the chin: a jaw drop
    lengthens the face); the edge is feathered over ``feather`` · size px.
    """
    oval = np.asarray(crop_xy, np.float64)[list(FACE_OVAL)]
    c = oval.mean(0)
    f_px = feather * size
    r = oval - c
    big = c + r * (1.0 + grow) + r / np.maximum(np.linalg.norm(r, axis=1, keepdims=True), 1e-6) * (f_px + 2.0)
    h = float(np.ptp(oval[:, 1]))
    below = np.clip((big[:, 1] - c[1]) / max(big[:, 1].max() - c[1], 1e-6), 0.0, 1.0)
    big[:, 1] += drop * h * below
    big = np.clip(big, 0.5, size - 1.5)
    hull = cv2.convexHull(big.astype(np.float32))[:, 0]
    # Built on a padded canvas so the inward feather also runs along the crop's edges (erosion
    # sees the zeros beyond them): never a seam where the face nears the crop's border.
    pad = int(np.ceil(f_px)) + 2
    m = polygon_mask((size + 2 * pad, size + 2 * pad), hull, feather=f_px, offset=(-pad, -pad))
    return np.ascontiguousarray(m[pad:-pad, pad:-pad])
