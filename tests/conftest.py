"""Shared fixtures: the development data in ../shared/data/dev and the bundled portrait."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _dev_root() -> Path:
    env = os.environ.get("HEADSHOT_DEV_DATA")
    if env:
        return Path(env)
    return (REPO / ".." / "shared" / "data" / "dev").resolve()


@pytest.fixture(scope="session")
def dev_data() -> Path:
    """Root of the dev set (videos/, portraits/, MANIFEST.tsv). Fails loudly if absent: CI has it."""
    root = _dev_root()
    if not (root / "videos").is_dir():
        pytest.fail(f"dev data not found at {root}; set HEADSHOT_DEV_DATA")
    return root


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from headshot.assets import astronaut as load

    return load()


@pytest.fixture(scope="session")
def talking_clip(dev_data: Path) -> Path:
    """A short frontal talking clip with audio (512x512, 8 s)."""
    return dev_data / "videos" / "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4"


@pytest.fixture(scope="session")
def two_clip_dataset(dev_data: Path, tmp_path_factory) -> Path:
    """A prepared training dataset (``headshot prepare``) of two short dev clips, 64 px, every second of
    their first 16 frames; shared by the training tests, which only read it."""
    from headshot.train.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("two_clips")
    videos = root / "videos"
    videos.mkdir()
    for name in ("aoc__EDTalk__pose_source1.mp4", "andrew_ng__styletalk__andrew_clip_1.mp4"):
        os.symlink(dev_data / "videos" / name, videos / name)
    prepare_dataset(videos, root / "dataset", size=64, workers=1, every=2, max_frames=16, progress=False)
    return root / "dataset"


@pytest.fixture(scope="module")
def analyzer():
    """MediaPipe's face landmarker in IMAGE mode, one face (shared by a test module)."""
    from headshot.face.landmarker import FaceAnalyzer

    with FaceAnalyzer(video=False, max_faces=1) as face_analyzer:
        yield face_analyzer


@pytest.fixture()
def one_torch_thread():
    """One intra-op torch thread: on the shared 2-core machine, 2 OpenMP threads stall behind other processes."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
