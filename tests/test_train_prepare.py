"""headshot prepare on real dev clips: shards, index, stable crops, failures listed, resume, layouts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from headshot.train.dataset import EpisodeDataset, EpisodeSampler, split_by_identity
from headshot.train.prepare import find_clips, prepare_dataset

CLIPS = ("aoc__EDTalk__pose_source1.mp4", "andrew_ng__styletalk__andrew_clip_1.mp4")


def _videos_folder(dev_data: Path, folder: Path) -> Path:
    """Two dev clips linked (not copied) into ``folder`` plus one corrupt file."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in CLIPS:
        os.symlink(dev_data / "videos" / name, folder / name)
    rng = np.random.default_rng(0)
    (folder / "broken__x__corrupt.mp4").write_bytes(rng.integers(0, 256, 40000, dtype=np.uint8).tobytes())
    return folder


@pytest.fixture(scope="module")
def prepared(dev_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("prepare")
    videos = _videos_folder(dev_data, root / "videos")
    index = prepare_dataset(videos, root / "dataset", size=64, workers=2, every=3, max_frames=12, progress=False)
    return root, index


def test_prepare_writes_shards_and_index(prepared):
    root, index = prepared
    on_disk = json.loads((root / "dataset" / "index.json").read_text())
    assert [v["clip"] for v in on_disk["videos"]] == [Path(c).stem for c in sorted(CLIPS)]
    assert {v["identity"] for v in on_disk["videos"]} == {"aoc", "andrew_ng"}
    for record in on_disk["videos"]:
        assert record["frames"] == 12 and record["size"] == 64
        with np.load(root / "dataset" / record["shard"], allow_pickle=False) as shard:
            landmarks, offsets, jpeg = shard["landmarks"], shard["offsets"], shard["jpeg"]
            assert landmarks.shape == (12, 478, 3) and landmarks.dtype == np.float32
            assert list(shard["frame_index"]) == list(range(0, 36, 3))
            # the face sits inside the crop and fills a sensible part of it
            xy = landmarks[..., :2]
            assert xy.min() > 0 and xy.max() < 64
            face_size = (xy.max(axis=1) - xy.min(axis=1)).max(axis=1)
            assert np.all((face_size > 20) & (face_size < 45))
            image = cv2.imdecode(jpeg[offsets[0]:offsets[1]], cv2.IMREAD_COLOR)
            assert image.shape == (64, 64, 3)
            # one crop for the whole clip: the crop box is stored once
            assert shard["crop_box"].shape == (3,)


def test_corrupt_video_is_listed_not_fatal(prepared):
    root, index = prepared
    assert [f["clip"] for f in index["failures"]] == ["broken__x__corrupt"]
    assert "corrupt" in index["failures"][0]["error"]
    assert len(index["videos"]) == 2


def test_prepare_resumes_without_redoing_finished_clips(prepared):
    root, _ = prepared
    shards = sorted((root / "dataset" / "shards").glob("*.npz"))
    times = [path.stat().st_mtime_ns for path in shards]
    index = prepare_dataset(root / "videos", root / "dataset", size=64, workers=1, every=3, max_frames=12,
                            progress=False)
    assert [path.stat().st_mtime_ns for path in shards] == times
    assert len(index["videos"]) == 2 and len(index["failures"]) == 1


def test_landmarks_match_the_face_in_the_crop(prepared):
    """Re-detecting the face on a stored crop finds landmarks close to the stored ones."""
    from headshot.face.landmarker import FaceAnalyzer

    root, index = prepared
    record = index["videos"][0]
    with np.load(root / "dataset" / record["shard"], allow_pickle=False) as shard:
        offsets, jpeg, landmarks = shard["offsets"], shard["jpeg"], shard["landmarks"]
    crop = cv2.cvtColor(cv2.imdecode(jpeg[offsets[5]:offsets[6]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    big = cv2.resize(crop, (256, 256), interpolation=cv2.INTER_CUBIC)
    with FaceAnalyzer() as analyzer:
        found = analyzer.detect_one(big).landmarks[:, :2] / 4
    assert np.median(np.linalg.norm(found - landmarks[5, :, :2], axis=1)) < 2.0


def test_layouts_give_identity_and_video(tmp_path, dev_data):
    source = dev_data / "videos" / CLIPS[0]
    (tmp_path / "id001" / "ytA").mkdir(parents=True)
    os.symlink(source, tmp_path / "id001" / "ytA" / "00001.mp4")
    os.symlink(source, tmp_path / "id001" / "ytA" / "00002.mp4")
    os.symlink(source, tmp_path / "carol__clip.mp4")
    clips = {c.clip: c for c in find_clips(tmp_path)}
    assert clips["id001/ytA/00001"].identity == "id001" and clips["id001/ytA/00001"].video == "id001/ytA"
    assert clips["id001/ytA/00002"].video == "id001/ytA"
    assert clips["carol__clip"].identity == "carol"


def test_episodes_and_split(prepared):
    root, index = prepared
    train, val = split_by_identity(index["videos"], 0.5, seed=0)
    assert len(train) == 1 and len(val) == 1 and train[0]["identity"] != val[0]["identity"]
    dataset = EpisodeDataset(root / "dataset", shots=4, split="all", sketch="68")
    assert dataset.num_videos == 2
    episode = dataset[(0, 123)]
    assert episode["shots"].shape == (4, 3, 64, 64) and episode["shot_sketches"].shape == (4, 3, 64, 64)
    assert episode["target"].shape == (3, 64, 64) and episode["target"].dtype.is_floating_point
    assert -1.0 <= float(episode["target"].min()) and float(episode["target"].max()) <= 1.0
    # the sketch is black outside the drawn lines and has coloured strokes
    sketch = episode["target_sketch"]
    assert (sketch > -1).float().mean() < 0.3 and (sketch > -1).any()
    # the same episode seed gives the same episode; another seed other frames
    again = dataset[(0, 123)]
    assert np.array_equal(episode["target"].numpy(), again["target"].numpy())
    other = dataset[(0, 124)]
    assert not np.array_equal(episode["shots"].numpy(), other["shots"].numpy())
    # two ranks draw disjoint positions of one stream that together equal the one-rank stream
    single = EpisodeSampler(2, seed=3)
    ranks = [EpisodeSampler(2, seed=3, rank=r, world_size=2) for r in range(2)]
    first = [pair for pair, _ in zip(single, range(8))]
    streams = [iter(sampler) for sampler in ranks]
    merged = [next(streams[i % 2]) for i in range(8)]
    assert first == merged
    resumed = EpisodeSampler(2, seed=3, start=5)
    assert next(iter(resumed)) == first[5]


def test_warp_guided_episodes_carry_the_warp_engine_guide(prepared):
    """The guide (shot 0 warped to the target's landmarks) is on average closer to the target than shot 0."""
    root, _ = prepared
    dataset = EpisodeDataset(root / "dataset", shots=2, split="all", warp_guided=True)
    guide_error = shot_error = 0.0
    for clip in range(2):
        for seed in range(4):
            episode = dataset[(clip, seed)]
            assert episode["guide"].shape == episode["target"].shape
            guide_error += float((episode["guide"] - episode["target"]).abs().mean())
            shot_error += float((episode["shots"][0] - episode["target"]).abs().mean())
    assert guide_error < 0.95 * shot_error, (guide_error, shot_error)


def test_bad_prepare_inputs_leave_nothing(tmp_path, dev_data, capsys):
    """A file instead of a folder, or --workers 0: one line, exit 1, and no output folder made."""
    from headshot.cli import main

    video = next((dev_data / "videos").glob("*.mp4"))
    out = tmp_path / "dataset"
    assert main(["prepare", str(video), str(out)]) == 1
    assert "is a file" in capsys.readouterr().err and not out.exists()
    assert main(["prepare", str(tmp_path / "missing"), str(out)]) == 1
    assert "not found" in capsys.readouterr().err and not out.exists()
    videos = tmp_path / "videos"
    videos.mkdir()
    (videos / "a__clip.mp4").symlink_to(video)
    assert main(["prepare", str(videos), str(out), "--workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "--workers must be at least 1" in err and len(err.strip().splitlines()) == 1 and not out.exists()
