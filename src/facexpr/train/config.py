"""Typed training configs: dataclasses, loaded from YAML, with dotted ``key=value`` overrides.

A config file is YAML whose keys mirror :class:`Config`; anything left out keeps its default, an
unknown key or a value of the wrong type is an error naming the dotted key. ``base: other.yaml``
(relative to the file) inherits another file, deep-merged. Overrides are applied last::

    cfg = load_config("configs/pix2pix-128.yaml", ["train.steps=500", "optim.G.lr=1e-4"])

Values of overrides are parsed as YAML (``true``, ``[1, 2]``, ``1e-4``...).
"""
from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import dacite

from ..errors import ConfigError


REGIMES = ("self_supervised", "same_person", "unpaired", "mixed")
PURE_REGIMES = REGIMES[:3]
ADVERSARIAL = ("hinge", "wgan", "lsgan", "nonsat")
PENALTIES = ("none", "wgan-gp", "r1")
PRECISIONS = ("auto", "no", "fp16", "bf16")
SCHEDULES = ("constant", "linear", "cosine")
CODES = ("cache", "fitted")
AU_SETS = ("v1", "all")


SAMPLERS = ("legacy", "prior")


@dataclass
class DeformConfig:
    """Self-supervised pairs: how the random expression change of a photo is drawn.

    ``sampler: legacy`` (the default, what the shipped generators were trained with): another
    face's scores or random blendshape changes, moved by the measured-code expression model.
    ``sampler: prior`` (:mod:`facexpr.train.prior_changes`): EMFACS emotion prototypes, the face's
    own expression relaxed, another face's code or random changes over every movable blendshape,
    moved by the prior-backed edit model (ICT motion for brows, lids, nose, lip corners)."""

    sampler: str = "legacy"    # legacy | prior
    p_borrow: float = 0.5      # take another cached face's expression (a realistic combination)...
    max_active: int = 6        # ...else change this many random blendshapes at most,
    max_delta: float = 0.8     # each by at most this much (scores stay within [0, 1])
    regions: tuple[str, ...] = ("brows", "eyes", "mouth")
    grid: int = 0              # mesh-map grid (0 = the crop size)
    p_emotion: float = 0.35    # prior: add an emotion prototype (facexpr.expression.emotions.EMOTIONS)...
    emotion_intensity: tuple[float, float] = (0.3, 1.0)  # ...at an intensity drawn from this range,
    emotion_jitter: float = 0.3  # ...each of its AUs scaled by 1 ± this (no two draws alike)
    p_relax: float = 0.2       # prior: take the face's own expression away (its real one is then the gt)
    p_random: float = 0.25     # prior: random changes (the prior's odds are relative: emotion, relax, borrow, random)


@dataclass
class DataConfig:
    cache: list[str] = field(default_factory=list)  # prepared caches (folders of `facexpr prepare`)
    synthetic: int = 0                # > 0: also generate a cache of this many cartoon people (smoke tests)
    regime: str = "self_supervised"   # self_supervised | same_person | unpaired | mixed
    mix: dict[str, float] = field(default_factory=lambda: {  # mixed: each sample's regime, by these odds
        "self_supervised": 0.5, "same_person": 0.25, "unpaired": 0.25})
    batch_size: int = 8               # per process
    num_workers: int = 0
    neutral_target: bool = True       # same_person: the target is a neutral photo when there is one
    other_person: bool = True         # unpaired: the source is another person when possible
    au_labels: bool = True            # a cache's AU labels (OpenFace) where an item has them, else the estimate
    code: str = "cache"               # cache (the stored MediaPipe scores) | fitted (the prior-fitted code, as inference)
    aus: str = "v1"                   # v1 (the original 17 AUs) | all (the 22 of facexpr.expression.action_units.AUS)
    deform: DeformConfig = field(default_factory=DeformConfig)


