"""Image input and output: every way an image enters or leaves facexpr goes through here.

Loading normalises everything to 8-bit RGB ``uint8`` arrays (EXIF orientation applied, alpha
composited on white, greyscale and 16-bit converted) so later stages only ever see one format.
Saving is atomic (temp file + rename in the same folder) so a crash never leaves half a file.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageNotFound, ImageTooLarge, ImageTooSmall, NotAnImage, OutputError

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray]

MAX_PIXELS = 50_000_000  # decompression-bomb guard (a 24 MP phone photo fits twice)
MIN_SIDE = 64
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                ".tif": "TIFF", ".tiff": "TIFF"}

# Pillow's own bomb check raises only at twice its limit; we enforce ours before decoding.
Image.MAX_IMAGE_PIXELS = None


def _to_rgb(im: Image.Image) -> np.ndarray:
    im = ImageOps.exif_transpose(im)
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        # 16-bit modes are scaled by their full range (a dark 16-bit photo stays dark); 32-bit
        # "I"/"F" carry no range, so they are read as 16-bit only when values exceed 8 bits.
        hi = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        im = Image.fromarray(np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8), "L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _check_size(w: int, h: int, what: str) -> None:
    if w * h > MAX_PIXELS:
        raise ImageTooLarge(f"{what}: image is {w}x{h} = {w * h / 1e6:.0f} MP, over the "
                            f"{MAX_PIXELS / 1e6:.0f} MP limit")
    if min(w, h) < MIN_SIDE:
        raise ImageTooSmall(f"{what}: image is {w}x{h}, smaller than {MIN_SIDE} px on a side")


def existing_file(src, what: str | None, not_a: type[Exception], kind: str) -> tuple[Path, str]:
    """``(path, name for messages)`` of an input file that exists and is not a folder
    (:class:`ImageNotFound` / ``not_a`` "is a folder, not <kind>" otherwise)."""
    path = Path(src)
    what = what or str(path)
    if not path.exists():
        raise ImageNotFound(f"{what}: no such file")
    if path.is_dir():
        raise not_a(f"{what}: is a folder, not {kind}")
    return path, what


def load_image(src: ImageLike, what: str | None = None) -> np.ndarray:
    """Return an RGB uint8 array (H, W, 3) from a path, a PIL image or an array."""
    if isinstance(src, np.ndarray):
        return _array_to_rgb(src, what or "array")
    if isinstance(src, Image.Image):
        _check_size(*src.size, what or "image")
        return _to_rgb(src)
    path, what = existing_file(src, what, NotAnImage, "an image")
    try:
        with Image.open(path) as im:
            _check_size(*im.size, what)
            im.load()
            return _to_rgb(im)
    except UnidentifiedImageError:
        raise NotAnImage(f"{what}: not an image file (supported: JPEG, PNG, WebP, BMP, TIFF)") from None
    except PermissionError:
        raise ImageNotFound(f"{what}: cannot be read (permission denied)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt data
        raise NotAnImage(f"{what}: corrupt or truncated image ({e})") from None


def _array_to_rgb(arr: np.ndarray, what: str) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise NotAnImage(f"{what}: expected an HxW, HxWx3 or HxWx4 array, got shape {arr.shape}")
    _check_size(arr.shape[1], arr.shape[0], what)
    if arr.dtype == np.uint16:
        arr = (arr.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif arr.dtype.kind == "f":
        hi = 1.0 if float(np.nanmax(arr)) <= 1.0 else 255.0
        arr = np.clip(np.nan_to_num(arr) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        a = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3] * a + 255.0 * (1 - a) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(arr)


def check_output_path(out: str | os.PathLike, inputs: list, suffixes=tuple(SAVE_FORMATS)) -> Path:
    """Refuse an output that would overwrite an input, or that cannot be written."""
    out = Path(out)
    if out.suffix.lower() not in suffixes:
        raise OutputError(f"{out}: unknown output format '{out.suffix}' "
                          f"(use one of {', '.join(sorted(suffixes))})")
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file name")
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and Path(src).exists() and out.exists():
            if os.path.samefile(src, out):
                raise OutputError(f"{out}: output path is the same file as an input; refusing to overwrite it")
        elif isinstance(src, (str, os.PathLike)) and Path(src).resolve() == out.resolve():
            raise OutputError(f"{out}: output path is the same file as an input; refusing to overwrite it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{out}: folder {parent} is not writable")
    return out


def default_file_mode() -> int:
    """Permissions a normally created file would get (mkstemp's 0600 would surprise users)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def save_image(img: np.ndarray, out: str | os.PathLike, quality: int = 95) -> Path:
    """Write atomically: encode to a temp file beside ``out``, then rename over it."""
    out = Path(out)
    fmt = SAVE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise OutputError(f"{out}: unknown output format '{out.suffix}'")
    im = Image.fromarray(np.asarray(img, dtype=np.uint8))
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            kw = {"quality": quality} if fmt in ("JPEG", "WEBP") else {}
            if fmt == "PNG":
                kw = {"compress_level": 3}  # ~3x faster than the default 6, ~10 % larger
            im.save(f, format=fmt, **kw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return out


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write under a temporary name and rename into place: a reader sees the old file or the
    new one, never a truncated one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))
