"""The task registry: how a method plugs into the trainer.

A :class:`TrainTask` builds the method's networks, says which networks each phase updates, turns
a batch into the D-phase and G-phase losses, and renders an output with the generator. The
trainer (:mod:`facexpr.train.trainer`) does everything else: data, devices and processes
(Accelerate), mixed precision, optimizers and schedules, update ratios, EMA, logging, checkpoints.

A method registers its task with ``@register_task("name")``. ``get_task(name)`` finds built-in
tasks, then tries the modules ``facexpr.methods.<name>.train`` and ``facexpr.train.tasks.<name>``
(dashes become underscores), and also accepts ``"package.module:ClassName"``.
"""
from __future__ import annotations

import importlib
from typing import Callable

import torch
import torch.nn as nn

from ...errors import InputError
from ..config import Config

_TASKS: dict[str, type] = {}


class TaskNotFound(InputError):
    pass


def register_task(name: str) -> Callable[[type], type]:
    def deco(cls):
        cls.name = name
        _TASKS[name] = cls
        return cls
    return deco


def available_tasks() -> list[str]:
    _load_builtin()
    return sorted(_TASKS)


def _load_builtin() -> None:
    from ...methods.relative_au import train as _relative_au  # noqa: F401  (relative-au, ganimation)
    from . import landmark_fusion, pix2pix  # noqa: F401


def get_task(name: str) -> type:
    _load_builtin()
    if name in _TASKS:
        return _TASKS[name]
    if ":" in name:
        mod, cls = name.split(":", 1)
        try:
            return getattr(importlib.import_module(mod), cls)
        except (ImportError, AttributeError) as e:
            raise TaskNotFound(f"task {name!r}: {e}") from None
    mod_name = name.replace("-", "_")
    for mod in (f"facexpr.methods.{mod_name}.train", f"facexpr.train.tasks.{mod_name}"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name and not mod.startswith(e.name) and e.name != mod:
                raise
            continue
        if name in _TASKS:
            return _TASKS[name]
    raise TaskNotFound(f"unknown training task {name!r} (available: {', '.join(available_tasks())})")


class TrainTask:
    """Base class of a method's training recipe.

    Subclasses set ``phases`` (phase name -> the networks it updates; the trainer runs ``"D"``
    every ``train.d_every`` iterations and ``"G"`` every ``train.g_every``), ``generator`` (the
    network the trainer keeps an EMA of and exports) and implement :meth:`build`,
    :meth:`d_loss`, :meth:`g_loss`, :meth:`generate` and :meth:`build_generator`.
    """

    name: str = ""
    generator: str = "G"
    phases: dict[str, tuple[str, ...]] = {"D": ("D",), "G": ("G",)}

    def __init__(self, cfg: Config):
        self.cfg = cfg
        self._perceptual = None

    # -- what a method implements

    def build(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def sample_transform(self, sample: dict) -> dict:
        """Per-sample preprocessing in the data workers (numpy in, numpy out)."""
        return sample

    def d_loss(self, nets: dict[str, nn.Module], batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def g_loss(self, nets: dict[str, nn.Module], batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

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

    # -- helpers for subclasses

    def weight(self, name: str) -> float:
        return float(self.cfg.loss.weights.get(name, 0.0))

    def add_terms(self, total: torch.Tensor, logs: dict, terms: dict[str, torch.Tensor], prefix: str = "g"):
        """``total`` plus each term times its ``loss.weights`` entry; every term and the total
        logged as ``<prefix>_<name>`` / ``<prefix>_total``."""
        for k, v in terms.items():
            total = total + self.weight(k) * v
            logs[f"{prefix}_{k}"] = v.detach()
        logs[f"{prefix}_total"] = total.detach()
        return total, logs

    @property
    def perceptual(self):
        if self._perceptual is None:
            from ..losses import Perceptual

            self._perceptual = Perceptual(str(self.cfg.model.get("perceptual", "lpips")))
        return self._perceptual

    def penalty(self, critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """The configured gradient penalty (already weighted), or None."""
        from .. import losses

        kind, w = self.cfg.loss.penalty, self.cfg.loss.penalty_weight
        if kind == "none" or w == 0:
            return None
        if kind == "wgan-gp":
            return w * losses.gradient_penalty(critic, real, fake)
        return w * losses.r1_penalty(critic, real)


def unwrap(net: nn.Module) -> nn.Module:
    """The module inside a DistributedDataParallel / compiled wrapper."""
    while hasattr(net, "module") and isinstance(net.module, nn.Module):
        net = net.module
    return getattr(net, "_orig_mod", net)


__all__ = ["TrainTask", "register_task", "get_task", "available_tasks", "TaskNotFound", "unwrap"]