@dataclass
class LossConfig:
    adversarial: str = "hinge"        # hinge | wgan | lsgan | nonsat
    penalty: str = "none"             # none | wgan-gp (interpolates) | r1 (real images)
    penalty_weight: float = 10.0
    weights: dict[str, float] = field(default_factory=lambda: {
        "adv": 1.0, "l1": 10.0, "perceptual": 0.0, "au": 0.0, "cycle": 0.0, "tv": 0.0,
        "mask": 0.0, "mask_tv": 0.0})
    # > 0 (generators on the warp): before the loss, a pair's ground-truth photo takes the input's
    # low-frequency colour and shading, measured where the warp moves nothing (a Gaussian of this
    # sigma, in crop sides; facexpr.train.losses.shading_matched). Two real photos of one person
    # differ in exposure and shading as well as in expression; without it the residual learns to
    # paint those differences onto every face. 0 = the photo as it is.
    match_gt: float = 0.0


@dataclass
class OptimConfig:
    """One network's optimizer (Adam) and learning-rate schedule."""

    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    weight_decay: float = 0.0
    schedule: str = "constant"        # constant | linear (decay to 0 after decay_start) | cosine
    decay_start: float = 0.5          # fraction of train.steps where linear decay begins
    warmup: int = 0                   # steps of linear warm-up
    grad_clip: float = 0.0            # max gradient norm (0 = off)


@dataclass
class TrainConfig:
    steps: int = 1000                 # iterations (one batch each)
    stop_after: int = 0               # end this run at this iteration (0 = steps); continue with --resume
    init_from: str = ""               # fine-tune: start the generator (and its EMA) from an exported
                                      # .safetensors or a checkpoint folder; the rest starts fresh
    seed: int = 0
    d_every: int = 1                  # update the D-group networks every n iterations...
    g_every: int = 1                  # ...and the G-group networks every n (WGAN-GP: 5)
    mixed_precision: str = "auto"     # auto (bf16/fp16 on GPU, none on CPU) | no | fp16 | bf16
    ema_decay: float = 0.999          # EMA of the generator's weights (0 = off)
    ema_start: int = 0                # before this step the EMA copies the weights
    log_every: int = 10
    image_every: int = 100            # TensorBoard image grid (source | target | output | gt)
    image_rows: int = 4
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    out_dir: str = "runs/run"
    progress: bool = True
    cpu: bool = False                 # force CPU even when a GPU is there
    deterministic: bool = False       # torch.use_deterministic_algorithms (slower on GPU)
    find_unused_parameters: bool = False  # DDP: set when some parameters get no gradient in a phase


@dataclass
class ExportConfig:
    data_licence: str = ""            # shown in the model card: the licence of the training data
    intended_use: str = "research on facial expression transfer"
    notes: str = ""


