"""Evaluation inputs: finding videos and portraits, the manifest that fixes frame selection, and the fixed
evaluation crop (frames are decoded by :mod:`headshot.io.video`).

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
from ..face.crop import DEFAULT_SCALE, DEFAULT_SHIFT_UP, CropBox, crop_box, crop_resampled
from ..io.video import count_frames

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MANIFEST_VERSION = 1
# The evaluation crop: 256x256 with the framing of animate, training and fine-tuning (headshot.face.crop:
# 2.0x the landmark box, centre 12% of the face up), so that a model is scored on the crops it was made for.
EVAL_SIZE = 256
EVAL_SCALE = DEFAULT_SCALE
EVAL_SHIFT_UP = DEFAULT_SHIFT_UP


@dataclass
class SelectionSettings:
    """How frames are picked when no manifest is given.

    Attributes:
        max_frames: target frames per clip (self-reenactment, cross-identity, few-shot targets).
        stride: take every ``stride``-th frame (self-reenactment and cross-identity).
        shots: few-shot sizes T; shots come from the first half of a clip, targets from the second.
        fewshot_videos: how many clips (at most one per identity, longest first) the few-shot protocol uses.
        cross_portraits: how many portraits (one per identity) the cross-identity protocol animates.
        max_videos: only the first N clips (sorted by path) in self-reenactment (and turned); ``None`` for all.
        turned_frames: target frames per clip in the turned protocol (see :mod:`headshot.eval.turned`).
        turned_min_yaw: a clip joins the turned protocol when its largest |yaw| reaches this (degrees).
        turned_scan_stride: the turned protocol scans every K-th frame for yaw.
        identities: only these people's clips (and portraits) take part, e.g. a split file's held-out
            identities (``headshot eval --split configs/splits/dev.yaml``: people training never saw);
            ``None`` for everyone.
    """

    max_frames: int = 8
    stride: int = 6
    shots: tuple[int, ...] = (1, 8, 32)
    fewshot_videos: int = 8
    cross_portraits: int = 12
    max_videos: int | None = None
    turned_frames: int = 16
    turned_min_yaw: float = 20.0
    turned_scan_stride: int = 5
    identities: tuple[str, ...] | None = None


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


def item_id(relative: str) -> str:
    """The item name of a video or portrait path relative to the data folder (``videos/a/b.mp4`` -> ``a__b``)."""
    return _item_id(relative)


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


def build_manifest(data_root: Path, settings: SelectionSettings, protocols: list[str],
                   portraits_root: Path | None = None) -> dict:
    """A manifest (see module docstring) for the videos and portraits found under ``data_root``."""
    videos = find_videos(data_root)
    if settings.identities is not None:
        videos = [video for video in videos if video.identity in set(settings.identities)]
    if not videos:
        raise InputError(f"no videos found under {data_root}"
                         + (" for the split's identities" if settings.identities is not None else ""))
    manifest: dict = {"version": MANIFEST_VERSION, "settings": {
        "max_frames": settings.max_frames, "stride": settings.stride, "shots": list(settings.shots),
        "fewshot_videos": settings.fewshot_videos, "cross_portraits": settings.cross_portraits,
        "max_videos": settings.max_videos, "turned_frames": settings.turned_frames,
        "turned_min_yaw": settings.turned_min_yaw, "turned_scan_stride": settings.turned_scan_stride,
        "identities": None if settings.identities is None else sorted(settings.identities)}}
    for video in videos:
        video.frame_count = count_frames(video.path)
    if "self" in protocols:
        manifest["self"] = [
            {"id": _item_id(v.relative), "video": v.relative, "identity": v.identity, "source_frame": 0,
             "frames": [i for i in range(settings.stride, v.frame_count, settings.stride)][:settings.max_frames]}
            for v in videos if v.frame_count > settings.stride][:settings.max_videos]
    if "fewshot" in protocols:
        manifest["fewshot"] = _fewshot_entries(videos, settings)
    if "cross" in protocols:
        portraits_root = Path(portraits_root) if portraits_root else Path(data_root) / "portraits"
        portraits = find_portraits(portraits_root)
        if settings.identities is not None:
            portraits = [p for p in portraits if p[2] in set(settings.identities)]
        manifest["cross"] = _cross_entries(videos, portraits, settings)
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

def eval_crop_box(landmarks: np.ndarray) -> CropBox:
    """The fixed evaluation box from one frame's landmarks (image pixels): :func:`headshot.face.crop.crop_box`
    at ``EVAL_SCALE`` and ``EVAL_SHIFT_UP``, not snapped to pixels. The same box crops the source, every real
    frame and (implicitly) every output; map landmarks with ``box.to_crop(points, EVAL_SIZE)`` and
    ``box.to_image(points, EVAL_SIZE)``."""
    return crop_box(landmarks, EVAL_SCALE, EVAL_SHIFT_UP, snap=False)


def eval_crop(image: np.ndarray, box: CropBox) -> np.ndarray:
    """The ``EVAL_SIZE`` x ``EVAL_SIZE`` crop (RGB uint8) of ``image`` in ``box``; outside the frame the edge
    pixels repeat (:func:`headshot.face.crop.crop_resampled`)."""
    return crop_resampled(image, box, EVAL_SIZE)
