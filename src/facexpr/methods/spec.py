"""A method's registered spec: everything about a method except its code.

Like a model registry's pretrained configs: the name users type, what it can do and how the
pipeline must drive it (its traits, declared here and nowhere else), where its weights come from (an :mod:`facexpr.assets` entry: file, SHA-256, checksum-verified on every load), the
crop size it was trained at, the config that trains it, its model card, and where its code lives.
Code is named by ``"module:attribute"`` references, imported only when the method is used, so
listing methods never loads torch.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

from .. import assets


@dataclass(frozen=True)
class MethodSpec:
    name: str                          # what `-m` takes
    adapter: str                       # "module:Class" of the inference adapter (methods/<family>/method.py)
    capabilities: frozenset[str]       # a subset of base.CAPABILITIES: "transfer", "edit"
    # Traits: how the pipeline drives the method. Each is declared here only; an adapter whose
    # exported weights disagree is refused when loaded (:class:`~facexpr.errors.ModelError`).
    landmark_driven: bool = False      # renders exactly the retargeted landmarks: the closed loop may correct them
    own_geometry: bool = False         # retargets a transfer itself (``geometry(job)``: key points it derives)
    au_conditioned: bool = False       # told the action units the output should show (``Intent.want_aus``)
    summary: str = ""                  # one line for `facexpr methods`
    weights: tuple[str, ...] = ()      # asset names (assets.ASSETS), in the adapter's argument order
    crop_size: int | None = None       # the aligned crop side the generator was trained at
    config: str | None = None          # the training config, relative to the checkout
    card: str | None = None            # the model card, relative to the checkout
    task: str | None = None            # "module:Class" of the training recipe (methods/<family>/train.py)
    generator: str | None = None       # "module:Class" of the generator's inference adapter (exported files)
    kwargs: dict = field(default_factory=dict)  # extra keyword arguments for the adapter
    # False: a family whose weights do not ship yet — trainable (`task:`), exportable and runnable
    # from an exported file (`-m model.safetensors`), but not offered by name (not in `available()`)
    shipped: bool = True

    def weight_paths(self) -> list[Path]:
        """The verified local weight files (:class:`~facexpr.errors.ModelError` if missing/corrupt)."""
        return [assets.resolve(w) for w in self.weights]


def source_warp_spec(family: str, task: str, adapter: str, summary: str) -> MethodSpec:
    """The spec of a generator told the source photo on the product's warp (au-swap, aip-gan;
    rendered by :class:`facexpr.methods.source_warp.SourceWarpMethod`): transfer only (an edit has
    no source photo), landmark-driven; files named after the family by the usual layout."""
    module = family.replace("-", "_")
    return MethodSpec(name=family, adapter="facexpr.methods.source_warp:SourceWarpMethod",
                      capabilities=frozenset({"transfer"}), landmark_driven=True, weights=(f"{module}_g128",),
                      crop_size=128, config=f"configs/{family}-cpu.yaml", card=f"docs/models/{family}.md",
                      task=f"facexpr.methods.{module}.train:{task}",
                      generator=f"facexpr.methods.{module}.method:{adapter}", summary=summary)


def load_ref(ref: str):
    """The object a ``"package.module:attribute"`` reference names."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


__all__ = ["MethodSpec", "source_warp_spec", "load_ref"]
