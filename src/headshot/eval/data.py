"""Evaluation inputs: finding videos and portraits, the manifest that fixes frame selection, frame reading
and the fixed evaluation crop.

A **manifest** (JSON) lists, per protocol, which clips and which frame indices are used, so that a run
can be repeated exactly::

    {"version": 1,
     "self":    [{"id": ..., "video": "videos/a.mp4", "identity": "a", "source_frame": 0, "frames": [4, 8]}],
     "fewshot": [{"id": ..., "video": ..., "identity": ..., "shots": [0, 10, ...], "targets": [200, ...]}],
     "cross":   [{"id": ..., "portrait": "portraits/p.jpg", "identity": "p", "driver": "videos/b.mp4",
                  "driver_identity": "b", "frames": [0, 4, ...]}]}

Paths are relative to the data folder. Videos may be flat (``<identity>__<rest>.mp4``) or VoxCeleb-style
(``<identity>/<video>/<clip>.mp4``); portraits are flat image files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MANIFEST_VERSION = 1
EVAL_SIZE = 256


@dataclass
class SelectionSettings:
    """How frames are picked when no manifest is given.

    Attributes:
        max_frames: target frames per clip (self-reenactment, cross-identity, few-shot targets).
        stride: take every ``stride``-th frame (self-reenactment and cross-identity).
        shots: few-shot sizes T; shots come from the first half of a clip, targets from the second.
        fewshot_videos: how many clips (at most one per identity, longest first) the few-shot protocol uses.
        cross_portraits: how many portraits (one per identity) the cross-identity protocol animates.
        max_videos: only the first N clips (sorted by path) in self-reenactment; ``None`` for all.
    """

    max_frames: int = 8
    stride: int = 6
    shots: tuple[int, ...] = (1, 8, 32)
    fewshot_videos: int = 8
    cross_portraits: int = 12
    max_videos: int | None = None


@dataclass
class VideoEntry:
    path: Path
    relative: str
    identity: str
    frame_count: int = 0


def _identity_of(relative: Path) -> str:
    if len(relative.parts) >= 3:  # VoxCeleb-style id/video/clip.mp4
        return relative.parts[0]
    return relative.stem.split("__")[0]


def _item_id(relative: str) -> str:
    stem = relative.rsplit(".", 1)[0]
    for prefix in ("videos/", "portraits/"):
        stem = stem.removeprefix(prefix)
    return stem.replace("/", "__")


def find_videos(data_root: Path) -> list[VideoEntry]:
    """Videos under ``data_root/videos`` (or ``data_root`` itself), sorted by path."""
    data_root = Path(data_root)
    folder = data_root / "videos" if (data_root / "videos").is_dir() else data_root
    if not folder.is_dir():
        raise InputError(f"data folder not found: {data_root}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    return [VideoEntry(p, p.relative_to(data_root).as_posix(), _identity_of(p.relative_to(folder))) for p in paths]


def find_portraits(portraits_root: Path) -> list[tuple[Path, str, str]]:
    """``(path, relative-to-parent path, identity)`` of the images in ``portraits_root``, sorted."""
    portraits_root = Path(portraits_root)
    if not portraits_root.is_dir():
        return []
    paths = sorted(p for p in portraits_root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    return [(p, p.relative_to(portraits_root.parent).as_posix(), p.stem.split("__")[0]) for p in paths]


def frame_count(path: Path) -> int:
    """Number of video frames (container metadata, or counted by decoding when it is missing)."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            return sum(1 for _ in container.decode(stream))
    except (av.error.FFmpegError, IndexError) as error:
        raise InputError(f"cannot read video {path}: {error}") from None


def read_frames(path: Path, indices) -> dict[int, np.ndarray]:
    """The frames at ``indices`` (RGB uint8 HWC) of a video, decoded in one pass; missing ones omitted."""
    import av

    wanted = set(int(i) for i in indices)
    if not wanted:
        return {}
    last = max(wanted)
    frames: dict[int, np.ndarray] = {}
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for index, frame in enumerate(container.decode(stream)):
                if index in wanted:
                    frames[index] = frame.to_ndarray(format="rgb24")
                if index >= last:
                    break
    except (av.error.FFmpegError, IndexError) as error:
        raise InputError(f"cannot read video {path}: {error}") from None
    return frames


def read_image(path: Path) -> np.ndarray:
    """An image file as RGB uint8 HWC (EXIF orientation applied)."""
    from PIL import Image, ImageOps

    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except OSError as error:
        raise InputError(f"cannot read image {path}: {error}") from None


def build_manifest(data_root: Path, settings: SelectionSettings, protocols: list[str],
                   portraits_root: Path | None = None) -> dict:
    """A manifest (see module docstring) for the videos and portraits found under ``data_root``."""
    videos = find_videos(data_root)
    if not videos:
        raise InputError(f"no videos found under {data_root}")
    manifest: dict = {"version": MANIFEST_VERSION, "settings": {
        "max_frames": settings.max_frames, "stride": settings.stride, "shots": list(settings.shots),
        "fewshot_videos": settings.fewshot_videos, "cross_portraits": settings.cross_portraits,
        "max_videos": settings.max_videos}}
    for video in videos:
        video.frame_count = frame_count(video.path)
    if "self" in protocols:
        manifest["self"] = [
            {"id": _item_id(v.relative), "video": v.relative, "identity": v.identity, "source_frame": 0,
             "frames": [i for i in range(settings.stride, v.frame_count, settings.stride)][:settings.max_frames]}
            for v in videos if v.frame_count > settings.stride][:settings.max_videos]
    if "fewshot" in protocols:
        manifest["fewshot"] = _fewshot_entries(videos, settings)
    if "cross" in protocols:
        portraits_root = Path(portraits_root) if portraits_root else Path(data_root) / "portraits"
        manifest["cross"] = _cross_entries(videos, find_portraits(portraits_root), settings)
    return manifest


