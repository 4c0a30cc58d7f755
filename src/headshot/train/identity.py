"""The auxiliary identity term (train key ``identity_weight``, issue 14) and the SFace embeddings it needs.

A warp-guided generator gets the person from its warp guide, so nothing in the paper's losses forces the
embedder E to encode who the person is: its ê stayed ~99 % one vector common to everyone
(``benchmarks/embedder_identity.py``). With ``identity_weight > 0`` a linear head ``H`` (trainer-only: in
training checkpoints, never in exported model files) maps ê to the SFace identity embedding of the same
shots, and ``identity_weight · (1 − cos(H ê, s̄))`` joins E/G's loss, where s̄ is the normalised mean of
the K shots' SFace embeddings. The head reads ê, not each shot's embedding: ê is what P turns into ψ and
what the benchmark measures, and the mean over the shots removes most of SFace's per-frame pose noise,
so the target is the person, not the frame.

SFace is never run in the training loop: ``headshot prepare --identity`` stores each frame's embedding in
its shard (also on a dataset prepared before, computing only the shards that lack them)::

    identity_sface  float32 (N, 128)   SFace (the evaluation's CSIM network) of frame i, unit length

made as the evaluation makes them: :class:`headshot.face.identity.SFaceEmbedder` on the frame's face
aligned by its stored landmarks (crop pixels).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import InputError
from ..io.atomic import atomic_output
from .prepare import INDEX_NAME, write_npz

IDENTITY_KEY = "identity_sface"
IDENTITY_DIM = 128


def clip_identity(embedder, images, landmarks: np.ndarray) -> np.ndarray:
    """SFace embeddings ``(N, 128)`` float32 of a clip's frames (RGB uint8 crops) at their ``landmarks``."""
    rows = [embedder.embed(np.ascontiguousarray(image), points) for image, points in zip(images, landmarks)]
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, IDENTITY_DIM), np.float32)


def has_identity(shard_path: Path) -> bool:
    """Whether a shard stores its frames' SFace embeddings (reads only the archive's directory)."""
    with np.load(shard_path, allow_pickle=False) as shard:
        return IDENTITY_KEY in shard.files


def add_clip_identity(shard_path: Path, embedder) -> int:
    """Add (or replace) the SFace embeddings of one shard's frames, atomically; returns the frames done."""
    import cv2

    with np.load(shard_path, allow_pickle=False) as shard:
        arrays = {key: shard[key] for key in shard.files if key != IDENTITY_KEY}
    jpeg, offsets = arrays["jpeg"], arrays["offsets"]
    images = (cv2.cvtColor(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
              for i in range(len(offsets) - 1))
    arrays[IDENTITY_KEY] = clip_identity(embedder, images, arrays["landmarks"])
    with atomic_output(shard_path) as temporary:
        write_npz(temporary, **arrays)
    return len(arrays[IDENTITY_KEY])


def add_identity(dataset_dir: str | Path, progress: bool = True) -> int:
    """Give every shard of a prepared dataset its frames' SFace embeddings; shards that have them are
    skipped (an interrupted run resumes, a finished dataset costs nothing). Returns the frames embedded."""
    dataset_dir = Path(dataset_dir)
    index_path = dataset_dir / INDEX_NAME
    if not index_path.is_file():
        raise InputError(f"{dataset_dir} is not a prepared dataset (no {INDEX_NAME})")
    records = json.loads(index_path.read_text())["videos"]
    todo = [dataset_dir / record["shard"] for record in records if not has_identity(dataset_dir / record["shard"])]
    if not todo:
        return 0
    from ..face.identity import SFaceEmbedder

    embedder = SFaceEmbedder()
    written = 0
    columns = [TextColumn("identity"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("clips", total=len(todo))
        for shard in todo:
            written += add_clip_identity(shard, embedder)
            bar.advance(task)
    return written


def require_identity(dataset_dir: Path, shards: list[str]) -> None:
    """:class:`InputError` (one line) when a shard of a dataset lacks the SFace embeddings."""
    missing = [name for name in shards if not has_identity(Path(dataset_dir) / name)]
    if missing:
        raise InputError(f"identity_weight > 0 needs SFace embeddings in the dataset, but {len(missing)} of "
                         f"{len(shards)} shards of {dataset_dir} have none (e.g. {missing[0]}): run headshot "
                         f"prepare VIDEOS {dataset_dir} --identity")


def identity_head(embedding_dim: int) -> torch.nn.Linear:
    """The linear head ê -> SFace space (trainer-only; its initial weights come from the global torch seed)."""
    return torch.nn.Linear(embedding_dim, IDENTITY_DIM)


def identity_loss(head: torch.nn.Module, embedding: torch.Tensor, shot_identity: torch.Tensor) -> torch.Tensor:
    """``1 − cos(head(ê), s̄)`` averaged over the batch: ``embedding`` ê ``(B, D)``, ``shot_identity`` the
    shots' SFace embeddings ``(B, K, 128)``; s̄ is their normalised mean."""
    target = torch.nn.functional.normalize(shot_identity.float().mean(dim=1), dim=-1)
    predicted = head(embedding.float())
    return 1.0 - torch.nn.functional.cosine_similarity(predicted, target, dim=-1).mean()


def embedding_share(embedding: torch.Tensor) -> float:
    """Share of the batch's unit ê that differs between its episodes, ``1 − |mean|²`` (near 0: one common
    vector; the last column of ``benchmarks/embedder_identity.py``, here on one batch)."""
    unit = torch.nn.functional.normalize(embedding.detach().float(), dim=-1)
    return float(1.0 - unit.mean(dim=0).pow(2).sum())
