"""The generic GAN training loop, on Hugging Face Accelerate.

One *iteration* takes one batch. The ``"D"`` phase (the task's discriminator-side networks) is
updated every ``train.d_every`` iterations and the ``"G"`` phase every ``train.g_every`` (WGAN-GP's
five critic updates per generator update: ``d_every: 1, g_every: 5``); other phases a task defines
run every iteration. Each network has its own Adam optimizer, learning rate and schedule
(``optim.<net>``). After each G update an exponential moving average of the generator is kept
(``train.ema_decay``); it is what image grids show and what ``facexpr export`` ships by default.

Accelerate provides the devices and processes: CPU, one GPU, or many GPUs / nodes
(``accelerate launch``: DistributedDataParallel), and mixed precision (``bf16``/``fp16``
autocast, a loss scaler for fp16). The data path is ours and deterministic: sample ``i`` is a
pure function of ``(seed, i)`` and each process takes its share of each global batch
(:class:`facexpr.train.data.IndexSampler`), so ``--resume`` continues bit-for-bit on CPU.
"""
from __future__ import annotations

import copy
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..methods.exported import load_module
from ..methods.samples import to_uint8_image
from .checkpoint import latest_checkpoint, load_checkpoint, read_state, save_checkpoint
from .config import Config, ConfigError
from .data import FaceCache, PairDataset, fixed_batch, make_loader
from .tasks import TrainTask, get_task, unwrap
from .synthetic import make_cache
from ..io import atomic_write_text, save_image


class NonFiniteLoss(RuntimeError):
    pass


