"""How a method plugs into the trainer: :class:`TrainTask`, and ``get_task(name)``.

A :class:`TrainTask` builds the method's networks, says which networks each phase updates and turns
a batch into the D-phase and G-phase losses; how its generator reads a sample and renders is the
family's :class:`~facexpr.methods.exported.GeneratorAdapter`, which the task extends (so training
and inference cannot disagree). The trainer (:mod:`facexpr.train.trainer`) does everything else:
data, devices and processes (Accelerate), mixed precision, optimizers and schedules, update ratios,
EMA, logging, checkpoints.

``get_task(name)``: the training recipe of the registered method ``name`` (its spec's ``task``,
``methods/<family>/train.py``), or any ``"package.module:ClassName"``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from ..errors import TaskNotFound
from ..methods import get_spec
from ..methods.registry import all_specs
from ..methods.exported import GeneratorAdapter
from ..methods.nets import NORMS, unwrap
from ..methods.spec import load_ref
from . import losses
from .config import Config, ConfigError, LossConfig, build_section, check_choice

PERCEPTUAL = ("lpips", "l1")  # losses.Perceptual's modes


@dataclass(frozen=True)
class GANModel:
    """The ``model:`` keys every U-Net + PatchGAN recipe shares; a recipe's own dataclass extends it
    (an unknown key fails listing the known ones; the choices are checked here)."""

    g_base: int = 32
    g_depth: int = 4
    g_max: int = 256
    g_res: int = 1
    g_norm: str = "instance"
    d_base: int = 32
    d_layers: int = 3
    d_max: int = 256
    d_spectral: bool = False
    perceptual: str = "lpips"

    def __post_init__(self):
        check_choice(self.g_norm, NORMS, "model.g_norm")
        check_choice(self.perceptual, PERCEPTUAL, "model.perceptual")


def available_tasks() -> list[str]:
    return [s.name for s in all_specs() if s.task]


def get_task(name: str) -> type:
    """The :class:`TrainTask` class for ``name`` (its ``name`` attribute set to it)."""
    ref = name if ":" in name else None
    if ref is None:
        if name not in available_tasks():
            raise TaskNotFound(f"unknown training task {name!r} (available: {', '.join(available_tasks())})")
        ref = get_spec(name, shipped=False).task
    try:
        cls = load_ref(ref)
    except (ImportError, AttributeError, ValueError) as e:
        raise TaskNotFound(f"task {name!r}: {e}") from None
    if not (isinstance(cls, type) and issubclass(cls, TrainTask)):
        raise TaskNotFound(f"task {name!r}: {ref} is not a TrainTask")
    cls.name = name
    return cls


class TrainTask(GeneratorAdapter):
    """Base class of a method's training recipe.

    Subclasses set ``phases`` (phase name -> the networks it updates; the trainer runs ``"D"``
    every ``train.d_every`` iterations and ``"G"`` every ``train.g_every``), ``generator`` (the
    network the trainer keeps an EMA of and exports) and implement :meth:`build`,
    :meth:`d_loss`, :meth:`g_loss`, :meth:`generate` and :meth:`build_generator`.
    """

    name: str = ""
    generator: str = "G"
    phases: dict[str, tuple[str, ...]] = {"D": ("D",), "G": ("G",)}
    model_config: type | None = None   # the dataclass of the config's ``model:`` section
    loss_terms: tuple[str, ...] = ()   # the ``loss.weights:`` keys the recipe reads

    def __init__(self, cfg: Config):
        super().__init__(cfg.model)
        self.cfg = cfg
        self._perceptual = None
        if self.model_config is not None:  # typed: an unknown key or a bad value fails with the known keys
            self.model_options = build_section(self.model_config, dict(cfg.model), "model")
        if self.loss_terms:
            # the defaults' zero weights (LossConfig) need not be terms of every recipe
            defaults = LossConfig().weights
            unknown = sorted(k for k in set(cfg.loss.weights) - set(self.loss_terms)
                             if not (k in defaults and cfg.loss.weights[k] == 0))
            if unknown:
                raise ConfigError(f"config: unknown key loss.weights.{unknown[0]} for task '{self.name}' "
                                  f"(known: {', '.join(sorted(self.loss_terms))})")

    # -- what a method implements

    def build(self) -> dict[str, nn.Module]:
        raise NotImplementedError

    def d_loss(self, nets: dict[str, nn.Module], batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

    def g_loss(self, nets: dict[str, nn.Module], batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        raise NotImplementedError

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

    def with_penalty(self, total: torch.Tensor, logs: dict, critic, real: torch.Tensor, fake: torch.Tensor):
        """A D phase's end: ``total`` plus the configured gradient penalty of ``critic`` (logged as
        ``d_penalty``), and ``d_total`` logged."""
        gp = self.penalty(critic, real, fake)
        if gp is not None:
            total = total + gp
            logs["d_penalty"] = gp.detach()
        logs["d_total"] = total.detach()
        return total, logs

    @property
    def perceptual(self):
        if self._perceptual is None:
            self._perceptual = losses.Perceptual(str(self.cfg.model.get("perceptual", "lpips")))
        return self._perceptual

    def penalty(self, critic, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """The configured gradient penalty (already weighted), or None."""
        kind, w = self.cfg.loss.penalty, self.cfg.loss.penalty_weight
        if kind == "none" or w == 0:
            return None
        if kind == "wgan-gp":
            return w * losses.gradient_penalty(critic, real, fake)
        return w * losses.r1_penalty(critic, real)


__all__ = ["TrainTask", "GANModel", "get_task", "available_tasks", "TaskNotFound", "unwrap"]
