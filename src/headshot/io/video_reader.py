"""Streaming video decoding with PyAV (FFmpeg), one RGB uint8 HWC frame at a time.

- :class:`VideoReader` decodes lazily (memory does not grow with the video's length), applies the
  display-matrix rotation of phone videos, and turns unreadable files into one-line :class:`InputError`.
- :func:`read_frames` yields bare RGB frames; :func:`read_frames_at` picks frames by index;
  :func:`probe` returns a file's metadata; :func:`count_frames` counts frames exactly.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np

from ..errors import InputError
from .media import ffmpeg_message, open_input

__all__ = ["Frame", "VideoReader", "count_frames", "probe", "read_frames", "read_frames_at"]

log = logging.getLogger(__name__)

_FALLBACK_FPS = 25.0


class Frame(NamedTuple):
    """One decoded frame: ``index`` from 0, ``time_s`` in seconds from the first frame's timestamp,
    and ``rgb`` as RGB uint8 HWC (rotation already applied). Unpacks as ``index, time_s, rgb``."""

    index: int
    time_s: float
    rgb: np.ndarray


class VideoReader:
    """Decode a video file frame by frame.

    Iterating yields :class:`Frame` tuples ``(index, time_s, rgb)`` with ``rgb`` RGB uint8 HWC, in
    display order, with the stream's display-matrix rotation applied (multiples of 90 degrees). The
    reader is single-pass: open a new one to read again. Memory stays flat whatever the length.

    By default frames are put on a constant grid of ``fps``: frame ``index`` is the picture shown at
    ``time_s = index / fps``. A decoded frame whose slot is already taken is dropped and an empty slot
    repeats the previous frame, so variable-frame-rate (phone) videos stay in sync with their audio when
    written back at ``fps``. Constant-rate files, almost all, come through unchanged.

    Parameters:
        path: the video file.
        max_frames: stop after this many frames (``None``: all).
        allow_truncated: a file whose index points past its end (an interrupted download or copy) raises
            :class:`InputError` unless this is True; then the frames present are decoded, with a warning.
        constant_rate: False yields every decoded frame once, with its own timestamp in ``time_s``.

    Raises :class:`InputError` (one line) for a missing, empty, corrupt or truncated file, a file without
    a video stream, or one with no decodable frame. A decode error after the first frame ends the
    iteration early with a ``logging`` warning instead of raising.

    Properties: ``fps`` (float frames per second), ``size`` ((width, height) after rotation),
    ``frame_count`` (from the container, estimated from duration x fps when it has none), ``duration``
    (seconds), ``has_audio``, ``rotation`` (degrees counter-clockwise applied to the stored frames),
    ``codec`` (decoder name).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        max_frames: int | None = None,
        allow_truncated: bool = False,
        constant_rate: bool = True,
    ):
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self.path = Path(path).expanduser()
        self.max_frames = max_frames
        self.constant_rate = constant_rate
        self._container = open_input(self.path, "video")
        try:
            self._setup(allow_truncated)
        except BaseException:
            self._container.close()
            raise

    def _setup(self, allow_truncated: bool) -> None:
        container = self._container
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            raise InputError(f"{self.path} is a still image; expected a video")
        if not container.streams.video:
            kind = "an audio-only file" if container.streams.audio else "a file without a video stream"
            raise InputError(f"{self.path} is {kind}; expected a video")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame + slice threads; the decoder picks the count
        self._stream = stream
        self.has_audio = bool(container.streams.audio)
        self.codec = stream.codec_context.name
        self.fps = self._frame_rate(stream)
        self._start_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0

        packets_present = self._packets_in_file(stream)
        if packets_present is not None:
            message = (
                f"{self.path} is truncated: only {packets_present} of {len(stream.index_entries)} frames "
                "are in the file"
            )
            if not allow_truncated:
                raise InputError(message + " (re-export or re-download it)")
            log.warning("%s; decoding what is there", message)
        self._frame_count = self._count_frames(container, stream, packets_present)
        self.duration = self._duration(container, stream)

        self._decoded_frames = container.decode(stream)
        self._index = 0
        self._started = False
        self._closed = False
        first = self._next_av_frame()
        if first is None:
            raise InputError(f"{self.path} has no decodable video frames")
        self.rotation = self._rotation_of(first)
        self._first = first
        height, width = first.height, first.width
        self.size = (height, width) if self.rotation % 180 else (width, height)

    # -- metadata helpers

    def _frame_rate(self, stream) -> float:
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate is not None and rate > 0 and float(rate) < 1000:
                return float(rate)
        if stream.frames and stream.duration:
            return stream.frames / float(stream.duration * stream.time_base)
        log.warning("%s does not state its frame rate; assuming %.0f fps", self.path, _FALLBACK_FPS)
        return _FALLBACK_FPS

    def _packets_in_file(self, stream) -> int | None:
        """Number of indexed video packets that lie inside the file, or None when nothing is missing."""
        try:
            entries = stream.index_entries
            size = self.path.stat().st_size
            if not entries:
                return None
            ends = np.fromiter((entry.pos + entry.size for entry in entries), dtype=np.int64, count=len(entries))
        except (AttributeError, OSError):
            return None
        if ends.max() <= size:
            return None
        return int((ends <= size).sum())

    def _count_frames(self, container, stream, packets_present: int | None) -> int:
        if packets_present is not None:
            count = packets_present
        elif stream.frames and stream.frames > 0:
            count = int(stream.frames)
        else:
            seconds = self._stream_seconds(container, stream)
            count = max(1, round(seconds * self.fps)) if seconds else 0
        if self.max_frames is not None:
            count = min(count, self.max_frames) if count else self.max_frames
        return count

    def _duration(self, container, stream) -> float:
        seconds = self._stream_seconds(container, stream) or self._frame_count / self.fps
        if self.max_frames is not None:
            seconds = min(seconds, self.max_frames / self.fps)
        return seconds

    def _stream_seconds(self, container, stream) -> float | None:
        """Length of the video stream: its own duration, else Matroska's DURATION tag, else the file's."""
        if stream.duration is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        tag = {key.upper(): value for key, value in stream.metadata.items()}.get("DURATION")
        if tag:  # "HH:MM:SS.nnnnnnnnn": the stream's end time, written by FFmpeg's and mkvmerge's muxers
            try:
                hours, minutes, seconds = tag.split(":")
                return int(hours) * 3600 + int(minutes) * 60 + float(seconds) - self._start_s
            except ValueError:
                pass
        if container.duration is not None and container.duration > 0:
            return container.duration / av.time_base  # may include a longer audio track
        return None

    @property
    def frame_count(self) -> int:
        """Number of frames (exact when the container indexes them, else duration x fps)."""
        return self._frame_count

    @staticmethod
    def _rotation_of(frame: av.VideoFrame) -> int:
        try:
            degrees = frame.rotation or 0
        except (AttributeError, ValueError):
            return 0
        return int(round(degrees / 90.0)) % 4 * 90

    # -- decoding

    def _next_av_frame(self) -> av.VideoFrame | None:
        """Next decoded frame, or None at the end (or after a mid-stream error, which is logged)."""
        try:
            return next(self._decoded_frames)
        except StopIteration:
            return None
        except (av.FFmpegError, OSError) as error:
            if self._index == 0 and not self._started:
                raise InputError(f"cannot decode {self.path}: {ffmpeg_message(error)}") from None
            log.warning(
                "stopped decoding %s after %d frames: %s", self.path, self._index, ffmpeg_message(error)
            )
            return None

    def _time_of(self, av_frame: av.VideoFrame, decoded: int) -> float:
        """Seconds from the stream's start (``decoded / fps`` when the frame has no timestamp)."""
        if av_frame.pts is not None and av_frame.time_base is not None:
            return float(av_frame.pts * av_frame.time_base) - self._start_s
        return decoded / self.fps

    def _rgb_of(self, av_frame: av.VideoFrame) -> np.ndarray:
        rgb = av_frame.to_ndarray(format="rgb24")
        if self.rotation:
            rgb = np.ascontiguousarray(np.rot90(rgb, k=self.rotation // 90))
        return rgb

    def __iter__(self) -> Iterator[Frame]:
        if self._started:
            raise RuntimeError("a VideoReader can be iterated once; open a new one to read again")
        if self._closed:
            raise RuntimeError("this VideoReader is closed")
        self._started = True
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        av_frame, self._first = self._first, None
        previous: np.ndarray | None = None
        decoded = 0
        while av_frame is not None and not self._closed:
            time_s = self._time_of(av_frame, decoded)
            decoded += 1
            if not self.constant_rate:
                yield Frame(self._index, time_s, self._rgb_of(av_frame))
                self._index += 1
            else:
                slot = round(time_s * self.fps)
                if slot >= self._index:  # else this frame's slot is already filled: drop it
                    if previous is not None and slot - self._index > self.fps:
                        log.warning("%s: %.1f s without frames at %.2f s; repeating the last frame",
                                    self.path, (slot - self._index) / self.fps, self._index / self.fps)
                    while previous is not None and self._index < slot:  # a gap: repeat the last frame
                        if self._done():
                            return
                        yield Frame(self._index, self._index / self.fps, previous.copy())
                        self._index += 1
                    if self._done():
                        return
                    previous = self._rgb_of(av_frame)
                    yield Frame(self._index, self._index / self.fps, previous)
                    self._index += 1
            if self._done():
                return
            av_frame = self._next_av_frame()

    def _done(self) -> bool:
        return self._closed or (self.max_frames is not None and self._index >= self.max_frames)

    def close(self) -> None:
        """Release the file and decoder. Safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._first = None
            self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        w, h = self.size
        return f"VideoReader({str(self.path)!r}, {w}x{h}, {self.fps:g} fps, {self.frame_count} frames)"


def read_frames(path: str | os.PathLike, max_frames: int | None = None,
                constant_rate: bool = True) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB uint8 HWC arrays (see :class:`VideoReader` for ``constant_rate``)."""
    with VideoReader(path, max_frames=max_frames, constant_rate=constant_rate) as reader:
        for frame in reader:
            yield frame.rgb


def read_frames_at(path: str | os.PathLike, indices: Iterable[int]) -> dict[int, np.ndarray]:
    """``{index: RGB uint8 HWC}`` of the frames at ``indices``, decoded in one pass that stops after the last.

    Indices count decoded frames from 0, each once (``constant_rate=False``: a variable-rate video is not
    resampled); indices past the end are left out. Raises :class:`InputError` like :class:`VideoReader`.
    """
    wanted = {int(index) for index in indices}
    if not wanted:
        return {}
    frames: dict[int, np.ndarray] = {}
    with VideoReader(path, max_frames=max(wanted) + 1, constant_rate=False) as reader:
        for frame in reader:
            if frame.index in wanted:
                frames[frame.index] = frame.rgb
    return frames


def count_frames(path: str | os.PathLike) -> int:
    """Number of decoded frames of a video: the count its container states, else counted by decoding it all
    (:attr:`VideoReader.frame_count` estimates from the duration instead). Raises :class:`InputError`."""
    with VideoReader(path, constant_rate=False) as reader:
        if reader._stream.frames and reader._stream.frames > 0:
            return int(reader._stream.frames)
        return sum(1 for _ in reader)


def probe(path: str | os.PathLike) -> dict:
    """Metadata of a video file without decoding it all.

    Returns a dict: ``fps`` (float), ``size`` ((width, height) after rotation), ``frames`` (int; exact when
    the container indexes frames), ``duration`` (seconds), ``has_audio`` (bool), ``codec`` (video codec
    name), ``audio_codec`` (name or None), ``rotation`` (degrees). Raises :class:`InputError` like
    :class:`VideoReader`.
    """
    with VideoReader(path) as reader:
        audio = reader._container.streams.audio
        return {
            "fps": reader.fps,
            "size": reader.size,
            "frames": reader.frame_count,
            "duration": reader.duration,
            "has_audio": reader.has_audio,
            "codec": reader.codec,
            "audio_codec": audio[0].codec_context.name if audio else None,
            "rotation": reader.rotation,
        }
