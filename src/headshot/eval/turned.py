"""The turned-source protocol (``headshot eval --protocol turned``) and identity by yaw change.

**Turned protocol.** Self-reenactment with the clip's *most turned* frame as the source: what a 3/4-view
portrait gives an engine. Every clip is scanned once (every ``turned_scan_stride``-th frame, the landmarker in
image mode, yaw from its head-pose matrix by :func:`headshot.eval.metrics.euler_angles`); a clip qualifies when
its largest |yaw| reaches ``turned_min_yaw`` (20°). Its source is that frame; ``turned_frames`` targets come
from the rest of the clip (frames within ``turned_scan_stride`` of the source excluded), spread evenly over the
range of |yaw change from the source| (:func:`spread_by_value`), so that large turns, rare in a clip, are as well
represented as small ones; they are scored in time order. Everything else is self-reenactment (the same rows, from the template and from driver pixels, metrics,
baselines, background L1); the motion bins are yaw-change buckets (:data:`YAW_BUCKETS`), and the contact sheet
shows the frames at several yaw changes. The scan is cached in ``<run>/cache/yaw/`` (per clip, keyed by the
file's size and time and the stride); a run's ``manifest.json`` fixes the selection for later runs.

**Identity by yaw change** (self-reenactment and turned): CSIM pooled over frames bucketed by |yaw of the real
(driver) frame − yaw of the source|, each measured on the evaluation crops.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ..io.atomic import atomic_write_text
from .markdown import binned_table
from .pooling import mean, row_keys

YAW_BUCKETS = (0.0, 10.0, 20.0, 30.0, math.inf)
# The frames each item records in ``ItemResult.context``: the source's yaw and per scored frame |Δyaw|.
YAW_CHANGE = "yaw_change"


def yaw_track(path: Path, stride: int, analyzer) -> list[tuple[int, float]]:
    """``[(frame index, yaw in degrees), ...]`` of every ``stride``-th frame of a video with a face (indices
    count decoded frames like :func:`headshot.io.video.read_frames_at`)."""
    from ..io.video_reader import VideoReader
    from .metrics import euler_angles

    track = []
    with VideoReader(path, constant_rate=False) as reader:
        for frame in reader:
            if frame.index % stride:
                continue
            faces = analyzer.detect(frame.rgb)
            if faces:
                track.append((frame.index, round(float(euler_angles(faces[0].pose_matrix)[0]), 2)))
    return track


def cached_yaw_track(path: Path, key: str, stride: int, analyzer, cache: Path | None) -> list[tuple[int, float]]:
    """:func:`yaw_track`, read from / written to ``cache/<key>.json`` when ``cache`` is given."""
    stat = Path(path).stat()
    stamp = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "stride": stride, "version": 1}
    file = Path(cache) / f"{key}.json" if cache is not None else None
    if file is not None and file.is_file():
        try:
            stored = json.loads(file.read_text())
            if stored.get("stamp") == stamp:
                return [(int(i), float(y)) for i, y in stored["track"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass
    track = yaw_track(path, stride, analyzer)
    if file is not None:
        atomic_write_text(file, json.dumps({"stamp": stamp, "track": track}), make_folders=True)
    return track


def turned_entry(item_id: str, relative: str, identity: str, track: list[tuple[int, float]], settings) -> dict | None:
    """The manifest entry of one clip from its yaw track, or ``None`` when its largest |yaw| stays below
    ``settings.turned_min_yaw`` or too few frames are left to drive it."""
    if not track:
        return None
    indices = np.array([i for i, _ in track])
    yaws = np.array([y for _, y in track])
    best = int(np.argmax(np.abs(yaws)))
    if abs(yaws[best]) < settings.turned_min_yaw:
        return None
    source, source_yaw = int(indices[best]), float(yaws[best])
    keep = np.abs(indices - source) > settings.turned_scan_stride
    if keep.sum() < 2:
        return None
    candidates, changes = indices[keep], np.abs(yaws[keep] - source_yaw)
    picks = spread_by_value(changes, settings.turned_frames)
    return {"id": item_id, "video": relative, "identity": identity, "source_frame": source,
            "source_yaw": round(source_yaw, 2), "max_abs_yaw": round(abs(source_yaw), 2),
            "frames": sorted(int(i) for i in candidates[picks])}


def spread_by_value(values: np.ndarray, count: int) -> list[int]:
    """Positions of up to ``count`` of ``values`` spread evenly over their range (for each of ``count`` evenly
    spaced levels from the smallest to the largest value, the nearest value not taken yet): large yaw changes,
    rare in a clip, get as many frames as small ones."""
    values = np.asarray(values, np.float64)
    count = min(count, len(values))
    taken: list[int] = []
    free = np.ones(len(values), bool)
    for level in np.linspace(values.min(), values.max(), count):
        distance = np.where(free, np.abs(values - level), np.inf)
        position = int(np.argmin(distance))
        free[position] = False
        taken.append(position)
    return taken


def turned_entries(videos, settings, cache: Path | None, item_id, progress=None) -> list[dict]:
    """Manifest entries of the turned protocol over ``videos`` (:class:`headshot.eval.data.VideoEntry`),
    sorted by path, at most ``settings.max_videos``; ``item_id(relative)`` names an item."""
    from ..face.landmarker import FaceAnalyzer

    entries = []
    analyzer = FaceAnalyzer(video=False, max_faces=1)
    try:
        for video in videos:
            key = item_id(video.relative)
            if progress is not None:
                progress(f"turned scan: {key[:40]}")
            track = cached_yaw_track(video.path, key, settings.turned_scan_stride, analyzer, cache)
            entry = turned_entry(key, video.relative, video.identity, track, settings)
            if entry is not None:
                entries.append(entry)
            if settings.max_videos is not None and len(entries) >= settings.max_videos:
                break
    finally:
        analyzer.close()
    return entries


# --- Identity by yaw change -----------------------------------------------------------------------------

def yaw_context(source_angles: np.ndarray, real_angles: list[np.ndarray]) -> dict:
    """What an item records for the yaw tables: the source's yaw and |Δyaw| of each scored frame (degrees)."""
    source_yaw = float(source_angles[0])
    return {"source_yaw": round(source_yaw, 2),
            YAW_CHANGE: [round(abs(float(a[0]) - source_yaw), 2) for a in real_angles]}


