"""Upload checks for the web app: size, kind by content (never by the name), decodability and duration.

Nothing here imports Gradio: the checks are plain functions on a file path, tested on their own. A file
is accepted only when its first bytes say it is one of the expected kinds *and* it decodes as such (a
photo opens as an image within the pixel limit; a video or recording has a video or audio stream no
longer than the duration limit; a ``.motion`` template loads). Every refusal is an :class:`UploadError`
with one line that says what was wrong and what to upload instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError

KIND_WORDS = {"image": "an image (JPEG, PNG, WebP)", "video": "a video (MP4, MOV, WebM, MKV, AVI)",
              "audio": "a recording (WAV, MP3, M4A, OGG, FLAC, or a video with sound)",
              "motion": "a headshot .motion template"}


class UploadError(InputError):
    """An upload that is refused: too large, too long, of the wrong kind, or not decodable."""


@dataclass(frozen=True)
class UploadLimits:
    """What the app accepts: ``max_bytes`` per file, ``max_seconds`` of video or audio, ``max_pixels`` of a photo."""

    max_bytes: int = 50 * 1024 * 1024
    max_seconds: float = 60.0
    max_pixels: int = 40_000_000

    @property
    def size_text(self) -> str:
        """The byte limit for people: ``"50 MB"``."""
        return f"{self.max_bytes / 1e6:.0f} MB" if self.max_bytes >= 1e6 else f"{self.max_bytes / 1e3:.0f} kB"


@dataclass(frozen=True)
class Upload:
    """An accepted upload: its ``path``, ``kind`` (image, video, audio, motion) and ``seconds`` (0 for stills)."""

    path: Path
    kind: str
    seconds: float = 0.0


def sniff(head: bytes) -> str | None:
    """The kind of a file from its first bytes (at least 16): ``image``, ``video``, ``audio``, ``motion`` or ``None``.

    MP4/MOV (``ftyp``) is a video unless its brand says audio only (``M4A``); a WAV/MP3/OGG/FLAC is audio.
    """
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")):
        return "image"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image", b"WAVE": "audio", b"AVI ": "video"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        return "audio" if head[8:12] in (b"M4A ", b"M4B ") else "video"
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # Matroska / WebM
        return "video"
    if head.startswith((b"ID3", b"OggS", b"fLaC")) or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "audio"
    if head.startswith(b"PK\x03\x04"):  # a zip: only a .motion template is one we take (checked by loading it)
        return "motion"
    return None


def check_upload(path, expected: tuple[str, ...], limits: UploadLimits = UploadLimits(), what: str = "file"
                 ) -> Upload:
    """Accept ``path`` as one of the ``expected`` kinds, or raise :class:`UploadError` (one line).

    ``what`` names the input in messages ("photo", "driver"). A video stands in for ``audio`` when it has a
    sound track (a phone recording is often an MP4).
    """
    path = Path(path)
    wanted = " or ".join(KIND_WORDS[kind] for kind in expected)
    if not path.is_file():
        raise UploadError(f"the {what} did not arrive; upload it again")
    size = path.stat().st_size
    if size == 0:
        raise UploadError(f"the {what} is empty; upload {wanted}")
    if size > limits.max_bytes:
        raise UploadError(f"the {what} is {size / 1e6:.1f} MB, over the {limits.size_text} limit; upload a smaller file")
    with open(path, "rb") as handle:
        kind = sniff(handle.read(16))
    if kind == "video" and "video" not in expected and "audio" in expected:
        kind = "audio"  # decoded below: it must have a sound track
    if kind not in expected:
        found = {"image": "an image", "video": "a video", "audio": "a recording", "motion": "a zip file"}.get(
            kind, "not an image, video or recording")
        raise UploadError(f"the {what} is {found} (judged by its content, not its name); upload {wanted}")
    seconds = _decode_check(path, kind, limits, what)
    return Upload(path, kind, seconds)


def _decode_check(path: Path, kind: str, limits: UploadLimits, what: str) -> float:
    """Open the file as ``kind``; returns its duration in seconds (0 for stills)."""
    if kind == "image":
        from PIL import Image

        Image.MAX_IMAGE_PIXELS = None  # our own limit below, with a clear message
        try:
            with Image.open(path) as image:
                width, height = image.size
                if width * height > limits.max_pixels:
                    raise UploadError(f"the {what} is {width}x{height} pixels, over the "
                                      f"{limits.max_pixels / 1e6:.0f} megapixel limit")
                image.verify()
        except UploadError:
            raise
        except Exception:
            raise UploadError(f"the {what} looks like an image but cannot be read (damaged or cut short)") from None
        return 0.0
    if kind == "motion":
        from ..motion.template import MotionTemplate

        try:
            template = MotionTemplate.load(path)
        except InputError:
            raise UploadError(f"the {what} is a zip file but not a headshot .motion template") from None
        seconds = len(template.landmarks) / template.fps
        if seconds > limits.max_seconds:
            raise UploadError(f"the {what} is {seconds:.0f} s of motion, over the {limits.max_seconds:.0f} s limit")
        return float(seconds)
    return _media_seconds(path, kind, limits, what)


def _media_seconds(path: Path, kind: str, limits: UploadLimits, what: str) -> float:
    import av

    try:
        with av.open(str(path)) as container:
            streams = container.streams.video if kind == "video" else container.streams.audio
            if not streams:
                track = "picture" if kind == "video" else "sound track"
                raise UploadError(f"the {what} has no {track}; upload {KIND_WORDS[kind]}")
            stream = streams[0]
            seconds = 0.0
            if container.duration:
                seconds = container.duration / 1e6
            elif stream.duration and stream.time_base:
                seconds = float(stream.duration * stream.time_base)
            next(container.decode(stream), None)  # the first frame must decode
    except UploadError:
        raise
    except Exception:
        raise UploadError(f"the {what} looks like {KIND_WORDS[kind].split(' (')[0]} but cannot be decoded "
                          f"(damaged or an unsupported codec)") from None
    if seconds > limits.max_seconds:
        raise UploadError(f"the {what} is {seconds:.0f} s long, over the {limits.max_seconds:.0f} s limit; "
                          f"trim it and upload again")
    return seconds