@dataclass
class Config:
    name: str = "run"
    task: str = "pix2pix"             # a registered TrainTask (facexpr.train.tasks)
    size: int = 128                   # crop side in px; must match the caches
    model: dict[str, Any] = field(default_factory=dict)  # the task's network options
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: dict[str, OptimConfig] = field(default_factory=lambda: {"G": OptimConfig(), "D": OptimConfig()})
    train: TrainConfig = field(default_factory=TrainConfig)
    export: ExportConfig = field(default_factory=ExportConfig)

    def validate(self) -> "Config":
        checks = [
            (self.data.regime in REGIMES, f"data.regime must be one of {', '.join(REGIMES)}"),
            (set(self.data.mix) <= set(PURE_REGIMES) and all(v >= 0 for v in self.data.mix.values())
             and sum(self.data.mix.values()) > 0,
             f"data.mix must give non-negative odds to some of {', '.join(PURE_REGIMES)}"),
            (self.loss.adversarial in ADVERSARIAL, f"loss.adversarial must be one of {', '.join(ADVERSARIAL)}"),
            (self.loss.penalty in PENALTIES, f"loss.penalty must be one of {', '.join(PENALTIES)}"),
            (self.train.mixed_precision in PRECISIONS,
             f"train.mixed_precision must be one of {', '.join(PRECISIONS)}"),
            (self.size >= 32 and self.size % 16 == 0, "size must be a multiple of 16, at least 32"),
            (self.train.steps >= 1, "train.steps must be at least 1"),
            (self.train.d_every >= 1 and self.train.g_every >= 1, "train.d_every and train.g_every must be >= 1"),
            (self.data.batch_size >= 1, "data.batch_size must be at least 1"),
            (self.data.deform.sampler in SAMPLERS, f"data.deform.sampler must be one of {', '.join(SAMPLERS)}"),
            (self.data.code in CODES, f"data.code must be one of {', '.join(CODES)}"),
            (self.data.aus in AU_SETS, f"data.aus must be one of {', '.join(AU_SETS)}"),
            (self.data.deform.sampler == "legacy" or (self.data.code == "fitted" and self.data.aus == "all"),
             "data.deform.sampler: prior needs data.code: fitted and data.aus: all (its changes and AU labels "
             "live in the prior-fitted code)"),
            (0.0 <= self.train.ema_decay < 1.0, "train.ema_decay must be in [0, 1)"),
            (self.train.checkpoint_every >= 1, "train.checkpoint_every must be at least 1"),
        ]
        for name, o in self.optim.items():
            checks.append((o.schedule in SCHEDULES, f"optim.{name}.schedule must be one of {', '.join(SCHEDULES)}"))
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"config: {msg}")
        return self

    def optim_for(self, net: str) -> OptimConfig:
        """A network's optimizer settings (``optim.<net>``, else ``optim.default``, else defaults)."""
        return self.optim.get(net) or self.optim.get("default") or OptimConfig()

    def to_dict(self) -> dict:
        return asdict(self)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(json.loads(json.dumps(self.to_dict())), sort_keys=False)


# ----------------------------------------------------------------------------------- loading
#
# YAML data becomes the dataclasses above through dacite (a small, maintained library that does one
# thing: build nested dataclasses from dicts with type checks). What is ours is only the leniency a
# YAML user expects (1e-4 read as a string by YAML 1.1, 3.0 for an int, a single path for a list)
# and the error wording: one line naming the dotted key.

def _wrong(tp, value):
    return dacite.WrongTypeError(field_type=tp, value=value)


def _to_int(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, int):
        raise _wrong(int, v)
    return v


def _to_float(v):
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            pass
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise _wrong(float, v)
    return float(v)


def _to_str(v):
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise _wrong(str, v)
    return str(v)


def _sequence(tp):
    """A hook for a tuple or list field: YAML must give a list (a lone string is not split into
    characters)."""
    def check(v):
        if not isinstance(v, (list, tuple)):
            raise _wrong(tp, v)
        return v
    return check


def _mapping(value_type, build):
    """A hook for ``dict[str, value_type]`` that builds each value and keeps its key in error paths
    (``optim.G.lr``, ``loss.weights.l1``)."""
    def hook(value):
        if not isinstance(value, dict):
            raise _wrong(dict[str, value_type], value)
        out = {}
        for k, v in value.items():
            try:
                out[str(k)] = build(v)
            except dacite.DaciteFieldError as e:
                e.update_path(str(k))
                raise
        return out
    return hook


def _optim(v):
    if isinstance(v, OptimConfig):
        return v
    if not isinstance(v, dict):
        raise _wrong(OptimConfig, v)
    return dacite.from_dict(OptimConfig, v, _DACITE)


_DACITE = dacite.Config(cast=[tuple], type_hooks={
    int: _to_int, float: _to_float, str: _to_str,
    list[str]: lambda v: [v] if isinstance(v, str) else _sequence(list[str])(v),  # one path for a list
    tuple[str, ...]: _sequence(tuple[str, ...]),
    tuple[float, float]: _sequence(tuple[float, float]),
    dict[str, float]: _mapping(float, _to_float),
    dict[str, OptimConfig]: _mapping(OptimConfig, _optim),
})

