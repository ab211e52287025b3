"""Video input and output (PyAV): every video that enters or leaves facexpr goes through here.

* :func:`probe` / :class:`VideoInfo`: frame rate, frame count, size, duration, audio stream;
* :func:`read_frames`: decoded RGB ``uint8`` frames with their index and time, optionally a
  ``[start, end)`` window (seconds) and a frame cap;
* :class:`VideoWriter`: H.264 MP4 at a given frame rate, the audio of another file *copied*
  (no re-encoding) in sync over the same window, written atomically (temp file + rename);
* :func:`write_image_sequence`: numbered PNG/JPEG frames into a folder.

Errors a user can fix (missing file, not a video, no video stream) are :class:`NotAVideo` /
:class:`ImageNotFound` with a one-line message.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError, OutputError
from .io import default_file_mode, existing_file, save_image

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
OUTPUT_SUFFIXES = (".mp4",)


class NotAVideo(InputError):
    """Readable file, but not a video we can decode."""


@dataclass(frozen=True)
class VideoInfo:
    path: Path
    fps: Fraction          # average frame rate
    frames: int            # number of frames (counted when the container does not say)
    width: int
    height: int
    duration: float        # seconds (frames / fps)
    has_audio: bool
    audio_codec: str | None = None


def is_video_path(path) -> bool:
    return isinstance(path, (str, os.PathLike)) and Path(path).suffix.lower() in VIDEO_SUFFIXES


def _open(path, what: str | None = None):
    import av

    path, what = existing_file(path, what, NotAVideo, "a video")
    try:
        c = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as e:
        raise NotAVideo(f"{what}: not a readable video ({getattr(e, 'strerror', None) or e})") from None
    if not c.streams.video:
        c.close()
        raise NotAVideo(f"{what}: has no video stream")
    fmt = c.format.name or ""
    if "image2" in fmt or fmt.endswith("_pipe") or fmt in ("gif", "apng", "webp"):
        c.close()
        raise NotAVideo(f"{what}: is an image, not a video")
    return c


def probe(path, what: str | None = None) -> VideoInfo:
    c = _open(path, what)
    try:
        vs = c.streams.video[0]
        fps = vs.average_rate or vs.guessed_rate or Fraction(25)
        n = vs.frames
        if not n:
            n = sum(1 for _ in c.demux(vs) if _.size)  # count packets when the header does not say
        a = c.streams.audio[0] if c.streams.audio else None
        return VideoInfo(Path(path), Fraction(fps), int(n), vs.codec_context.width, vs.codec_context.height,
                         float(n / fps), a is not None, a.codec_context.name if a is not None else None)
    finally:
        c.close()


@dataclass
class VideoFrame:
    index: int       # frame number in the file (0-based)
    time: float      # seconds from the start of the file
    image: np.ndarray  # RGB uint8 (H, W, 3)


def frame_window(info: VideoInfo, start: float | None = None, end: float | None = None,
                 max_frames: int | None = None) -> tuple[int, int]:
    """``[first, stop)`` frame indices for a ``[start, end)`` window in seconds and a frame cap."""
    first = 0 if not start else int(round(float(start) * info.fps))
    stop = info.frames if end is None else min(info.frames, int(round(float(end) * info.fps)))
    if max_frames is not None:
        stop = min(stop, first + max(0, int(max_frames)))
    if first < 0 or (start is not None and first >= info.frames):
        raise InputError(f"{info.path}: --start {start} s is outside the video ({info.duration:.2f} s)")
    if stop <= first:
        raise InputError(f"{info.path}: empty frame window (start {start}, end {end}, max frames {max_frames})")
    return first, stop


def read_frames(path, first: int = 0, stop: int | None = None, what: str | None = None,
                step: int = 1) -> Iterator[VideoFrame]:
    """Decoded RGB frames ``first <= index < stop`` (index by decode order, as players count them);
    with ``step``, only every ``step``-th of them (the others are decoded but never converted to
    RGB, which costs more than decoding)."""
    c = _open(path, what)
    try:
        vs = c.streams.video[0]
        vs.thread_type = "AUTO"
        fps = vs.average_rate or vs.guessed_rate or Fraction(25)
        i = 0
        step = max(1, int(step))
        for frame in c.decode(vs):
            if stop is not None and i >= stop:
                break
            if i >= first and (i - first) % step == 0:
                yield VideoFrame(i, float(i / fps), frame.to_ndarray(format="rgb24"))
            i += 1
    finally:
        c.close()


def check_video_output(out, inputs: list, sequence: bool = False) -> Path:
    """An output path that can be written and does not overwrite an input."""
    out = Path(out)
    if sequence:
        if out.exists() and not out.is_dir():
            raise OutputError(f"{out}: exists and is not a folder (image-sequence output needs a folder)")
        parent = out.parent if str(out.parent) else Path(".")
    else:
        if out.suffix.lower() not in OUTPUT_SUFFIXES:
            raise OutputError(f"{out}: unknown video output format '{out.suffix}' (use .mp4, or a folder "
                              "for an image sequence)")
        if out.is_dir():
            raise OutputError(f"{out}: is a folder; give a file name")
        parent = out.parent if str(out.parent) else Path(".")
    for src in inputs:
        if isinstance(src, (str, os.PathLike)) and Path(src).resolve() == out.resolve():
            raise OutputError(f"{out}: output path is the same file as an input; refusing to overwrite it")
    if not parent.is_dir():
        raise OutputError(f"{out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{out}: folder {parent} is not writable")
    return out


class VideoWriter:
    """H.264 MP4, written to a temp file beside ``out`` and renamed over it on :meth:`close`.

    ``audio_from`` (a video path) and ``audio_window`` ``(t0, t1)`` seconds: its first audio stream's
    packets in that window are copied (not re-encoded), shifted so ``t0`` is the new time 0, and
    interleaved with the video as it is written, so picture and sound stay in sync.
    """

    def __init__(self, out, fps, width: int, height: int, audio_from=None, audio_window=None,
                 crf: int = 20, preset: str = "veryfast"):
        import av

        self.out = Path(out)
        self.fps = Fraction(fps).limit_denominator(1001 * 1000)
        fd, self.tmp = tempfile.mkstemp(prefix=f".{self.out.name}.", suffix=".part.mp4",
                                        dir=self.out.parent if str(self.out.parent) else ".")
        os.close(fd)
        self._c = av.open(self.tmp, "w", format="mp4")
        self._v = self._c.add_stream("libx264", rate=self.fps)
        self._v.width, self._v.height = width - width % 2, height - height % 2
        self._v.pix_fmt = "yuv420p"
        self._v.options = {"crf": str(crf), "preset": preset}
        self._v.codec_context.time_base = 1 / self.fps
        self._n = 0
        self._audio = None
        if audio_from is not None:
            self._open_audio(audio_from, audio_window)

    def _open_audio(self, src, window) -> None:
        import av

        ic = av.open(str(src))
        if not ic.streams.audio:
            ic.close()
            return
        ia = ic.streams.audio[0]
        try:
            oa = self._c.add_stream_from_template(ia)
        except (ValueError, av.FFmpegError):  # a codec MP4 cannot carry: go without sound
            ic.close()
            return
        t0, t1 = window or (0.0, None)
        self._audio = (ic, ia, oa, float(t0), None if t1 is None else float(t1), ic.demux(ia))
        self._apending = None

    def _mux_audio_until(self, t: float | None) -> None:
        """Copy audio packets whose (window-relative) time is before ``t`` (None: all the rest)."""
        if self._audio is None:
            return
        ic, ia, oa, t0, t1, packets = self._audio
        tb = ia.time_base
        while True:
            p = self._apending
            if p is None:
                p = next(packets, None)
                if p is None:
                    return
                if p.pts is None or p.size == 0:
                    continue
            pt = float(p.pts * tb)
            if t1 is not None and pt >= t1:
                self._apending = None
                return
            if pt + float((p.duration or 0) * tb) <= t0:
                self._apending = None
                continue
            rel = pt - t0
            if t is not None and rel > t:
                self._apending = p
                return
            self._apending = None
            shift = int(round(t0 / tb))
            p.pts -= shift
            if p.dts is not None:
                p.dts -= shift
            if p.pts < 0:  # a packet straddling the window start: keep it at 0
                p.dts, p.pts = (p.dts - p.pts if p.dts is not None else None), 0
            p.stream = oa
            self._c.mux(p)

    def write(self, rgb: np.ndarray) -> None:
        import av

        h, w = self._v.height, self._v.width
        rgb = np.ascontiguousarray(rgb[:h, :w])
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts = self._n
        frame.time_base = 1 / self.fps
        self._n += 1
        self._mux_audio_until(float(self._n / self.fps))
        for packet in self._v.encode(frame):
            self._c.mux(packet)

    def close(self) -> Path:
        """Flush, finish the file and rename it into place."""
        for packet in self._v.encode(None):
            self._c.mux(packet)
        self._mux_audio_until(float(self._n / self.fps))
        self._close_inputs()
        self._c.close()
        os.chmod(self.tmp, _file_mode())
        os.replace(self.tmp, self.out)
        return self.out

    def abort(self) -> None:
        """Drop the partial file (after an error or an interrupt)."""
        self._close_inputs()
        try:
            self._c.close()
        except Exception:
            pass
        Path(self.tmp).unlink(missing_ok=True)

    def _close_inputs(self) -> None:
        if self._audio is not None:
            self._audio[0].close()
            self._audio = None


def _file_mode() -> int:
    return default_file_mode()


def write_image_sequence(frames, folder, pattern: str = "frame_{:06d}.png") -> Path:
    """Numbered images into ``folder`` (created), each written atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(frames):
        save_image(img, folder / pattern.format(i))
    return folder
