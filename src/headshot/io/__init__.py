"""Streaming image and video I/O: RGB uint8 HWC arrays in and out, outputs written atomically.

- :mod:`headshot.io.atomic`: ``check_output_path``, ``atomic_output``, ``AtomicOutput``, ``atomic_write_bytes``,
  ``atomic_write_text``.
- :mod:`headshot.io.formats`: ``IMAGE_EXTENSIONS``, ``VIDEO_EXTENSIONS``, ``is_image_path``, ``is_video_path``.
- :mod:`headshot.io.images`: ``read_image``, ``read_image_rgba``, ``write_image``, ``to_rgb_uint8``.
- :mod:`headshot.io.video`: ``VideoReader``, ``VideoWriter``, ``Frame``, ``probe``, ``read_frames`` (from
  ``video_reader``, ``video_writer`` and ``audio_track``, one role each; ``media`` opens files for them).

The video names are imported on first use so that ``import headshot.io`` does not load FFmpeg.
"""

from __future__ import annotations

from .atomic import AtomicOutput, atomic_output, atomic_write_bytes, atomic_write_text, check_output_path
from .formats import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_image_path, is_video_path
from .images import read_image, read_image_rgba, to_rgb_uint8, write_image

_VIDEO_NAMES = ("VideoReader", "VideoWriter", "Frame", "probe", "read_frames", "video_encoder")

__all__ = [
    "AtomicOutput",
    "atomic_output",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_output_path",
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "is_image_path",
    "is_video_path",
    "read_image",
    "read_image_rgba",
    "to_rgb_uint8",
    "write_image",
    *_VIDEO_NAMES,
]


def __getattr__(name: str):
    if name in _VIDEO_NAMES:
        from . import video

        return getattr(video, name)
    raise AttributeError(f"module 'headshot.io' has no attribute {name!r}")
