"""Streaming video read and write with PyAV (FFmpeg), one RGB uint8 HWC frame at a time.

- :class:`VideoReader` decodes lazily (memory does not grow with the video's length), applies the
  display-matrix rotation of phone videos, and turns unreadable files into one-line :class:`InputError`.
- :class:`VideoWriter` encodes H.264 (yuv420p, BT.709, ``+faststart``) into a hidden temporary file and
  renames it into place on :meth:`VideoWriter.close`, optionally with the audio track of another file
  (copied when it is AAC, else transcoded to AAC) trimmed to the video's duration.
- :func:`probe` returns a file's metadata; :func:`read_frames` yields bare RGB frames.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import cv2
import numpy as np

from ..errors import InputError, OutputError
from .atomic import AtomicOutput, check_output_path
from .images import to_rgb_uint8

__all__ = ["Frame", "VideoReader", "VideoWriter", "probe", "read_frames", "rgb_to_yuv420p", "video_encoder"]

log = logging.getLogger(__name__)

# Frames are converted RGB -> Y'CbCr with the BT.709 matrix, limited range (ITU-R BT.709-6, table 3),
# and the stream is tagged so that players use the same matrix.
_AVCOL_SPC_BT709 = 1
_AVCOL_PRI_BT709 = 1
_AVCOL_TRC_IEC61966_2_1 = 13  # sRGB transfer: our frames are sRGB images
_AVCOL_RANGE_MPEG = 1  # limited range, what yuv420p players expect

_FALLBACK_FPS = 25.0


def _bt709_matrix() -> np.ndarray:
    """3x4 affine matrix taking RGB uint8 (0..255) to limited-range Y'CbCr (Y 16..235, Cb/Cr 16..240)."""
    kr, kb = 0.2126, 0.0722
    luma = np.array([kr, 1.0 - kr - kb, kb])
    blue_difference = (np.array([0.0, 0.0, 1.0]) - luma) / (2.0 * (1.0 - kb))
    red_difference = (np.array([1.0, 0.0, 0.0]) - luma) / (2.0 * (1.0 - kr))
    matrix = np.zeros((3, 4))
    matrix[0, :3], matrix[0, 3] = luma * 219.0 / 255.0, 16.0
    matrix[1, :3], matrix[1, 3] = blue_difference * 224.0 / 255.0, 128.0
    matrix[2, :3], matrix[2, 3] = red_difference * 224.0 / 255.0, 128.0
    return matrix


_RGB_TO_YCBCR_709 = _bt709_matrix()


