"""Streaming audio decode with PyAV (FFmpeg): any file with an audio track in, mono float32 chunks out.

- :class:`AudioReader` iterates a file's first audio track as mono float32 chunks in [-1, 1] at a chosen
  sample rate (16 kHz by default, what speech recognition wants), resampled by FFmpeg's libswresample.
  Memory does not grow with the recording's length: an hour of audio is read one chunk at a time.
- :func:`read_audio` returns a whole (short) recording as one array.

Works for WAV, MP3, M4A/AAC, FLAC, Ogg, and MP4/MOV/MKV videos with an audio track. Sample ``i`` is at
``i / sample_rate`` seconds on the timeline :class:`~headshot.io.video.VideoWriter` uses when it muxes the
same file's audio: from the first video frame in a video, from 0 in an audio-only file. Unreadable inputs
raise :class:`~headshot.errors.InputError` with a one-line message.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from ..errors import InputError

__all__ = ["AudioReader", "read_audio"]

log = logging.getLogger(__name__)


def _ffmpeg_message(error: BaseException) -> str:
    """FFmpeg's own words for an error, on one line (without the errno and the file name)."""
    if isinstance(error, av.FFmpegError) and error.strerror:
        return str(error.strerror)
    return " ".join(str(error).split()) or type(error).__name__


def _check_input_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"audio file not found: {path}")
    if path.is_dir():
        raise InputError(f"expected an audio file, got a folder: {path}")
    if path.stat().st_size == 0:
        raise InputError(f"audio file is empty: {path}")


