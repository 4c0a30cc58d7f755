"""Warp guides computed once per clip (``headshot prepare --guides N``), not once per episode.

A warp-guided generator sees the warp engine's rendering of a source frame at the target's landmarks. Made
on the fly, every episode paid a fresh head segmentation (GrabCut), a control mesh and a rasterisation:
the data loader, not the networks, set the pace. Precomputed, an episode decodes one more JPEG.

The guides are made as at inference: the warp engine prepared on a source frame of the clip renders the
target frame's landmarks **with the driver's pixels** (the target frame itself, the self-reenactment
case: an opening mouth is filled from the driver's mouth, as ``headshot animate`` does with a driver
video). Each clip gets ``count`` (source, target) pairs: targets spread evenly over the clip, each with one
of ``SOURCES_PER_CLIP`` source frames drawn at random (never the target itself), so one segmentation
serves many guides.

Arrays added to a shard (see :mod:`headshot.train.prepare` for the others)::

    guide_jpeg     uint8 (total_bytes,)   the guides' JPEG bytes, concatenated
    guide_offsets  int64 (M + 1,)         guide m is guide_jpeg[guide_offsets[m]:guide_offsets[m + 1]]
    guide_pairs    int32 (M, 2)           (source frame, target frame) of guide m, shard frame indices

:class:`headshot.train.dataset.EpisodeDataset` uses them when present (the episode's target and shot 0
are a guide's pair); without them it renders guides per episode (slow, same recipe).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import InputError
from ..io.atomic import atomic_output
from .prepare import INDEX_NAME, encode_jpegs, write_npz

SOURCES_PER_CLIP = 4
GUIDE_JPEG_QUALITY = 90
GUIDE_KEYS = ("guide_jpeg", "guide_offsets", "guide_pairs")


def render_guide(engine, target: np.ndarray, target_landmarks: np.ndarray) -> np.ndarray:
    """The warp ``engine`` (prepared on a source) at ``target_landmarks`` with the target frame as driver."""
    return engine.render(target_landmarks, target, target_landmarks)


def guide_pairs(frames: int, count: int, seed: int = 0) -> np.ndarray:
    """``(M, 2)`` int32 (source, target) frame pairs of a clip of ``frames`` frames: ``M = min(count,
    frames)`` targets evenly spread, sources among ``SOURCES_PER_CLIP`` random frames, never the target."""
    if frames < 2 or count < 1:
        return np.zeros((0, 2), np.int32)
    rng = np.random.default_rng(seed)
    targets = np.unique(np.linspace(0, frames - 1, min(count, frames)).round().astype(int))
    sources = rng.choice(frames, min(SOURCES_PER_CLIP, frames), replace=False)
    pairs = []
    for target in targets:
        options = sources[sources != target]
        pairs.append((int(rng.choice(options)), int(target)))
    return np.asarray(pairs, np.int32)


def clip_guides(images: np.ndarray, landmarks: np.ndarray, pairs: np.ndarray) -> list[np.ndarray]:
    """Guides (RGB uint8, the frames' size) for ``pairs`` of one clip's ``images`` ``(N, S, S, 3)`` and
    ``landmarks`` ``(N, 478, 3)`` (crop pixels). One warp engine per source frame."""
    from ..render.warp import WarpEngine  # here: only guide making needs the renderer

    guides: list[np.ndarray | None] = [None] * len(pairs)
    for source in np.unique(pairs[:, 0]):
        engine = WarpEngine()
        engine.prepare(images[source], landmarks[source])
        for m in np.flatnonzero(pairs[:, 0] == source):
            target = pairs[m, 1]
            guides[m] = render_guide(engine, images[target], landmarks[target])
    return guides


def _decode_all(jpeg: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return np.stack([cv2.cvtColor(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR),
                                  cv2.COLOR_BGR2RGB) for i in range(len(offsets) - 1)])


def add_clip_guides(shard_path: Path, count: int, seed: int = 0) -> int:
    """Add (or replace) ``count`` guides in one shard, atomically; returns the number written."""
    with np.load(shard_path, allow_pickle=False) as shard:
        arrays = {key: shard[key] for key in shard.files if key not in GUIDE_KEYS}
    pairs = guide_pairs(len(arrays["offsets"]) - 1, count, seed)
    images = _decode_all(arrays["jpeg"], arrays["offsets"])
    arrays["guide_jpeg"], arrays["guide_offsets"] = encode_jpegs(
        clip_guides(images, arrays["landmarks"], pairs), GUIDE_JPEG_QUALITY)
    arrays["guide_pairs"] = pairs
    with atomic_output(shard_path) as temporary:
        write_npz(temporary, **arrays)
    return len(arrays["guide_offsets"]) - 1


def shard_guide_count(shard_path: Path) -> int:
    """Guides stored in a shard (0 when it has none)."""
    with np.load(shard_path, allow_pickle=False) as shard:
        return len(shard["guide_pairs"]) if "guide_pairs" in shard.files else 0


def add_guides(dataset_dir: str | Path, count: int, seed: int = 0, progress: bool = True) -> int:
    """Give every shard of a prepared dataset up to ``count`` guides (shards that already have
    ``min(count, frames)`` are skipped: an interrupted run resumes). Returns the guides written."""
    if count < 1:
        raise InputError(f"--guides must be at least 1, got {count}")
    dataset_dir = Path(dataset_dir)
    index_path = dataset_dir / INDEX_NAME
    if not index_path.is_file():
        raise InputError(f"{dataset_dir} is not a prepared dataset (no {INDEX_NAME})")
    records = json.loads(index_path.read_text())["videos"]
    written = 0
    columns = [TextColumn("guides"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("clips", total=len(records))
        for record in records:
            shard = dataset_dir / record["shard"]
            if shard_guide_count(shard) != min(count, int(record["frames"])):
                written += add_clip_guides(shard, count, seed)
            bar.advance(task)
    return written