def rgb_to_yuv420p(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 HWC (even H and W) -> planar yuv420p as one (H * 3 / 2, W) uint8 array (Y, then Cb, Cr).

    BT.709 limited range; chroma is the mean of each 2x2 block. OpenCV does this about 10x faster than
    FFmpeg's swscale, which matters because it runs once per output frame.
    """
    height, width = rgb.shape[:2]
    ycbcr = cv2.transform(rgb, _RGB_TO_YCBCR_709)
    planar = np.empty((height * 3 // 2, width), np.uint8)
    planar[:height] = ycbcr[:, :, 0]
    chroma_size = (width // 2, height // 2)
    cb = cv2.resize(ycbcr[:, :, 1], chroma_size, interpolation=cv2.INTER_AREA)
    cr = cv2.resize(ycbcr[:, :, 2], chroma_size, interpolation=cv2.INTER_AREA)
    flat = planar.reshape(-1)
    luma_size, chroma_count = height * width, chroma_size[0] * chroma_size[1]
    flat[luma_size : luma_size + chroma_count] = cb.reshape(-1)
    flat[luma_size + chroma_count :] = cr.reshape(-1)
    return planar


class Frame(NamedTuple):
    """One decoded frame: ``index`` from 0, ``time_s`` in seconds from the first frame's timestamp,
    and ``rgb`` as RGB uint8 HWC (rotation already applied). Unpacks as ``index, time_s, rgb``."""

    index: int
    time_s: float
    rgb: np.ndarray


def _one_line(error: BaseException) -> str:
    if isinstance(error, av.FFmpegError) and error.strerror:
        return str(error.strerror)  # str() would add the errno and the file name
    text = " ".join(str(error).split())
    return text or type(error).__name__


def check_input_file(path: Path, what: str) -> None:
    """``InputError`` (one line) if ``path`` is missing, a folder, or empty; ``what`` names it."""
    if not path.exists():
        raise InputError(f"{what} not found: {path}")
    if path.is_dir():
        raise InputError(f"expected a {what} file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"{what} file is empty: {path}")


def _open_input(path: Path, what: str) -> av.container.InputContainer:
    check_input_file(path, what)
    try:
        return av.open(str(path), mode="r", metadata_errors="replace")
    except av.FFmpegError as error:
        raise InputError(f"cannot read {what} {path}: corrupt or unsupported ({_one_line(error)})") from None
    except OSError as error:
        raise InputError(f"cannot read {what} {path}: {error.strerror or error}") from None


# ------------------------------------------------------------------------------------------- reading


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
        self._container = _open_input(self.path, "video")
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
                raise InputError(f"cannot decode {self.path}: {_one_line(error)}") from None
            log.warning(
                "stopped decoding %s after %d frames: %s", self.path, self._index, _one_line(error)
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


def read_frames(path: str | os.PathLike, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the frames of a video as RGB uint8 HWC arrays (see :class:`VideoReader`)."""
    with VideoReader(path, max_frames=max_frames) as reader:
        for frame in reader:
            yield frame.rgb


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


# ------------------------------------------------------------------------------------------- writing


@functools.lru_cache(maxsize=None)
def video_encoder() -> str:
    """Name of the encoder :class:`VideoWriter` uses: libx264 if PyAV's FFmpeg has it, else another
    software H.264 encoder, else mpeg4 (MPEG-4 Part 2), with a warning."""
    for name in ("libx264", "libopenh264"):
        try:
            av.codec.Codec(name, "w")
        except (av.FFmpegError, ValueError):
            continue
        if name != "libx264":
            log.warning("libx264 is not available in PyAV's FFmpeg; encoding H.264 with %s", name)
        return name
    log.warning("no H.264 encoder in PyAV's FFmpeg; falling back to MPEG-4 Part 2 (mpeg4)")
    return "mpeg4"


def _as_frame_rate(fps: float | int | Fraction) -> Fraction:
    """Exact frame rate: 25 -> 25/1, 29.97 -> 2997/100, 30000/1001 stays (float 29.97003 -> 30000/1001)."""
    try:
        rate = Fraction(fps).limit_denominator(1001)
    except (TypeError, ValueError):
        raise ValueError(f"fps must be a positive number, got {fps!r}") from None
    if rate <= 0 or rate > 1000:
        raise ValueError(f"fps must be in (0, 1000], got {fps!r}")
    return rate


class _AudioTrack:
    """The first audio track of ``source``, muxed into a writer's container up to a given time.

    AAC packets are copied unchanged; any other codec is decoded and re-encoded to AAC. Timestamps are
    taken relative to the source's first video frame (or 0 for audio-only files) so that lip sync with
    frames generated from the same source is kept.
    """

    def __init__(self, source: Path):
        self.source = source
        self.container = _open_input(source, "audio source")
        try:
            self.input = self.container.streams.audio[0]
        except IndexError:
            self.container.close()
            raise
        video = self.container.streams.video
        self.offset_s = 0.0
        if video and video[0].start_time is not None:
            self.offset_s = float(video[0].start_time * video[0].time_base)
        self.copy = self.input.codec_context.name == "aac"
        self.output = None
        self.resampler = None
        self.samples_out = None
        self.peeked = None  # (start_s, packet or frame) read from the source but not muxed yet
        self.exhausted = False
        self.items = self._items()

    def add_to(self, container) -> None:
        if self.copy:
            self.output = container.add_stream_from_template(self.input)
            return
        rate = self.input.rate if self.input.rate in av.codec.Codec("aac", "w").audio_rates else 48000
        channels = self.input.codec_context.channels
        layout = "mono" if channels == 1 else "stereo"
        self.output = container.add_stream("aac", rate=rate, layout=layout)
        self.output.bit_rate = 64000 if channels == 1 else 128000

    def _items(self):
        """Packets (copy) or decoded frames (transcode) of the source track, each with its start time."""
        for packet in self.container.demux(self.input):
            if packet.size == 0 and packet.pts is None:
                continue
            if self.copy:
                if packet.pts is None:
                    continue
                yield float(packet.pts * packet.time_base) - self.offset_s, packet
            else:
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    yield float(frame.pts * frame.time_base) - self.offset_s, frame
        if not self.copy:
            for frame in self.input.decode(None):
                if frame.pts is not None:
                    yield float(frame.pts * frame.time_base) - self.offset_s, frame

    def mux_until(self, container, end_s: float) -> None:
        """Mux every item that starts before ``end_s`` seconds."""
        while not self.exhausted:
            if self.peeked is None:
                try:
                    self.peeked = next(self.items)
                except StopIteration:
                    self.exhausted = True
                    return
                except av.FFmpegError as error:
                    log.warning("audio of %s stopped early: %s", self.source, _one_line(error))
                    self.exhausted = True
                    return
            start_s, item = self.peeked
            if start_s >= end_s:
                return
            self.peeked = None
            if self.copy:
                self._mux_packet(container, item)
            else:
                self._encode_frame(container, start_s, item)

    def _mux_packet(self, container, packet) -> None:
        shift = round(self.offset_s / packet.time_base) if self.offset_s else 0
        if shift:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
        packet.stream = self.output
        container.mux(packet)

    def _encode_frame(self, container, start_s: float, frame) -> None:
        rate = self.output.codec_context.sample_rate
        if self.resampler is None:
            self.resampler = av.AudioResampler(
                format="fltp", layout=self.output.codec_context.layout, rate=rate,
                frame_size=self.output.codec_context.frame_size or 1024,
            )
            self.samples_out = max(0, round(start_s * rate))
        frame.pts = None  # the resampler works on samples; timestamps are counted below
        for chunk in self.resampler.resample(frame):
            self._encode_chunk(container, chunk, rate)

    def _encode_chunk(self, container, chunk, rate: int) -> None:
        chunk.pts = self.samples_out
        chunk.time_base = Fraction(1, rate)
        self.samples_out += chunk.samples
        for packet in self.output.encode(chunk):
            container.mux(packet)

    def finish(self, container, end_s: float) -> None:
        """Mux the track up to ``end_s`` and flush the encoder (transcoding only)."""
        self.mux_until(container, end_s)
        if not self.copy and self.output is not None:
            if self.resampler is not None:
                for chunk in self.resampler.resample(None):
                    self._encode_chunk(container, chunk, self.output.codec_context.sample_rate)
            for packet in self.output.encode(None):
                container.mux(packet)

    def close(self) -> None:
        self.container.close()


class VideoWriter:
    """Encode RGB uint8 HWC frames to an H.264 video, atomically.

    Parameters:
        path: output file (.mp4, .mov, .m4v or .mkv). Checked at once: an unwritable folder or unsupported
            extension raises :class:`OutputError` before any encoding.
        fps: frames per second, may be fractional (29.97 or ``Fraction(30000, 1001)``): stored exactly.
        size: (width, height) of the frames; ``None`` takes it from the first frame. Odd sizes are padded
            to even (yuv420p needs them) by repeating the last row/column.
        audio_from: a file whose first audio track is muxed in (AAC copied, else transcoded to AAC),
            trimmed to the video's duration. A file without audio is accepted (no audio, logged); a
            missing or unreadable one raises :class:`InputError` at once.
        crf: x264 constant rate factor (0 lossless .. 51; 18 is visually lossless).
        preset: x264 speed/size trade-off (``ultrafast`` .. ``veryslow``).
        threads: encoder threads (0: FFmpeg's choice from the CPU count).

    Use as a context manager: on normal exit the file is finished and renamed to ``path``; if the block
    raises, the temporary file is deleted and nothing appears at ``path``. Outside ``with``, call
    :meth:`close` (finish) or :meth:`abort` (discard).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float | int | Fraction,
        size: tuple[int, int] | None = None,
        audio_from: str | os.PathLike | None = None,
        crf: int = 18,
        preset: str = "veryfast",
        threads: int = 0,
    ):
        self.path = check_output_path(path, kinds=("video",))
        self.fps = _as_frame_rate(fps)
        self.crf = crf
        self.preset = preset
        self.threads = threads
        self.frames_written = 0
        self.size: tuple[int, int] | None = None
        self._encoded_size: tuple[int, int] | None = None
        self._container = None
        self._stream = None
        self._done = False
        self._audio: _AudioTrack | None = None
        if audio_from is not None:
            source = Path(audio_from).expanduser()
            try:
                self._audio = _AudioTrack(source)
            except IndexError:
                log.info("%s has no audio track; writing %s without audio", source, self.path.name)
        self._output = AtomicOutput(self.path)
        try:
            if size is not None:
                self._open(int(size[0]), int(size[1]))
        except BaseException:
            self.abort()
            raise

    @property
    def has_audio(self) -> bool:
        """Whether the output gets an audio track."""
        return self._audio is not None

    def _open(self, width: int, height: int) -> None:
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        self.size = (width, height)
        self._encoded_size = (width + width % 2, height + height % 2)
        options = {"movflags": "+faststart"} if self.path.suffix.lower() != ".mkv" else {}
        try:
            self._container = av.open(str(self._output.temp_path), mode="w", options=options)
        except (av.FFmpegError, OSError) as error:
            raise OutputError(f"cannot write {self.path}: {_one_line(error)}") from None
        encoder = video_encoder()
        stream = self._container.add_stream(encoder, rate=self.fps)
        stream.width, stream.height = self._encoded_size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1) / self.fps
        stream.codec_context.thread_count = self.threads
        context = stream.codec_context
        context.colorspace = _AVCOL_SPC_BT709
        context.color_primaries = _AVCOL_PRI_BT709
        context.color_trc = _AVCOL_TRC_IEC61966_2_1
        context.color_range = _AVCOL_RANGE_MPEG
        if encoder == "libx264":
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        else:  # no CRF: a generous bit rate (about 0.2 bit per pixel)
            w, h = self._encoded_size
            stream.bit_rate = int(0.2 * w * h * float(self.fps))
        self._stream = stream
        if self._audio is not None:
            self._audio.add_to(self._container)

    def write(self, rgb: np.ndarray) -> None:
        """Encode one frame: RGB uint8 HWC of the writer's size (gray/float/uint16 are converted)."""
        if self._done:
            raise RuntimeError("this VideoWriter is closed")
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3):
            rgb = to_rgb_uint8(rgb)
        height, width = rgb.shape[:2]
        if self._container is None:
            self._open(width, height)
        if (width, height) != self.size:
            w, h = self.size
            raise ValueError(f"frame {self.frames_written} is {width}x{height}; this video is {w}x{h}")
        if self._encoded_size != self.size:
            rgb = np.pad(rgb, ((0, self._encoded_size[1] - height), (0, self._encoded_size[0] - width), (0, 0)),
                         mode="edge")
        frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb), format="yuv420p")
        frame.pts = self.frames_written
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            self.frames_written += 1
            if self._audio is not None:
                self._audio.mux_until(self._container, float(self.frames_written / self.fps))
        except av.FFmpegError as error:
            raise OutputError(f"cannot write {self.path}: {_one_line(error)}") from None

    @property
    def duration(self) -> float:
        """Seconds of video written so far."""
        return float(self.frames_written / self.fps)

    def close(self) -> Path:
        """Finish encoding, add the audio, and move the file to ``path``; returns ``path``.

        Raises :class:`OutputError` if no frame was written (nothing is left at ``path`` then).
        """
        if self._done:
            return self.path
        if self.frames_written == 0:
            self.abort()
            raise OutputError(f"no frames were written; {self.path} was not created")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.finish(self._container, self.duration)
                self._audio.close()
            self._container.close()
        except av.FFmpegError as error:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_one_line(error)}") from None
        except BaseException:
            self.abort()
            raise
        self._done = True
        return self._output.commit()

    def abort(self) -> None:
        """Stop without producing a file: the temporary file is deleted. Safe to call more than once."""
        self._done = True
        for resource in (self._audio, self._container):
            if resource is not None:
                try:
                    resource.close()
                except Exception:  # closing after a failure may fail again; the file goes anyway
                    pass
        if hasattr(self, "_output"):
            self._output.discard()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __del__(self) -> None:
        if not getattr(self, "_done", True):
            log.warning("VideoWriter for %s was never closed; discarding it", getattr(self, "path", "?"))
            self.abort()
