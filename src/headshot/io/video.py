"""Streaming video read and write with PyAV (FFmpeg), one RGB uint8 HWC frame at a time.

The names live in three modules, one role each; import them from here or from there:

- :mod:`headshot.io.video_reader`: :class:`VideoReader` (lazy decoding, rotation, constant-rate grid),
  :class:`Frame`, :func:`read_frames`, :func:`read_frames_at`, :func:`count_frames`, :func:`probe`.
- :mod:`headshot.io.video_writer`: :class:`VideoWriter` (H.264, BT.709, temporary file + rename),
  :func:`rgb_to_yuv420p`, :func:`video_encoder`.
- :mod:`headshot.io.audio_track`: :class:`AudioTrack`, the driver's sound muxed into a writer's output.

:func:`check_input_file` (from :mod:`headshot.io.media`) is the one-line check every reader makes first.
"""

from __future__ import annotations

from .audio_track import AudioTrack
from .media import check_input_file
from .video_reader import Frame, VideoReader, count_frames, probe, read_frames, read_frames_at
from .video_writer import VideoWriter, rgb_to_yuv420p, video_encoder

__all__ = ["AudioTrack", "Frame", "VideoReader", "VideoWriter", "check_input_file", "count_frames", "probe",
           "read_frames", "read_frames_at", "rgb_to_yuv420p", "video_encoder"]