def resolve_precision(requested: str, cpu: bool) -> str:
    if requested != "auto":
        return requested
    if cpu or not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def lr_lambda(schedule: str, total: int, decay_start: float, warmup: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at iteration ``it`` (LambdaLR)."""
    start = int(total * decay_start)

    def f(it: int) -> float:
        w = min(1.0, (it + 1) / warmup) if warmup else 1.0
        if schedule == "linear" and it >= start:
            return w * max(0.0, 1.0 - (it - start) / max(1, total - start))
        if schedule == "cosine":
            return w * 0.5 * (1.0 + math.cos(math.pi * min(it, total) / max(1, total)))
        return w

    return f


def hardware(accelerator) -> str:
    dev = accelerator.device
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
    else:
        name = (f"CPU {platform.processor() or platform.machine()} "
                f"({os.cpu_count()} cores, {torch.get_num_threads()} threads)")
    n = accelerator.num_processes
    return f"{n} x {name}" if n > 1 else name


def image_grid(columns: list[tuple[str, torch.Tensor | None]]) -> np.ndarray:
    """Rows = samples, columns = the given image batches ((N, 3, S, S) in [-1, 1]); uint8 RGB."""
    cols = [(n, x) for n, x in columns if x is not None]
    n = cols[0][1].shape[0]
    rows = [np.concatenate([to_uint8_image(x[i]) for _, x in cols], 1) for i in range(n)]
    return np.concatenate(rows, 0)


class Trainer:
    """Build everything from a :class:`Config`; :meth:`fit` trains (and resumes)."""

    def __init__(self, cfg: Config, resume: bool | str | Path = False, log: Callable[[str], None] | None = None):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, is_tensorboard_available, set_seed

        self.cfg = cfg
        self.log = log or (lambda m: None)
        t = cfg.train
        self.out = Path(t.out_dir)
        precision = resolve_precision(t.mixed_precision, t.cpu)
        ddp = DistributedDataParallelKwargs(find_unused_parameters=t.find_unused_parameters)
        self.acc = Accelerator(cpu=t.cpu, mixed_precision=precision, kwargs_handlers=[ddp],
                               log_with="tensorboard" if is_tensorboard_available() else None,
                               project_dir=str(self.out))
        if t.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
        set_seed(t.seed)  # identical initial weights on every process
        self.task: TrainTask = get_task(cfg.task)(cfg)
        nets = self.task.build()
        missing = {n for names in self.task.phases.values() for n in names} - set(nets)
        if missing or self.task.generator not in nets:
            raise ConfigError(f"task {cfg.task}: phases name networks it did not build: {sorted(missing)}")
        set_seed(t.seed + self.acc.process_index)  # per-process randomness (penalty interpolation...)

        self.caches = self._caches()
        self.cache = FaceCache(self.caches, cfg.size)
        self.dataset = PairDataset(self.cache, cfg.data, seed=t.seed, transform=self.task.sample_transform)

        self.names = list(nets)
        trained = [n for n in self.names if any(n in names for names in self.task.phases.values())]
        optimizers, schedulers = {}, {}
        for name in trained:  # networks no phase updates (frozen helpers) get no optimizer
            o = cfg.optim_for(name)
            params = [p for p in nets[name].parameters() if p.requires_grad]
            optimizers[name] = torch.optim.Adam(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        prepared = self.acc.prepare(*nets.values(), *optimizers.values())
        self.nets = dict(zip(self.names, prepared[:len(nets)]))
        self.opt = dict(zip(trained, prepared[len(nets):]))
        for name in trained:  # schedulers stay unprepared: stepped once per iteration, not per process
            o = cfg.optim_for(name)
            schedulers[name] = torch.optim.lr_scheduler.LambdaLR(
                self.opt[name].optimizer, lr_lambda(o.schedule, t.steps, o.decay_start, o.warmup))
        self.sched = schedulers
        gen = unwrap(self.nets[self.task.generator])
        self.ema = {self.task.generator: copy.deepcopy(gen).eval().requires_grad_(False)} if t.ema_decay > 0 else {}

        self.step = 0
        self.elapsed = 0.0
        self.checkpoint_path: Path | None = None
        if t.init_from and not resume:
            self._init_generator(Path(t.init_from))
        if resume:
            given = isinstance(resume, (str, Path)) and not isinstance(resume, bool)
            path = Path(resume) if given else latest_checkpoint(self.out)
            if path is None or not (Path(path) / "state.json").is_file():
                raise ConfigError(f"--resume: no checkpoint in {self.out / 'checkpoints'}")
            self._check_compatible(Path(path))
            state = load_checkpoint(Path(path), {n: unwrap(v) for n, v in self.nets.items()}, self.ema, self.opt,
                                    self.sched, self.acc.scaler, rank=self.acc.process_index)
            self.step, self.elapsed = int(state["step"]), float(state.get("elapsed_s", 0.0))
            self.log(f"resumed from {path} at step {self.step}")
        self.last_logs: dict[str, float] = {}

    def _init_generator(self, path: Path) -> None:
        """Fine-tuning: the generator's weights (and its EMA) from an exported file or a checkpoint
        folder (its EMA weights when it kept them). Optimizers, schedules and discriminators start
        fresh, so a short run with other losses can continue a shipped model."""
        if path.is_dir():
            name = f"{self.task.generator}.safetensors"
            path = next((p for p in (path / "ema" / name, path / "nets" / name) if p.is_file()), path / "nets" / name)
        if not path.is_file():
            raise ConfigError(f"train.init_from: no generator weights at {path}")
        gen = unwrap(self.nets[self.task.generator])
        try:
            load_module(gen, path)
        except (RuntimeError, KeyError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"train.init_from: {path} does not fit the {self.cfg.task} generator this "
                              f"config builds ({first})") from None
        for ema in self.ema.values():
            ema.load_state_dict(gen.state_dict())
        self.log(f"generator initialised from {path}")

    def _caches(self) -> list[str]:
        caches = list(self.cfg.data.cache)
        n = self.cfg.data.synthetic
        if n > 0:
            path = self.out / f"synthetic-{n}x3-{self.cfg.size}"
            if self.acc.is_main_process and not (path / "index.jsonl").is_file():
                make_cache(path, n_people=n, per_person=3, size=self.cfg.size, seed=self.cfg.train.seed)
            self.acc.wait_for_everyone()
            caches.append(str(path))
        return caches

    def _check_compatible(self, path: Path) -> None:
        import yaml

        old = yaml.safe_load((path / "config.yaml").read_text(encoding="utf-8")) or {}
        new = self.cfg.to_dict()
        for k in ("task", "size", "model"):
            if old.get(k) != json.loads(json.dumps(new[k])):
                raise ConfigError(f"--resume: the checkpoint {path} was trained with {k}={old.get(k)!r}, "
                                  f"the config says {new[k]!r}")
        if old.get("data", {}).get("batch_size") != new["data"]["batch_size"] or \
                read_state(path).get("world_size", 1) != self.acc.num_processes:
            self.log("warning: batch size or process count differs from the checkpoint's: the run continues, "
                     "but not exactly as an uninterrupted one would")

    # ------------------------------------------------------------------ one update

    def _phase_every(self, phase: str) -> int:
        return {"D": self.cfg.train.d_every, "G": self.cfg.train.g_every}.get(phase, 1)

    def _update(self, phase: str, batch: dict) -> dict:
        names = self.task.phases[phase]
        for n in names:
            self.opt[n].zero_grad(set_to_none=True)
        fn = getattr(self.task, f"{phase.lower()}_loss")
        with self.acc.autocast():
            loss, logs = fn(self.nets, batch)
        if not torch.isfinite(loss.detach()):
            terms = {k: round(float(v), 4) for k, v in logs.items()}
            raise NonFiniteLoss(f"step {self.step}: the {phase} loss is {loss.item()} ({terms})")
        self.acc.backward(loss)
        for n in names:
            clip = self.cfg.optim_for(n).grad_clip
            if clip > 0:
                self.acc.clip_grad_norm_(self.nets[n].parameters(), clip)
            self.opt[n].step()
        if self.task.generator in names:
            self._ema_update()
        return logs

    @torch.no_grad()
    def _ema_update(self) -> None:
        if not self.ema:
            return
        src = unwrap(self.nets[self.task.generator])
        ema = self.ema[self.task.generator]
        decay = self.cfg.train.ema_decay if self.step >= self.cfg.train.ema_start else 0.0
        for pe, p in zip(ema.parameters(), src.parameters()):
            pe.lerp_(p.detach().to(pe.dtype), 1.0 - decay)
        for be, b in zip(ema.buffers(), src.buffers()):
            be.copy_(b)

    # ------------------------------------------------------------------ logging

    def _tb(self):
        if not self.acc.is_main_process:
            return None
        try:
            return self.acc.get_tracker("tensorboard", unwrap=True)
        except Exception:
            return None

    @torch.no_grad()
    def log_images(self, batch: dict) -> Path | None:
        if not self.acc.is_main_process:
            return None
        gen = unwrap(self.nets[self.task.generator])
        was = gen.training
        gen.eval()
        out = self.task.generate(gen, batch)
        ema_out = self.task.generate(self.ema[self.task.generator], batch) if self.ema else None
        gen.train(was)
        has_gt = bool(batch["has_gt"].sum() > 0)
        grid = image_grid([("source", batch["source"]), ("target", batch["target"]), ("output", out),
                           ("ema", ema_out), ("gt", batch["gt"] if has_gt else None)])
        path = self.out / "samples" / f"step-{self.step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)

        save_image(grid, path)
        tb = self._tb()
        if tb is not None:
            tb.add_image("samples/source|target|output|ema|gt", grid, self.step, dataformats="HWC")
        return path

    def _progress(self):
        from contextlib import nullcontext

        if not (self.cfg.train.progress and self.acc.is_main_process):
            return nullcontext(None)
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        return Progress(TextColumn(f"train {self.cfg.name}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[speed]} it/s  {task.fields[losses]}"), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn())

    def _state(self) -> dict:
        B, W = self.cfg.data.batch_size, self.acc.num_processes
        return {"step": self.step, "samples": self.step * B * W, "elapsed_s": round(self.elapsed, 3),
                "world_size": W, "batch_size": B, "task": self.cfg.task, "size": self.cfg.size,
                "mixed_precision": self.acc.mixed_precision, "hardware": hardware(self.acc),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "caches": [str(c) for c in self.caches],
                "logs": self.last_logs}

    def save(self) -> Path:
        self.checkpoint_path = save_checkpoint(
            self.out, self.step, {n: unwrap(v) for n, v in self.nets.items()}, self.ema, self.opt, self.sched,
            self._state(), self.cfg.to_yaml(), scaler=self.acc.scaler, keep=self.cfg.train.keep_checkpoints,
            accelerator=self.acc)
        return self.checkpoint_path

    # ------------------------------------------------------------------ the loop

    def fit(self, stop_after: int | None = None) -> dict:
        """Train to ``train.steps`` (or stop after iteration ``stop_after``, e.g. to test resuming)."""
        cfg, t = self.cfg, self.cfg.train
        self.out.mkdir(parents=True, exist_ok=True)
        if self.acc.is_main_process:
            atomic_write_text(self.out / "config.yaml", cfg.to_yaml())
        if self.acc.log_with:
            self.acc.init_trackers("tb")
        tb = self._tb()
        if tb is not None and self.step == 0:
            tb.add_text("config", "```\n" + cfg.to_yaml() + "\n```", 0)
        loader = make_loader(self.dataset, cfg.data.batch_size, self.step, self.acc.process_index,
                             self.acc.num_processes, cfg.data.num_workers, t.seed,
                             pin_memory=self.acc.device.type == "cuda")
        shown = None
        if t.image_every and self.acc.is_main_process:
            shown = {k: v.to(self.acc.device) for k, v in fixed_batch(self.dataset, t.image_rows).items()}
        stop_after = stop_after if stop_after is not None else (t.stop_after or None)
        end = min(t.steps, stop_after) if stop_after else t.steps
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        t_window, steps_window, start_step = time.perf_counter(), 0, self.step
        t_start = time.perf_counter()
        data_time = 0.0
        it = iter(loader)
        with self._progress() as bar:
            task_id = bar.add_task("train", total=t.steps, completed=self.step, speed="-", losses="") if bar else None
            while self.step < end:
                t0 = time.perf_counter()
                batch = {k: v.to(self.acc.device, non_blocking=True) for k, v in next(it).items()}
                data_time += time.perf_counter() - t0
                logs = {}
                for phase in self.task.phases:
                    if self.step % self._phase_every(phase) == 0:
                        logs.update(self._update(phase, batch))
                for s in self.sched.values():
                    s.step()
                self.step += 1
                for k, v in logs.items():  # tensors: no device sync until logged
                    sums[k] = sums.get(k, 0.0) + (v.detach().float() if torch.is_tensor(v) else float(v))
                    counts[k] = counts.get(k, 0) + 1
                steps_window += 1
                if self.step % t.log_every == 0 or self.step == end:
                    now = time.perf_counter()
                    rate = steps_window / max(now - t_window, 1e-9)
                    window = {k: float(v) / counts[k] for k, v in sums.items()}
                    self.last_logs.update(window)  # a phase that did not run keeps its last value
                    scalars = {f"loss/{k}": v for k, v in window.items()}
                    scalars.update({f"lr/{n}": s.get_last_lr()[0] for n, s in self.sched.items()})
                    scalars["perf/steps_per_s"] = rate
                    scalars["perf/samples_per_s"] = rate * cfg.data.batch_size * self.acc.num_processes
                    scalars["perf/data_fraction"] = data_time / max(now - t_window, 1e-9)
                    self.acc.log(scalars, step=self.step)
                    if bar is not None:
                        short = "  ".join(f"{k} {v:.3f}" for k, v in self.last_logs.items() if k.endswith("total"))
                        bar.update(task_id, speed=f"{rate:.2f}", losses=short)
                    sums, counts, t_window, steps_window, data_time = {}, {}, now, 0, 0.0
                if bar is not None:
                    bar.update(task_id, completed=self.step)
                if shown is not None and (self.step % t.image_every == 0 or self.step == t.steps):
                    self.log_images(shown)
                if self.step % t.checkpoint_every == 0 or self.step == end:
                    self.elapsed += time.perf_counter() - t_start
                    t_start = time.perf_counter()
                    self.save()
        self.elapsed += time.perf_counter() - t_start
        ran = self.step - start_step
        summary = {"steps": self.step, "ran": ran, "process_index": self.acc.process_index,
                   "seconds": round(self.elapsed, 3),
                   "steps_per_s": None, "samples_per_s": None, "hardware": hardware(self.acc),
                   "mixed_precision": self.acc.mixed_precision, "world_size": self.acc.num_processes,
                   "logs": self.last_logs, "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None}
        if self.elapsed > 0 and self.step:
            summary["steps_per_s"] = round(self.step / self.elapsed, 4)
            summary["samples_per_s"] = round(self.step * cfg.data.batch_size * self.acc.num_processes / self.elapsed, 3)
        if self.acc.is_main_process:
            atomic_write_text(self.out / "train.json", json.dumps(summary, indent=1))
        self.acc.end_training()
        return summary


def train(cfg: Config, resume: bool | str | Path = False, log: Callable[[str], None] | None = None,
          stop_after: int | None = None) -> dict:
    return Trainer(cfg, resume=resume, log=log).fit(stop_after=stop_after)
