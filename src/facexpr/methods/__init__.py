"""Rendering methods: one folder per method family, all the same shape::

    methods/<family>/__init__.py   its specs (MethodSpec: name, capabilities, weights + SHA-256 via
                                   facexpr.assets, crop size, training config, model card, code refs)
    methods/<family>/nets.py       networks, used by inference and training alike
    methods/<family>/method.py     the inference adapter: a RenderJob (typed intent) in, a Patch out
    methods/<family>/train.py      the training recipe (the only part that may use facexpr.train)

plus what the families share: :mod:`.base` (the render job, the Method protocol, capabilities),
:mod:`.spec`, :mod:`.registry` (``get_method``), :mod:`.exported` (running an exported generator),
:mod:`.samples` (the generator sample format) and :mod:`.nets` (U-Net and PatchGAN building blocks).
"""
from __future__ import annotations

from .base import CAPABILITIES, EDIT, TRANSFER, Intent, Method, RenderJob, require
from .registry import available, get_method, get_spec, register, spec_for_task, specs
from .spec import MethodSpec

__all__ = ["Method", "MethodSpec", "RenderJob", "Intent", "CAPABILITIES",
           "TRANSFER", "EDIT", "require", "get_method", "get_spec", "spec_for_task", "available", "specs",
           "register"]