class AudioReader:
    """Decode the first audio track of a file as mono float32 chunks.

    Iterating yields 1-D float32 arrays in [-1, 1] (channels averaged) of ``chunk_seconds * sample_rate``
    samples each, the last one shorter. The reader is single-pass: open a new one to read again.

    Parameters:
        path: any file FFmpeg reads with an audio track (wav, mp3, m4a, mp4/mov with sound, ...).
        sample_rate: output samples per second.
        chunk_seconds: length of each yielded chunk in seconds.

    Raises :class:`InputError` (one line) for a missing, empty, corrupt or unsupported file, a file with
    no audio track, or one whose audio track has no samples. A decode error after the first samples ends
    the iteration early with a ``logging`` warning instead of raising.

    Attributes:
        sample_rate: output rate (Hz).
        source_rate: the track's own sample rate (Hz).
        channels: the track's channel count (averaged into one).
        codec: the track's decoder name (``"aac"``, ``"mp3"``, ``"pcm_s16le"``, ...).
        duration: seconds of audio the container states (an estimate for files without an index, such
            as raw MP3); ``samples_read`` counts what was actually decoded so far.
        has_video: whether the file also has a video stream.
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int = 16000, chunk_seconds: float = 1.0):
        if sample_rate < 1000:
            raise ValueError(f"sample_rate must be at least 1000 Hz, got {sample_rate}")
        if chunk_seconds <= 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        self.path = Path(path).expanduser()
        self.sample_rate = int(sample_rate)
        self.chunk_size = max(1, round(chunk_seconds * sample_rate))
        self.samples_read = 0
        self._started = False
        self._closed = False
        _check_input_file(self.path)
        try:
            self._container = av.open(str(self.path), mode="r", metadata_errors="replace")
        except av.FFmpegError as error:
            raise InputError(
                f"cannot read audio {self.path}: corrupt or unsupported ({_ffmpeg_message(error)})") from None
        except OSError as error:
            raise InputError(f"cannot read audio {self.path}: {error.strerror or error}") from None
        try:
            self._setup()
        except BaseException:
            self._container.close()
            raise

    def _setup(self) -> None:
        container = self._container
        if not container.streams.audio:
            kind = "video" if container.streams.video else "file"
            raise InputError(f"{self.path} has no audio track (a {kind} without sound); use a recording with speech")
        stream = container.streams.audio[0]
        self._stream = stream
        self.codec = stream.codec_context.name
        self.source_rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        self.channels = int(stream.codec_context.channels or 1)
        self.has_video = bool(container.streams.video)
        self.duration = self._stated_duration(container, stream)
        # Time 0 is the first video frame in a video (as in VideoReader and VideoWriter's audio muxing),
        # else the audio's own start: a track starting late gets leading silence, an early one is cut.
        video = container.streams.video[0] if self.has_video else None
        if video is not None and video.start_time is not None:
            self._origin_s = float(video.start_time * video.time_base)
        else:
            self._origin_s = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        # fltp keeps the channels apart (averaged below): libswresample's own downmix may exceed [-1, 1].
        self._resampler = av.AudioResampler(format="fltp", rate=self.sample_rate)
        self._frames = self._decoded_frames()
        self._pending: list[np.ndarray] = []  # decoded samples not yet yielded
        self._pending_size = 0
        self._skip = 0  # samples still to drop at the start (a track that starts before time 0)
        self._limit = self._end_sample(container, stream)
        self._first_decoded = False
        if not self._fill(1):
            raise InputError(f"{self.path} has an audio track but no audio samples")

    def _end_sample(self, container, stream) -> int | None:
        """Output samples the track holds by the container's index, or None when it has no exact one.

        MP4/MOV store the exact length of the audio; the decoder still outputs its last frame whole (up to
        1024 AAC samples of padding), which would make the audio outlast the video.
        """
        if "mp4" not in container.format.name or not stream.duration or stream.duration <= 0:
            return None
        start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
        return round((start + float(stream.duration * stream.time_base) - self._origin_s) * self.sample_rate)

    @staticmethod
    def _stated_duration(container, stream) -> float:
        if stream.duration is not None and stream.duration > 0:
            return float(stream.duration * stream.time_base)
        if container.duration is not None and container.duration > 0:
            return container.duration / av.time_base
        return 0.0

    def _decoded_frames(self) -> Iterator[av.AudioFrame]:
        for packet in self._container.demux(self._stream):
            yield from packet.decode()  # the last, empty packet flushes the decoder

    def _mono(self, frame: av.AudioFrame) -> np.ndarray:
        planes = frame.to_ndarray()  # (channels, samples) float32
        mono = planes[0] if planes.shape[0] == 1 else planes.mean(axis=0)
        return np.clip(mono, -1.0, 1.0, out=mono).astype(np.float32, copy=False)

    def _start_offset(self, frame: av.AudioFrame) -> None:
        """Pad or trim the start so that sample 0 is at time 0 of the file's timeline."""
        self._first_decoded = True
        if frame.pts is None or frame.time_base is None:
            return
        offset = round((float(frame.pts * frame.time_base) - self._origin_s) * self.sample_rate)
        if offset > 0:
            self._push(np.zeros(offset, np.float32))
        elif offset < 0:
            self._skip = -offset

    def _push(self, samples: np.ndarray) -> None:
        if self._skip:
            dropped = min(self._skip, len(samples))
            samples, self._skip = samples[dropped:], self._skip - dropped
        if self._limit is not None:
            samples = samples[: max(0, self._limit - self.samples_read - self._pending_size)]
        if len(samples):
            self._pending.append(samples)
            self._pending_size += len(samples)

    def _fill(self, wanted: int) -> bool:
        """Decode until ``wanted`` samples are pending or the track ends; True if any are pending."""
        while self._pending_size < wanted and self._frames is not None:
            if self._limit is not None and self.samples_read + self._pending_size >= self._limit:
                break
            try:
                frame = next(self._frames)
            except StopIteration:
                self._frames = None
                self._resample(None)
                break
            except (av.FFmpegError, OSError) as error:
                if not self._first_decoded:
                    raise InputError(f"cannot decode audio of {self.path}: {_ffmpeg_message(error)}") from None
                log.warning("stopped decoding audio of %s after %.1f s: %s", self.path,
                            (self.samples_read + self._pending_size) / self.sample_rate, _ffmpeg_message(error))
                self._frames = None
                break
            if not self._first_decoded:
                self._start_offset(frame)
            self._resample(frame)
        return self._pending_size > 0

    def _resample(self, frame: av.AudioFrame | None) -> None:
        try:
            for out in self._resampler.resample(frame):
                self._push(self._mono(out))
        except (av.FFmpegError, ValueError) as error:
            # A mid-stream change of layout or rate (rare; some broadcast streams) ends the read here.
            log.warning("stopped decoding audio of %s: %s", self.path, _ffmpeg_message(error))
            self._frames = None

    def _take(self, count: int) -> np.ndarray:
        joined = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        chunk, rest = joined[:count], joined[count:]
        self._pending = [rest] if len(rest) else []
        self._pending_size = len(rest)
        self.samples_read += len(chunk)
        return np.ascontiguousarray(chunk)

    def __iter__(self) -> Iterator[np.ndarray]:
        if self._started:
            raise RuntimeError("an AudioReader can be iterated once; open a new one to read again")
        if self._closed:
            raise RuntimeError("this AudioReader is closed")
        self._started = True
        return self._chunks()

    def _chunks(self) -> Iterator[np.ndarray]:
        while not self._closed and self._fill(self.chunk_size):
            yield self._take(self.chunk_size)

    def close(self) -> None:
        """Release the file and decoder. Safe to call more than once."""
        if not self._closed:
            self._closed = True
            self._frames = None
            self._pending = []
            self._container.close()

    def __enter__(self) -> "AudioReader":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"AudioReader({str(self.path)!r}, {self.codec}, {self.source_rate} Hz x {self.channels} -> "
                f"{self.sample_rate} Hz mono, {self.duration:.2f} s)")


def read_audio(path: str | os.PathLike, sample_rate: int = 16000) -> np.ndarray:
    """The whole first audio track of ``path`` as one mono float32 array in [-1, 1] at ``sample_rate``.

    Meant for short recordings (an hour at 16 kHz is 230 MB); iterate :class:`AudioReader` for long ones.
    Raises :class:`InputError` like :class:`AudioReader`.
    """
    with AudioReader(path, sample_rate=sample_rate, chunk_seconds=10.0) as reader:
        chunks = list(reader)
    return np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