_KIND = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _kind(tp) -> str:
    if tp in _KIND:
        return _KIND[tp]
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) or tp is dict or origin is dict:
        return "a mapping"
    args = typing.get_args(tp)
    if origin is tuple and args and args[-1] is not Ellipsis:
        return f"a list of {len(args)} items"
    if origin in (list, tuple):
        return "a list"
    return f"of type {getattr(tp, '__name__', tp)}"


def _unknown_keys(cls, data: dict, where: str) -> None:
    """An unknown key anywhere is an error naming its dotted path (dacite's strict mode names the
    key but not where it is)."""
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in names:
            prefix = f"{where}." if where else ""
            raise ConfigError(f"config: unknown key {prefix}{k} (known: {', '.join(sorted(names))})")
    hints = typing.get_type_hints(cls)
    for name, value in data.items():
        tp, here = hints[name], f"{where}.{name}" if where else name
        if dataclasses.is_dataclass(tp) and isinstance(value, dict):
            _unknown_keys(tp, value, here)
        elif typing.get_origin(tp) is dict and isinstance(value, dict):
            vt = typing.get_args(tp)[1]
            if dataclasses.is_dataclass(vt):
                for k, v in value.items():
                    if isinstance(v, dict):
                        _unknown_keys(vt, v, f"{here}.{k}")


def _build(cls, data: dict, where: str = ""):
    _unknown_keys(cls, data, where)
    try:
        return dacite.from_dict(cls, data, _DACITE)
    except dacite.WrongTypeError as e:
        path = ".".join(p for p in (where, e.field_path) if p) or "top level"
        raise ConfigError(f"config: {path} must be {_kind(e.field_type)}, got {e.value!r}") from None
    except dacite.DaciteError as e:  # (missing values cannot happen: every field has a default)
        raise ConfigError(f"config: {where or 'top level'}: {e}") from None


def check_choice(value, choices, where: str) -> None:
    """:class:`ConfigError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"config: {where} must be one of {', '.join(str(c) for c in choices)}, got {value!r}")


def build_section(cls, data: dict, where: str):
    """A method's own config section (``model:``, say) as its dataclass ``cls``: an unknown key or a
    value of the wrong type is a :class:`ConfigError` listing the known keys."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: {where} must be a mapping, got {data!r}")
    return _build(cls, data, where)


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path, seen: tuple = ()) -> dict:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config: {path}: no such file")
    if path.resolve() in seen:
        raise ConfigError(f"config: {path}: circular 'base'")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"config: {path}: not valid YAML ({getattr(e, 'problem', None) or 'unreadable'}{where})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config: {path}: the top level must be a mapping")
    base = data.pop("base", None)
    if base:
        data = deep_merge(_read_yaml(path.parent / base, seen + (path.resolve(),)), data)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    import yaml

    if "=" not in text:
        raise ConfigError(f"override '{text}': expected key=value (e.g. train.steps=100)")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not k for k in key.split(".")):
        raise ConfigError(f"override '{text}': empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str] | tuple[str, ...]) -> dict:
    data = json.loads(json.dumps(data))  # deep copy of plain data
    for text in overrides or ():
        keys, value = parse_override(text)
        d = data
        for k in keys[:-1]:
            if not isinstance(d.get(k), dict):
                d[k] = {}
            d = d[k]
        d[keys[-1]] = value
    return data


def config_from_dict(data: dict, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    cfg = _build(Config, apply_overrides(data, overrides))
    cfg.loss.weights = {**LossConfig().weights, **cfg.loss.weights}  # given weights merge into the defaults
    return cfg.validate()


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A :class:`Config` from a YAML file (or the defaults) plus dotted overrides."""
    data = _read_yaml(Path(path)) if path else {}
    return config_from_dict(data, overrides)
