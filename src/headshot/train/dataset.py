"""Meta-learning episodes from a prepared dataset (``headshot prepare``).

An **episode** (Zakharov et al. 2019, Sec. 3.2) is one video: K *shots* (frames with their landmark
sketches, from which the embedder computes the identity embedding ê) and one *target* frame whose sketch
the generator must turn into the target image. Frames are drawn without replacement from one clip.

Tensors are float32 CHW in [-1, 1]; landmarks are float32 ``(478, 3)`` in pixels of the ``image_size``
crop. Randomness of an episode (which frames, augmentation) comes only from its *episode seed*, so a
stream of episodes is reproducible from ``(seed, position)``: this is what makes resume exact and lets
every distributed rank draw different episodes without talking to the others.
"""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np
import torch

from ..errors import InputError
from ..neural.sketch import draw_sketch
from ..render.warp import WarpEngine
from .identity import IDENTITY_KEY, require_identity
from .prepare import INDEX_NAME
from .split import split_records


def load_index(dataset_dir: str | Path) -> dict:
    """Read ``index.json`` of a prepared dataset; :class:`InputError` if missing or empty."""
    path = Path(dataset_dir) / INDEX_NAME
    if not path.is_file():
        raise InputError(f"{dataset_dir} is not a prepared dataset (no {INDEX_NAME}); run headshot prepare")
    index = json.loads(path.read_text())
    if not index.get("videos"):
        raise InputError(f"{path} lists no usable videos")
    return index


def split_by_identity(records: list[dict], val_fraction: float = 0.1, seed: int = 0) -> tuple[list[dict], list[dict]]:
    """Split index records into ``(train, val)`` so that no identity is in both.

    ``ceil(val_fraction × identities)`` identities, chosen by a seeded permutation of the sorted
    identity names, go to validation (none when ``val_fraction`` is 0; never all of them).
    """
    identities = sorted({record["identity"] for record in records})
    count = math.ceil(val_fraction * len(identities)) if val_fraction > 0 else 0
    count = min(count, len(identities) - 1)
    order = np.random.default_rng(seed).permutation(len(identities))
    val_identities = {identities[i] for i in order[:count]}
    train = [record for record in records if record["identity"] not in val_identities]
    val = [record for record in records if record["identity"] in val_identities]
    return train, val


def episode_seed(seed: int, position: int) -> int:
    """The seed of the episode at ``position`` of the stream seeded by ``seed`` (a 63-bit integer)."""
    return int(np.random.SeedSequence([seed, position]).generate_state(1, np.uint64)[0] >> np.uint64(1))


class _ShardCache:
    """Per-process LRU cache of decoded shard arrays (JPEG bytes, offsets, landmarks), bounded in bytes."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: collections.OrderedDict[str, tuple] = collections.OrderedDict()

    def get(self, path: Path) -> tuple[np.ndarray, ...]:
        """``(jpeg, offsets, landmarks, guide_jpeg, guide_offsets, guide_pairs, identity)``; the guide arrays
        are empty when the shard has none (see :mod:`headshot.train.guides`), ``identity`` (the frames' SFace
        embeddings, :mod:`headshot.train.identity`) is None."""
        key = str(path)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        with np.load(path, allow_pickle=False) as shard:
            guides = ((shard["guide_jpeg"], shard["guide_offsets"], shard["guide_pairs"])
                      if "guide_pairs" in shard.files else
                      (np.zeros(0, np.uint8), np.zeros(1, np.int64), np.zeros((0, 2), np.int32)))
            identity = shard[IDENTITY_KEY] if IDENTITY_KEY in shard.files else None
            item = (shard["jpeg"], shard["offsets"], shard["landmarks"], *guides, identity)
        self.items[key] = item
        self.bytes += sum(array.nbytes for array in item if array is not None)
        while self.bytes > self.max_bytes and len(self.items) > 1:
            _, old = self.items.popitem(last=False)
            self.bytes -= sum(array.nbytes for array in old if array is not None)
        return item


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """RGB uint8 HWC -> float32 CHW in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def draw_sketches(landmarks: np.ndarray, size: int, kind: str = "68") -> np.ndarray:
    """Landmark sketches ``(N, size, size, 3)`` RGB uint8 for landmarks ``(N, 478, 3)`` crop pixels.

    Drawn by :func:`headshot.neural.sketch.draw_sketch`, the same function the neural engine uses at
    inference, so training and inference sketches are identical.
    """
    return np.stack([draw_sketch(points, size, kind=kind) for points in landmarks])


