"""Checkpoints: everything a killed run needs to continue exactly where it stopped.

Layout of ``RUN/checkpoints/step-00001000/``::

    nets/<name>.safetensors       weights of every network (unwrapped), and ema/<name>.safetensors
    optim/<name>.pt               optimizer state (torch.save; loaded with weights_only=True)
    sched/<name>.pt               learning-rate scheduler state
    scaler.pt                     fp16 GradScaler state (when used)
    rng/<rank>.pt                 Python, NumPy, torch (and CUDA) RNG states of every process
    state.json                    step, samples seen, elapsed time, world size, last logged losses
    config.yaml                   the resolved config of the run

A checkpoint is written into a hidden temporary folder, every file fsynced, then renamed into
place; ``RUN/checkpoints/latest`` (replaced atomically) names the newest. A run killed at any
moment leaves either the previous checkpoint or the new one, never half of one.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch

from ..methods.exported import load_module

LATEST = "latest"


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rng_state() -> dict:
    """This process's RNG states, as tensors and plain values (loadable with weights_only)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    s = {"python": random.getstate(), "numpy": (name, torch.from_numpy(keys.astype(np.int64)), int(pos),
                                                 int(has_gauss), float(cached)),
         "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        s["cuda"] = torch.cuda.get_rng_state_all()
    return s


def set_rng_state(s: dict) -> None:
    random.setstate(s["python"])
    name, keys, pos, has_gauss, cached = s["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(s["torch"])
    if "cuda" in s and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(s["cuda"])


def save_module(module: torch.nn.Module, path: Path, metadata: dict | None = None, dtype=None) -> None:
    from safetensors.torch import save_file

    sd = {k: (v.detach().to(dtype) if dtype is not None and v.is_floating_point() else v.detach())
          .cpu().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(sd, str(path), metadata={k: str(v) for k, v in (metadata or {}).items()})


def checkpoint_dir(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / "checkpoints" / f"step-{step:08d}"


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint of a run (None when there is none)."""
    ck = Path(run_dir) / "checkpoints"
    pointer = ck / LATEST
    if pointer.is_file():
        p = ck / pointer.read_text(encoding="utf-8").strip()
        if (p / "state.json").is_file():
            return p
    done = sorted(p for p in ck.glob("step-*") if (p / "state.json").is_file()) if ck.is_dir() else []
    return done[-1] if done else None


def save_checkpoint(run_dir: Path, step: int, nets: dict, ema: dict, optimizers: dict, schedulers: dict,
                    state: dict, config_yaml: str, scaler=None, keep: int = 3, accelerator=None) -> Path:
    """Write checkpoint ``step`` atomically (all processes call this; the main one writes)."""
    rank = accelerator.process_index if accelerator is not None else 0
    main = accelerator.is_main_process if accelerator is not None else True
    wait = accelerator.wait_for_everyone if accelerator is not None else (lambda: None)
    final = checkpoint_dir(run_dir, step)
    tmp = final.with_name(f".{final.name}.tmp")
    if main:
        if tmp.exists():
            shutil.rmtree(tmp)
        for sub in ("nets", "ema", "optim", "sched", "rng"):
            (tmp / sub).mkdir(parents=True)
    wait()
    torch.save(rng_state(), tmp / "rng" / f"{rank}.pt")
    _fsync_file(tmp / "rng" / f"{rank}.pt")
    wait()
    if main:
        for name, net in nets.items():
            save_module(net, tmp / "nets" / f"{name}.safetensors")
        for name, net in ema.items():
            save_module(net, tmp / "ema" / f"{name}.safetensors")
        for name, opt in optimizers.items():
            torch.save(opt.state_dict(), tmp / "optim" / f"{name}.pt")
        for name, sch in schedulers.items():
            torch.save(sch.state_dict(), tmp / "sched" / f"{name}.pt")
        if scaler is not None:
            torch.save(scaler.state_dict(), tmp / "scaler.pt")
        (tmp / "config.yaml").write_text(config_yaml, encoding="utf-8")
        (tmp / "state.json").write_text(json.dumps(state, indent=1), encoding="utf-8")
        for p in tmp.rglob("*"):
            if p.is_file():
                _fsync_file(p)
        if final.exists():  # re-saving the same step (e.g. after a resume): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(final.parent)
        pointer_tmp = final.parent / f".{LATEST}.tmp"
        pointer_tmp.write_text(final.name, encoding="utf-8")
        os.replace(pointer_tmp, final.parent / LATEST)
        _fsync_dir(final.parent)
        old = sorted(p for p in final.parent.glob("step-*") if p.is_dir() and p != final)
        for p in old[:max(0, len(old) - max(0, keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)
    wait()
    return final


def read_state(path: Path) -> dict:
    return json.loads((Path(path) / "state.json").read_text(encoding="utf-8"))


def load_checkpoint(path: Path, nets: dict, ema: dict, optimizers: dict, schedulers: dict, scaler=None,
                    rank: int = 0, restore_rng: bool = True) -> dict:
    """Load a checkpoint into the given (unwrapped) networks, optimizers... Returns its state."""
    path = Path(path)
    for name, net in nets.items():
        load_module(net, path / "nets" / f"{name}.safetensors")
    for name, net in ema.items():
        load_module(net, path / "ema" / f"{name}.safetensors")
    for name, opt in optimizers.items():
        opt.load_state_dict(torch.load(path / "optim" / f"{name}.pt", map_location="cpu", weights_only=True))
    for name, sch in schedulers.items():
        sch.load_state_dict(torch.load(path / "sched" / f"{name}.pt", map_location="cpu", weights_only=True))
    if scaler is not None and (path / "scaler.pt").is_file():
        scaler.load_state_dict(torch.load(path / "scaler.pt", map_location="cpu", weights_only=True))
    if restore_rng:
        f = path / "rng" / f"{rank}.pt"
        if not f.is_file():  # resumed on more processes than saved: derive from rank 0's
            f = path / "rng" / "0.pt"
        set_rng_state(torch.load(f, map_location="cpu", weights_only=True))
    return read_state(path)
