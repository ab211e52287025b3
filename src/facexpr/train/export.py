"""Export a trained generator: a small fp16 safetensors file plus a model card (JSON and Markdown).

The file's metadata holds everything needed to rebuild and run the generator without the training
run: ``format`` (``facexpr-generator``), ``task`` (the registered task), ``spec`` (the generator's
constructor arguments, JSON), ``size`` (crop side) and ``card`` (the model card, JSON).
:func:`facexpr.methods.exported.load_exported` rebuilds it; :class:`facexpr.methods.exported.ExportedMethod` renders transfers
with it (what ``--method path/to/model.safetensors`` loads).
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import torch

from ..io import atomic_write_text, default_file_mode
from ..methods.exported import FORMAT, load_module
from .checkpoint import latest_checkpoint, read_state, save_module
from .config import ConfigError, config_from_dict
from .tasks import get_task


def _config_of(ckpt: Path):
    import yaml

    return config_from_dict(yaml.safe_load((ckpt / "config.yaml").read_text(encoding="utf-8")) or {})


def _cache_info(paths: list[str]) -> list[dict]:
    out = []
    for p in paths:
        try:
            meta = json.loads((Path(p) / "meta.json").read_text(encoding="utf-8"))
            n = sum(1 for line in open(Path(p) / "index.jsonl", encoding="utf-8") if '"ok": true' in line)
        except (OSError, json.JSONDecodeError):
            out.append({"cache": Path(p).name, "note": "cache not readable at export time"})
            continue
        out.append({"cache": Path(p).name, "dataset": meta.get("dataset"), "root": Path(str(meta.get("root"))).name,
                    "faces": n, "crop_size": meta.get("size")})
    return out


def card_markdown(card: dict) -> str:
    m = card.get("metrics") or {}
    data = "\n".join(f"| {d.get('dataset', '?')} | {d.get('root', '')} | {d.get('faces', '?')} |" for d in card["data"])
    metrics = "\n".join(f"| {k} | {v:.4g} |" if isinstance(v, (int, float)) else f"| {k} | {v} |" for k, v in m.items())
    return f"""# {card['name']} — facexpr generator

| | |
|---|---|
| task | `{card['task']}` |
| weights | {card['weights']} (fp16), {card['parameters']:,} parameters, {card['file_bytes']:,} bytes |
| sha256 | `{card['sha256']}` |
| crop | {card['size']} px, aligned by `facexpr.faces.crops.alignment` |
| training | {card['steps']:,} iterations, {card['samples']:,} samples, {card['training_seconds'] / 3600:.2f} h |
| hardware | {card['hardware']} (mixed precision: {card['mixed_precision']}, processes: {card['world_size']}) |
| regime | {card['regime']} |
| data licence | {card['data_licence'] or 'not stated — see the datasets below'} |
| intended use | {card['intended_use']} |
| exported | {card['exported']} |

## Data

| dataset | root | faces |
|---|---|---|
{data}

## Metrics

| metric | value |
|---|---|
{metrics or '| (none recorded) | |'}

{card.get('notes') or ''}
"""


def export(run: Path, out: Path, weights: str = "ema", checkpoint: Path | None = None,
           metrics: dict | Path | None = None) -> dict:
    """Write ``out`` (.safetensors, fp16), ``out``.json and ``out``.md from a run's newest checkpoint
    (or ``checkpoint``); ``weights``: ``ema`` (default, when the run kept one) or ``raw``."""
    run, out = Path(run), Path(out)
    ckpt = Path(checkpoint) if checkpoint else latest_checkpoint(run)
    if ckpt is None or not (ckpt / "state.json").is_file():
        raise ConfigError(f"export: no checkpoint in {run / 'checkpoints'}")
    if out.suffix != ".safetensors":
        raise ConfigError(f"export: the output must end in .safetensors, got {out.name}")
    cfg = _config_of(ckpt)
    state = read_state(ckpt)
    task = get_task(cfg.task)(cfg)
    G = task.build()[task.generator]
    src = ckpt / "ema" / f"{task.generator}.safetensors"
    if weights == "raw" or not src.is_file():
        if weights == "ema":
            weights = "raw"  # the run kept no EMA
        src = ckpt / "nets" / f"{task.generator}.safetensors"
    load_module(G, src)
    if isinstance(metrics, (str, Path)):
        metrics = json.loads(Path(metrics).read_text(encoding="utf-8"))
    card = {
        "name": out.stem, "format": FORMAT, "task": cfg.task, "size": cfg.size, "weights": weights,
        "parameters": sum(p.numel() for p in G.parameters()), "steps": state["step"],
        "samples": state.get("samples"), "training_seconds": state.get("elapsed_s", 0.0),
        "hardware": state.get("hardware"), "mixed_precision": state.get("mixed_precision"),
        "world_size": state.get("world_size", 1), "regime": cfg.data.regime,
        "data": _cache_info(state.get("caches") or cfg.data.cache),
        "data_licence": cfg.export.data_licence, "intended_use": cfg.export.intended_use, "notes": cfg.export.notes,
        "metrics": {**{f"train/{k}": v for k, v in (state.get("logs") or {}).items()}, **(metrics or {})},
        "checkpoint": ckpt.name, "exported": time.strftime("%Y-%m-%dT%H:%M:%S"), "config": cfg.to_dict(),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.part")
    save_module(G, tmp, dtype=torch.float16, metadata={
        "format": FORMAT, "task": cfg.task, "size": str(cfg.size),
        "spec": json.dumps(task.generator_spec(G)), "card": json.dumps(card)})
    os.chmod(tmp, default_file_mode())  # safetensors creates files 0600; an export is meant to be shared
    tmp.replace(out)
    data = out.read_bytes()
    card["file_bytes"] = len(data)
    card["sha256"] = hashlib.sha256(data).hexdigest()
    atomic_write_text(out.with_suffix(".json"), json.dumps(card, indent=1))
    atomic_write_text(out.with_suffix(".md"), card_markdown(card))
    return card