class EpisodeDataset(torch.utils.data.Dataset):
    """Episodes (one clip: K shots + 1 target) from a prepared dataset.

    Args:
        dataset_dir: folder written by ``headshot prepare``.
        shots: K, frames per episode for the embedding.
        image_size: side of the returned images (frames are resized if the dataset was prepared at
            another size; landmarks follow). None: the dataset's size.
        split: ``train``, ``val`` or ``all`` (identity split, see :func:`split_by_identity`).
        val_fraction, split_seed: the split when ``heldout`` is None.
        heldout: identities never trained on (a split file, :mod:`headshot.train.split`): ``val`` is theirs,
            ``train`` everyone else's.
        sketch: sketch kind passed to ``draw_sketch`` (``68`` or ``478``).
        augment: colour and small scale/shift jitter, the same for all frames of an episode.
        seed: seed of the episode stream used by integer indexing.
        clips: optional list of clip keys to keep (e.g. one clip for an overfit test).
        max_frames: use only the first ``max_frames`` frames of each clip (None: all).
        warp_guided: also return ``guide``, the warp engine's rendering of shot 0 at the target's landmarks
            with the target frame as the driver (:mod:`headshot.train.guides`: stored in the shard by
            ``headshot prepare --guides``, else rendered per episode).
        cache_bytes: per-process cache of shard data.
        identity: also return ``shot_identity``, the shots' SFace embeddings stored by ``headshot prepare
            --identity`` (train key ``identity_weight``); :class:`InputError` when a shard has none.

    Items: ``dataset[i]`` (episode ``i`` of epoch ``self.epoch``; for samplers such as
    ``DistributedSampler``) or ``dataset[(clip_index, episode_seed)]`` (what :class:`EpisodeSampler`
    yields). Each item is a dict:

    - ``shots`` ``(K, 3, S, S)``, ``shot_sketches`` ``(K, 3, S, S)``, ``target`` ``(3, S, S)``,
      ``target_sketch`` ``(3, S, S)``: float32 in [-1, 1];
    - ``shot_landmarks`` ``(K, 478, 3)``, ``target_landmarks`` ``(478, 3)``: float32 crop pixels;
    - ``video_index`` (int64 scalar): the row of the discriminator's W for this clip's video;
    - ``clip_index`` (int64 scalar); ``guide`` ``(3, S, S)`` when ``warp_guided``; ``shot_identity``
      ``(K, 128)`` float32 when ``identity``.
    """

    def __init__(self, dataset_dir: str | Path, shots: int = 8, image_size: int | None = None,
                 split: str = "train", val_fraction: float = 0.1, split_seed: int = 0, sketch: str = "68",
                 augment: bool = False, seed: int = 0, clips: list[str] | None = None,
                 max_frames: int | None = None, warp_guided: bool = False, cache_bytes: int = 2 << 30,
                 heldout: frozenset[str] | None = None, identity: bool = False):
        if split not in ("train", "val", "all"):
            raise ValueError(f"split must be train, val or all, got {split!r}")
        self.root = Path(dataset_dir)
        index = load_index(self.root)
        records = index["videos"]
        if clips is not None:
            wanted = set(clips)
            records = [record for record in records if record["clip"] in wanted]
            if not records:
                raise InputError(f"none of the clips {sorted(wanted)} is in {self.root}")
        if split != "all":
            if heldout is not None:
                train, val = split_records(records, heldout)
            else:
                train, val = split_by_identity(records, val_fraction, split_seed)
            records = train if split == "train" else val
        if not records:
            raise InputError(f"the {split} split of {self.root} is empty")
        self.records = records
        self.stored_size = int(index["size"])
        self.image_size = int(image_size or self.stored_size)
        self.shots = int(shots)
        self.sketch = str(sketch)
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.max_frames = max_frames
        self.warp_guided = warp_guided
        self.videos = sorted({record["video"] for record in records})
        video_rows = {video: row for row, video in enumerate(self.videos)}
        self.video_index = [video_rows[record["video"]] for record in records]
        self.identities = sorted({record["identity"] for record in records})
        self._cache = _ShardCache(cache_bytes)
        self.identity = identity
        if identity:
            require_identity(self.root, [record["shard"] for record in records])

    @property
    def num_videos(self) -> int:
        """Number of distinct videos: the number of columns of the discriminator's W."""
        return len(self.videos)

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        """Change the frames drawn by integer indexing (call with the sampler's ``set_epoch``)."""
        self.epoch = int(epoch)

    def frames(self, clip_index: int, frame_indices) -> tuple[np.ndarray, np.ndarray]:
        """Frames ``(N, S, S, 3)`` RGB uint8 and landmarks ``(N, 478, 3)`` of one clip, at ``image_size``."""
        record = self.records[clip_index]
        jpeg, offsets, landmarks = self._cache.get(self.root / record["shard"])[:3]
        images = [self._decode(jpeg, offsets, frame) for frame in frame_indices]
        points = landmarks[np.asarray(frame_indices)].astype(np.float32) * (self.image_size / self.stored_size)
        return np.stack(images), points

    def _decode(self, jpeg: np.ndarray, offsets: np.ndarray, index: int) -> np.ndarray:
        image = cv2.cvtColor(cv2.imdecode(jpeg[offsets[index]:offsets[index + 1]], cv2.IMREAD_COLOR),
                             cv2.COLOR_BGR2RGB)
        if self.image_size != self.stored_size:
            image = cv2.resize(image, (self.image_size, self.image_size), interpolation=cv2.INTER_AREA)
        return image

    def stored_guides(self, clip_index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(guide_jpeg, guide_offsets, guide_pairs, usable)`` of a clip: its stored guides and the indices
        of those whose two frames are usable (``max_frames``)."""
        guide_jpeg, guide_offsets, pairs = self._cache.get(self.root / self.records[clip_index]["shard"])[3:6]
        usable = np.flatnonzero((pairs < self.clip_length(clip_index)).all(axis=1))
        return guide_jpeg, guide_offsets, pairs, usable

    def _choose(self, clip_index: int, rng: np.random.Generator) -> tuple[np.ndarray, int | None]:
        """Frames of an episode (shots then target) and the stored guide whose pair is (shot 0, target)."""
        count = self.clip_length(clip_index)
        guide = None
        if self.warp_guided:
            _, _, pairs, usable = self.stored_guides(clip_index)
            if len(usable):
                guide = int(usable[rng.integers(len(usable))])
        if guide is not None:
            source, target = (int(v) for v in pairs[guide])
            others = np.setdiff1d(np.arange(count), [source, target])
            extra = rng.choice(others, self.shots - 1, replace=len(others) < self.shots - 1) if self.shots > 1 \
                else np.zeros(0, int)
            return np.concatenate([[source], extra, [target]]).astype(int), guide
        if count >= self.shots + 1:
            return rng.choice(count, self.shots + 1, replace=False), None
        # short clip: distinct target, shots drawn with replacement from the rest
        target = rng.integers(count)
        others = np.delete(np.arange(count), target)
        return np.concatenate([rng.choice(others, self.shots, replace=True), [target]]), None

    def clip_length(self, clip_index: int) -> int:
        """Number of usable frames of a clip (after ``max_frames``)."""
        frames = int(self.records[clip_index]["frames"])
        return min(frames, self.max_frames) if self.max_frames else frames

    def __getitem__(self, item) -> dict[str, torch.Tensor]:
        if isinstance(item, (tuple, list)):
            clip_index, seed = int(item[0]), int(item[1])
        else:
            clip_index, seed = int(item), episode_seed(self.seed, self.epoch * len(self) + int(item))
        rng = np.random.default_rng(seed)
        chosen, stored_guide = self._choose(clip_index, rng)
        images, landmarks = self.frames(clip_index, chosen)
        guide = None
        if self.warp_guided:
            if stored_guide is not None:
                guide_jpeg, guide_offsets = self.stored_guides(clip_index)[:2]
                guide = self._decode(guide_jpeg, guide_offsets, stored_guide)
            else:  # no precomputed guides: the same recipe, per episode (slow: a segmentation each)
                guide = warp_guide(images[0], landmarks[0], landmarks[-1], images[-1])
        if self.augment:  # one draw for the whole episode, guide included
            stack = images if guide is None else np.concatenate([images, guide[None]])
            points = landmarks if guide is None else np.concatenate([landmarks, landmarks[-1:]])
            stack, points = _augment(stack, points, rng)
            images, landmarks = (stack, points) if guide is None else (stack[:-1], points[:-1])
            guide = None if guide is None else stack[-1]
        sketches = draw_sketches(landmarks, self.image_size, self.sketch)
        episode = {
            "shots": torch.stack([_to_tensor(image) for image in images[:-1]]),
            "shot_sketches": torch.stack([_to_tensor(sketch) for sketch in sketches[:-1]]),
            "target": _to_tensor(images[-1]),
            "target_sketch": _to_tensor(sketches[-1]),
            "shot_landmarks": torch.from_numpy(landmarks[:-1]),
            "target_landmarks": torch.from_numpy(landmarks[-1]),
            "video_index": torch.tensor(self.video_index[clip_index], dtype=torch.int64),
            "clip_index": torch.tensor(clip_index, dtype=torch.int64),
        }
        if guide is not None:
            episode["guide"] = _to_tensor(guide)
        if self.identity:
            stored = self._cache.get(self.root / self.records[clip_index]["shard"])[6]
            episode["shot_identity"] = torch.from_numpy(stored[chosen[:-1]].astype(np.float32))
        return episode


def warp_guide(source: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray,
               driver: np.ndarray | None = None) -> np.ndarray:
    """The warp engine's rendering of ``source`` (RGB uint8 crop) moved to ``target_landmarks``.

    This is the extra generator input of the ``warp-guided`` variant; at inference the neural engine
    computes it the same way. ``driver``: the target frame (same crop, so ``target_landmarks`` are its
    landmarks too), whose pixels fill an opening mouth as the driver video's do at inference; None: no
    driver pixels (a motion template or preset).
    """
    engine = WarpEngine()
    engine.prepare(source, source_landmarks)
    if driver is None:
        return engine.render(target_landmarks)
    return engine.render(target_landmarks, driver, target_landmarks)


def _augment(images: np.ndarray, landmarks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Episode-wide jitter: brightness/contrast/saturation ±10 %, scale ±5 %, shift ±3 % of the side.

    No horizontal flip: mirrored faces would swap the left/right parts of the sketch.
    """
    size = images.shape[1]
    scale = 1.0 + rng.uniform(-0.05, 0.05)
    shift = rng.uniform(-0.03, 0.03, size=2) * size
    centre = size / 2
    matrix = np.array([[scale, 0, centre * (1 - scale) + shift[0]],
                       [0, scale, centre * (1 - scale) + shift[1]]], np.float32)
    warped = np.stack([cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                                      borderMode=cv2.BORDER_REPLICATE) for image in images]).astype(np.float32)
    contrast, brightness, saturation = rng.uniform(0.9, 1.1), rng.uniform(-0.1, 0.1) * 255, rng.uniform(0.9, 1.1)
    gray = warped.mean(axis=-1, keepdims=True)
    warped = gray + (warped - gray) * saturation
    warped = (warped - 127.5) * contrast + 127.5 + brightness
    points = landmarks.copy()
    points[..., 0] = landmarks[..., 0] * scale + matrix[0, 2]
    points[..., 1] = landmarks[..., 1] * scale + matrix[1, 2]
    points[..., 2] = landmarks[..., 2] * scale
    return np.clip(warped, 0, 255).astype(np.uint8), points


