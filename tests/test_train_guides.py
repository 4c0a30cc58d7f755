"""Warp guides precomputed per clip (headshot prepare --guides) and used by the episode dataset."""

from __future__ import annotations

import os

import numpy as np
import pytest

from headshot.train.dataset import EpisodeDataset
from headshot.train.guides import add_guides, guide_pairs, shard_guide_count
from headshot.train.prepare import prepare_dataset

CLIP = "andrew_ng__styletalk__andrew_clip_1.mp4"


@pytest.fixture(scope="module")
def dataset(dev_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("guides")
    (root / "videos").mkdir()
    os.symlink(dev_data / "videos" / CLIP, root / "videos" / CLIP)
    prepare_dataset(root / "videos", root / "dataset", size=64, every=3, max_frames=12, progress=False)
    assert add_guides(root / "dataset", 5, progress=False) == 5
    return root / "dataset"


def test_pairs_spread_targets_and_never_guide_a_frame_by_itself():
    pairs = guide_pairs(40, 10, seed=3)
    assert len(pairs) == 10 and len(np.unique(pairs[:, 1])) == 10
    assert np.all(pairs[:, 0] != pairs[:, 1])
    assert len(np.unique(pairs[:, 0])) <= 4  # a few sources: one segmentation serves many guides
    assert len(guide_pairs(3, 10)) == 3 and len(guide_pairs(1, 10)) == 0


def test_stored_guides_are_used_and_made_like_the_per_episode_ones(dataset):
    shard = next((dataset / "shards").glob("*.npz"))
    assert shard_guide_count(shard) == 5
    assert add_guides(dataset, 5, progress=False) == 0  # finished shards are skipped
    stored = EpisodeDataset(dataset, shots=3, split="all", warp_guided=True)
    plain = EpisodeDataset(dataset, shots=3, split="all")
    _, _, pairs, usable = stored.stored_guides(0)
    assert len(usable) == 5
    from headshot.train.dataset import _to_tensor, warp_guide

    for seed in range(3):
        episode = stored[(0, seed)]
        # the episode's target and shot 0 are a stored pair, and its guide is that pair's
        images, landmarks = stored.frames(0, np.arange(stored.clip_length(0)))
        matches = [m for m, (s, t) in enumerate(pairs)
                   if np.allclose(_to_tensor(images[t]), episode["target"]) and
                   np.allclose(_to_tensor(images[s]), episode["shots"][0])]
        assert matches, "the episode is not one of the stored pairs"
        source, target = pairs[matches[0]]
        fresh = _to_tensor(warp_guide(images[source], landmarks[source], landmarks[target], images[target]))
        assert (fresh - episode["guide"]).abs().mean() < 0.03  # the same recipe (JPEG apart)
        assert "guide" not in plain[(0, seed)]