def by_yaw_change(results, protocol: str, metric: str = "csim") -> dict | None:
    """``metric`` per row of ``protocol`` pooled over frames bucketed by |yaw change| (:data:`YAW_BUCKETS`);
    ``None`` when no item recorded yaw changes."""
    chosen = [r for r in results if r.protocol == protocol and not r.skipped and YAW_CHANGE in (r.context or {})]
    if not chosen:
        return None
    change = np.concatenate([np.asarray(r.context[YAW_CHANGE], np.float64) for r in chosen])
    bins = list(zip(YAW_BUCKETS[:-1], YAW_BUCKETS[1:]))
    masks = [(change >= low) & (change < high) for low, high in bins]
    table = {}
    for key in row_keys(results, protocol):
        values = np.concatenate([np.asarray(r.rows[key]["per_frame"].get(metric, []), np.float64)
                                 if key in r.rows else np.full(len(r.context[YAW_CHANGE]), np.nan) for r in chosen])
        if len(values) != len(change):
            continue
        table[key] = [mean(values[mask]) for mask in masks]
    return {"metric": metric, "bins": [[low, high] for low, high in bins],
            "frames": [int(mask.sum()) for mask in masks], "rows": table}


def yaw_table(yaw: dict) -> str:
    """The identity-by-yaw-change table (:func:`by_yaw_change`) as Markdown."""
    return binned_table(yaw, "°")


def sheet_steps_by_yaw(changes: list[float], steps: int = 5) -> list[int]:
    """Positions (in the scored frames) of up to ``steps`` frames spread over the range of |yaw change|, the
    largest included, in time order: the contact sheet of a turned source."""
    if not changes:
        return []
    order = np.argsort(np.asarray(changes, np.float64), kind="stable")
    picks = order[np.unique(np.round(np.linspace(0, len(order) - 1, min(steps, len(order)))).astype(int))]
    return sorted(int(p) for p in picks)