class EpisodeSampler(torch.utils.data.Sampler):
    """Endless, resumable, distributed stream of ``(clip_index, episode_seed)`` for :class:`EpisodeDataset`.

    The global stream visits the clips in a new seeded permutation every pass; position ``p`` of the
    stream is the pair ``(permutation_{p // n}[p % n], episode_seed(seed, p))``. Rank ``r`` of
    ``world_size`` takes positions ``start + r, start + r + world_size, ...``, so the ranks together
    consume the global stream in order and a restart at ``start`` continues it exactly.
    """

    def __init__(self, num_clips: int, seed: int = 0, rank: int = 0, world_size: int = 1, start: int = 0):
        self.num_clips = num_clips
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.start = start
        self._order_epoch = -1
        self._order = np.arange(0)

    def __len__(self) -> int:  # endless; DataLoader only needs this for its own length
        return 1 << 62

    def pair(self, position: int) -> tuple[int, int]:
        """The ``(clip_index, episode_seed)`` at global ``position``."""
        epoch, offset = divmod(position, self.num_clips)
        if epoch != self._order_epoch:
            self._order = np.random.default_rng([self.seed, epoch, 7]).permutation(self.num_clips)
            self._order_epoch = epoch
        return int(self._order[offset]), episode_seed(self.seed, position)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        position = self.start + self.rank
        while True:
            yield self.pair(position)
            position += self.world_size
