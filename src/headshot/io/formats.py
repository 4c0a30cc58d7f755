"""Which files are images and which are videos: extension tables and cheap content sniffing.

Reading accepts more formats than writing: readers go through Pillow (images) and FFmpeg (videos),
writers only produce the formats listed in ``WRITABLE_EXTENSIONS``.
"""

from __future__ import annotations

import os
from pathlib import Path

# Extensions (lower case, with the dot) we read.
IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm", ".pgm", ".pnm", ".jfif",
)
VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts")

# Extensions we write, per kind of output.
WRITABLE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image": (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"),
    "video": (".mp4", ".mov", ".m4v", ".mkv"),
    "motion": (".motion",),
}

# ISO-BMFF major brands that hold still images (HEIF/AVIF) rather than video.
_STILL_IMAGE_BRANDS = {b"avif", b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis"}


def sniff_kind(path: str | os.PathLike) -> str | None:
    """Guess ``"image"`` or ``"video"`` from a file's first bytes; ``None`` when unknown or unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError:
        return None
    if head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _STILL_IMAGE_BRANDS else "video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free"):  # old QuickTime files without ftyp
        return "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if head.startswith(b"\x00\x00\x01\xba"):  # MPEG program stream
        return "video"
    return None


def _kind_of(path: str | os.PathLike) -> str | None:
    kind = sniff_kind(path)
    if kind is not None:
        return kind
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return None


def is_image_path(path: str | os.PathLike) -> bool:
    """True if ``path`` holds an image: by content when the file exists and is recognised, else by extension."""
    return _kind_of(path) == "image"


def is_video_path(path: str | os.PathLike) -> bool:
    """True if ``path`` holds a video: by content when the file exists and is recognised, else by extension."""
    return _kind_of(path) == "video"
