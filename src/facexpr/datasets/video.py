"""Frames of talking-face videos (one person per clip), decoded with PyAV."""
from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def clips(root: Path) -> list[Path]:
    root = Path(root)
    if (root / "video").is_dir():
        root = root / "video"
    return sorted(p for p in root.iterdir() if p.suffix.lower() in VIDEO_EXTS)


def frames(path: Path, every: int = 1, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, rgb)`` for every ``every``-th frame."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        n = 0
        for i, frame in enumerate(container.decode(stream)):
            if i % every:
                continue
            yield i, frame.to_ndarray(format="rgb24")
            n += 1
            if max_frames and n >= max_frames:
                return
