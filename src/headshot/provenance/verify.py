"""``headshot verify``: is a file marked as made by headshot? Checks the watermark and the C2PA manifest.

Exit codes: 0 = marked (watermark found or a headshot manifest present), 1 = no marks found, 2 = the file
cannot be checked (missing, empty, corrupt, not an image or video).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from .credentials import ManifestReport, read_manifest
from .watermark import DETECT_Z, MIN_DECODE_SIDE, TILE, WatermarkResult, decode_frames

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}
EXIT_MARKED, EXIT_UNMARKED, EXIT_ERROR = 0, 1, 2


class VerifyError(InputError):
    """The file cannot be checked; ``headshot verify`` exits with code 2."""

    exit_code = EXIT_ERROR


@dataclass
class VerifyReport:
    """Result of :func:`verify_file`: the watermark, the manifest, and human-readable ``summary`` lines."""

    path: str
    kind: str  # "video" or "image"
    watermark: WatermarkResult
    manifest: ManifestReport | None
    summary: list[str] = field(default_factory=list)
    frame_size: str = ""  # "WxH" of the (first) frame

    @property
    def marked(self) -> bool:
        """True when the watermark or a headshot manifest was found."""
        return self.watermark.found or (self.manifest is not None and self.manifest.by_headshot)

    @property
    def exit_code(self) -> int:
        return EXIT_MARKED if self.marked else EXIT_UNMARKED

    def to_dict(self) -> dict:
        """JSON-able form (payload as a dict)."""
        data = asdict(self)
        data["marked"] = self.marked
        return data


def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as error:
        raise VerifyError(f"{path.name}: not a readable image ({error.__class__.__name__})") from None


def _video_frames(path: Path, max_frames: int = 48) -> list[np.ndarray]:
    from ..io.video import VideoReader

    try:
        with VideoReader(path, max_frames=max_frames, allow_truncated=True, constant_rate=False) as reader:
            return [frame.rgb for frame in reader]
    except InputError as error:
        reason = str(error).replace(str(path), path.name)
        raise VerifyError(f"{path.name}: not a readable video or image ({reason})") from None


def _is_image(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(16)
    signatures = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
    return head.startswith(signatures) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def verify_file(path: Path) -> VerifyReport:
    """Check a video or image for headshot's watermark and C2PA manifest.

    Returns a :class:`VerifyReport` (``exit_code`` 0 marked / 1 unmarked). Raises :class:`VerifyError`
    (exit code 2) when the file is missing, empty or unreadable.
    """
    path = Path(path)
    if path.is_dir():
        raise VerifyError(f"{path}: is a directory; give a video or image file")
    if not path.is_file():
        raise VerifyError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise VerifyError(f"{path.name}: the file is empty")
    if _is_image(path) or (path.suffix.lower() in IMAGE_SUFFIXES and path.suffix.lower() != ".mp4"):
        kind, frames = "image", [_read_image(path)]
    else:
        kind, frames = "video", _video_frames(path)
    watermark = decode_frames(frames)  # frames too small to search come back with checkable=False
    try:
        manifest = read_manifest(path)
    except InputError:
        manifest = None  # the pixels decoded, so the file is usable; its metadata is not C2PA
    height, width = frames[0].shape[:2]
    report = VerifyReport(str(path), kind, watermark, manifest, frame_size=f"{width}x{height}")
    report.summary = _summary(report)
    return report


def _summary(report: VerifyReport) -> list[str]:
    lines = []
    mark = report.watermark
    if mark.found:
        payload = f"payload: {mark.payload}" if mark.payload else "payload unreadable (file heavily altered)"
        scale = f", at {mark.scale:.0%} of the marked size" if abs(mark.scale - 1) > 1e-3 else ""
        lines.append(f"watermark: FOUND ({payload}; confidence {mark.confidence:.6f}, pilot z {mark.pilot_z:.1f}, "
                     f"{mark.votes}/{mark.frames_checked} frames alone{scale})")
    elif not mark.checkable:
        lines.append(f"watermark: not checked ({report.frame_size} is under {MIN_DECODE_SIDE} px on a side)")
    else:
        lines.append(f"watermark: not found (pilot z {mark.pilot_z:.1f} < {DETECT_Z:.1f} over "
                     f"{mark.frames_checked} frames)")
    manifest = report.manifest
    if manifest is None:
        if mark.found:
            lines.append("content credentials: none (removed, e.g. by re-encoding or a screenshot; "
                         "the watermark still identifies the file)")
        else:
            lines.append("content credentials: none")
    else:
        status = "valid" if manifest.valid else f"INVALID ({', '.join(manifest.errors) or manifest.validation_state})"
        trust = "certificate in a trust list" if manifest.trusted else "self-issued certificate, not in a trust list"
        lines.append(f"content credentials: present, signature {status} "
                     f"(signer {manifest.signer or 'unknown'}; {trust})")
        lines.append(f"  generated by {manifest.generator}; digital source type "
                     f"{(manifest.digital_source_type or 'not stated').rsplit('/', 1)[-1]}")
        if manifest.by_headshot:
            lines.append(f"  source photo sha256 {manifest.source_sha256 or '-'}; "
                         f"driver sha256 {manifest.driver_sha256 or '-'}")
            speech = (manifest.settings or {}).get("speech")
            if isinstance(speech, dict):  # say / --audio: names and hashes, never the words
                if speech.get("text_sha256"):
                    lines.append(f"  speech: voice {speech.get('voice')}, language {speech.get('language')}, "
                                 f"text sha256 {speech['text_sha256']}")
                elif speech.get("audio_sha256"):
                    lines.append(f"  speech: recording sha256 {speech['audio_sha256']}")
            applied = "applied"
            if (manifest.settings or {}).get("watermark_partial"):
                applied = f"applied, partial (output under {TILE} px on a side: it may not be found)"
            lines.append(f"  invisible watermark: {applied if manifest.watermarked else 'disabled (--no-watermark)'}")
    lines.append("result: MARKED as AI-generated by headshot" if report.marked else "result: no headshot marks found")
    return lines
