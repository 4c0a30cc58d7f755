"""Streaming video encoding with PyAV (FFmpeg): RGB uint8 HWC frames in, an H.264 file out, atomically.

:class:`VideoWriter` encodes H.264 (yuv420p, BT.709, ``+faststart``) into a hidden temporary file and
renames it into place on :meth:`VideoWriter.close`, optionally with the audio track of another file
(:class:`~headshot.io.audio_track.AudioTrack`: copied when it is AAC, else transcoded to AAC) trimmed to the
video's duration. :func:`rgb_to_yuv420p` is its colour conversion; :func:`video_encoder` names its encoder.
"""

from __future__ import annotations

import functools
import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from ..errors import OutputError
from .atomic import AtomicOutput, check_output_path
from .audio_track import AudioTrack
from .images import to_rgb_uint8
from .media import ffmpeg_message

__all__ = ["VideoWriter", "rgb_to_yuv420p", "video_encoder"]

log = logging.getLogger(__name__)

# Frames are converted RGB -> Y'CbCr with the BT.709 matrix, limited range (ITU-R BT.709-6, table 3),
# and the stream is tagged so that players use the same matrix.
_AVCOL_SPC_BT709 = 1
_AVCOL_PRI_BT709 = 1
_AVCOL_TRC_IEC61966_2_1 = 13  # sRGB transfer: our frames are sRGB images
_AVCOL_RANGE_MPEG = 1  # limited range, what yuv420p players expect


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
        self._audio: AudioTrack | None = None
        if audio_from is not None:
            source = Path(audio_from).expanduser()
            try:
                self._audio = AudioTrack(source)
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
            raise OutputError(f"cannot write {self.path}: {ffmpeg_message(error)}") from None
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
            raise OutputError(f"cannot write {self.path}: {ffmpeg_message(error)}") from None

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
            raise OutputError(f"cannot write {self.path}: {ffmpeg_message(error)}") from None
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