def _evenly(start: int, stop: int, count: int) -> list[int]:
    """``count`` distinct indices spread evenly over ``[start, stop)``."""
    count = max(0, min(count, stop - start))
    if count == 0:
        return []
    return sorted({int(round(x)) for x in np.linspace(start, stop - 1, count)})


def _fewshot_entries(videos: list[VideoEntry], settings: SelectionSettings) -> list[dict]:
    largest = max(settings.shots)
    by_identity: dict[str, VideoEntry] = {}
    for video in sorted(videos, key=lambda v: -v.frame_count):
        if video.frame_count >= 2 * max(largest, settings.max_frames) and video.identity not in by_identity:
            by_identity[video.identity] = video
    chosen = sorted(by_identity.values(), key=lambda v: v.relative)[:settings.fewshot_videos]
    entries = []
    for video in chosen:
        half = video.frame_count // 2
        entries.append({"id": _item_id(video.relative), "video": video.relative, "identity": video.identity,
                        "shots": _evenly(0, half, largest),
                        "targets": _evenly(half, video.frame_count, settings.max_frames)})
    return entries


def _cross_entries(videos: list[VideoEntry], portraits, settings: SelectionSettings) -> list[dict]:
    first_of_identity: dict[str, tuple[Path, str, str]] = {}
    for portrait in portraits:
        first_of_identity.setdefault(portrait[2], portrait)
    chosen = list(first_of_identity.values())[:settings.cross_portraits]
    entries = []
    usable = [v for v in videos if v.frame_count > 1]
    for index, (_, relative, identity) in enumerate(chosen):
        # A deterministic driver of another identity, spread over the clip list.
        for step in range(len(usable)):
            driver = usable[(index * 7 + step) % len(usable)]
            if driver.identity != identity:
                break
        else:
            continue
        frames = list(range(0, driver.frame_count, settings.stride))[:settings.max_frames]
        entries.append({"id": _item_id(relative) + "__by__" + _item_id(driver.relative).split("/")[-1],
                        "portrait": relative, "identity": identity, "driver": driver.relative,
                        "driver_identity": driver.identity, "frames": frames})
    return entries


def load_manifest(path: Path) -> dict:
    """Read and check a manifest JSON file."""
    path = Path(path)
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"cannot read manifest {path}: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != MANIFEST_VERSION:
        raise InputError(f"{path} is not a headshot eval manifest (version {MANIFEST_VERSION})")
    return manifest


# --- The evaluation crop --------------------------------------------------------------------------------

@dataclass(frozen=True)
class CropBox:
    """A square box ``(x0, y0, side)`` in pixels of the full frame, mapped to ``size`` x ``size``."""

    x0: float
    y0: float
    side: float
    size: int = EVAL_SIZE

    @property
    def scale(self) -> float:
        return self.size / self.side

    def matrix(self) -> np.ndarray:
        """2x3 affine matrix from frame pixels to crop pixels."""
        s = self.scale
        return np.array([[s, 0.0, -self.x0 * s], [0.0, s, -self.y0 * s]], np.float64)

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The crop (RGB uint8 ``size`` x ``size``); outside the frame is filled by edge replication."""
        import cv2

        return cv2.warpAffine(image, self.matrix(), (self.size, self.size), flags=cv2.INTER_AREA
                              if self.scale < 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    def to_crop(self, landmarks: np.ndarray) -> np.ndarray:
        """Landmarks ``(478, 3)`` from frame pixels to crop pixels (z scaled like x)."""
        out = np.array(landmarks, np.float32, copy=True)
        out[:, 0] = (out[:, 0] - self.x0) * self.scale
        out[:, 1] = (out[:, 1] - self.y0) * self.scale
        out[:, 2] = out[:, 2] * self.scale
        return out

    def to_frame(self, landmarks: np.ndarray) -> np.ndarray:
        """Landmarks from crop pixels back to frame pixels."""
        out = np.array(landmarks, np.float32, copy=True)
        out[:, 0] = out[:, 0] / self.scale + self.x0
        out[:, 1] = out[:, 1] / self.scale + self.y0
        out[:, 2] = out[:, 2] / self.scale
        return out


def eval_crop_box(landmarks: np.ndarray, size: int = EVAL_SIZE, zoom: float = 1.8) -> CropBox:
    """The fixed evaluation box from one frame's landmarks: a square of ``zoom`` x the landmark box's larger
    side, centred on the landmark box and shifted up by 10% of the face size (hair and forehead above the
    mesh). The same box crops the source, every real frame and (implicitly) every output."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    face = max(x1 - x0, y1 - y0)
    side = zoom * face
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.1 * face
    return CropBox(float(cx - side / 2), float(cy - side / 2), float(side), size)
