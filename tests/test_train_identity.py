"""The auxiliary identity term (train key ``identity_weight``, issue 14): the SFace embeddings stored by
``headshot prepare --identity``, the episodes that carry them, and the term's gradient into E."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from headshot.errors import InputError
from headshot.neural.config import ConfigError, TrainConfig, load_config
from headshot.train.checkpoints import read_modules
from headshot.train.dataset import EpisodeDataset, EpisodeSampler
from headshot.train.distributed import DistributedContext
from headshot.train.identity import IDENTITY_KEY, add_identity, has_identity
from headshot.train.loop import TrainOptions, train
from headshot.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def identity_dataset(two_clip_dataset, tmp_path_factory) -> Path:
    """A copy of the shared two-clip dataset (64 px, real dev frames) with its SFace embeddings added."""
    root = tmp_path_factory.mktemp("identity") / "dataset"
    shutil.copytree(two_clip_dataset, root)
    frames = sum(np.load(path)["offsets"].size - 1 for path in (root / "shards").glob("*.npz"))
    assert add_identity(root, progress=False) == frames
    assert add_identity(root, progress=False) == 0  # finished shards are skipped
    return root


def test_the_key_is_validated_and_off_by_default(tmp_path):
    assert TrainConfig().identity_weight == 0.0
    assert TrainConfig.from_dict({"identity_weight": 0.5}).identity_weight == 0.5
    with pytest.raises(ConfigError, match="identity_weight.*>= 0"):
        TrainConfig.from_dict({"identity_weight": -1})
    typo = tmp_path / "typo.yaml"
    typo.write_text((REPO / "configs" / "tiny.yaml").read_text() + "  identity_weigth: 1.0\n")
    with pytest.raises(ConfigError, match="unknown train config key 'identity_weigth'"):
        load_config(typo)
    for path in sorted((REPO / "configs").glob("*.yaml")):  # shipped configs keep the term off
        if "model" in (path.read_text()):
            assert load_config(path)[1].identity_weight == 0.0, path.name


def test_stored_embeddings_are_sface_of_the_aligned_frames(identity_dataset, two_clip_dataset):
    from headshot.face.identity import SFaceEmbedder

    sface = SFaceEmbedder()
    for shard in sorted((identity_dataset / "shards").glob("*.npz")):
        with np.load(shard) as data, np.load(two_clip_dataset / "shards" / shard.name) as before:
            assert sorted(set(data.files) - {IDENTITY_KEY}) == sorted(before.files)  # nothing else changed
            assert np.array_equal(data["jpeg"], before["jpeg"]) and np.array_equal(data["landmarks"], before["landmarks"])
            stored, offsets = data[IDENTITY_KEY], data["offsets"]
            assert stored.shape == (len(offsets) - 1, 128) and stored.dtype == np.float32
            for i in (0, len(offsets) - 2):
                frame = cv2.cvtColor(cv2.imdecode(data["jpeg"][offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR),
                                     cv2.COLOR_BGR2RGB)
                np.testing.assert_allclose(stored[i], sface.embed(frame, data["landmarks"][i]), atol=1e-5)
    # two people: their embeddings differ, one clip's frames agree (SFace on real 64 px frames)
    first, second = (np.load(path)[IDENTITY_KEY] for path in sorted((identity_dataset / "shards").glob("*.npz")))
    assert float(first[0] @ first[-1]) > float(first[0] @ second[0]) + 0.2


def test_episodes_carry_their_shots_embeddings(identity_dataset):
    data = EpisodeDataset(identity_dataset, shots=3, split="all", identity=True)
    episode = data[(0, 5)]
    stored = np.load(identity_dataset / data.records[0]["shard"])[IDENTITY_KEY]
    images, _ = data.frames(0, np.arange(data.clip_length(0)))
    for shot, row in zip(episode["shots"], episode["shot_identity"].numpy()):
        # the row is the stored embedding of the very frame used as this shot
        frame = int(np.argmin([(torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1 - shot).abs().mean()
                               for image in images]))
        np.testing.assert_array_equal(row, stored[frame])
    assert "shot_identity" not in EpisodeDataset(identity_dataset, shots=3, split="all")[(0, 5)]


def test_a_dataset_without_embeddings_is_a_one_line_error(two_clip_dataset, tmp_path):
    assert not has_identity(next((two_clip_dataset / "shards").glob("*.npz")))
    with pytest.raises(InputError, match="--identity") as error:
        EpisodeDataset(two_clip_dataset, shots=2, split="all", identity=True)
    assert "\n" not in str(error.value)
    options = TrainOptions(config=REPO / "configs" / "tiny.yaml", data=two_clip_dataset, run=tmp_path / "run",
                           steps=1, progress=False, overrides={"identity_weight": 1.0, "workers": 0,
                                                               "val_fraction": 0.0})
    with pytest.raises(InputError, match="identity_weight > 0 needs SFace embeddings"):
        train(options)
    assert not (tmp_path / "run" / "checkpoints").exists()


def _batch(dataset_dir: Path, identity: bool) -> tuple[EpisodeDataset, dict]:
    data = EpisodeDataset(dataset_dir, shots=2, split="all", identity=identity)
    loader = torch.utils.data.DataLoader(data, batch_size=2, sampler=EpisodeSampler(len(data), 0))
    return data, next(iter(loader))


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_the_term_reaches_e_only_when_on(identity_dataset, weight):
    model_cfg, cfg = load_config(REPO / "configs" / "tiny.yaml")
    data, batch = _batch(identity_dataset, identity=True)
    trainer = Trainer(model_cfg, cfg.updated({"identity_weight": weight}), data.num_videos, DistributedContext())
    assert ("H" in trainer.modules()) == (weight > 0)
    x = trainer._inputs(batch)
    embedding = trainer.E(x["shots"], x["shot_sketches"])
    trainer.opt_g.zero_grad()
    if weight:
        from headshot.train.identity import identity_loss

        loss = identity_loss(trainer.H, embedding, x["shot_identity"])
        assert 0.5 < float(loss.detach()) < 1.5  # 1 - cosine of a random head: about 1
        loss.backward()
        grads = [p.grad for p in trainer.E.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0
    # one full step: E's update differs from the step without the term exactly when the weight is > 0
    torch.manual_seed(0)
    on = Trainer(model_cfg, cfg.updated({"identity_weight": weight, "d_steps_per_g_step": 1}), data.num_videos,
                 DistributedContext())
    torch.manual_seed(0)
    off = Trainer(model_cfg, cfg.updated({"d_steps_per_g_step": 1}), data.num_videos, DistributedContext())
    logged = on.train_step([batch, batch])
    off.train_step([batch, batch])
    moved = max(float((a - b).detach().abs().max()) for a, b in zip(on.E.parameters(), off.E.parameters()))
    assert (moved > 0) == (weight > 0)
    assert ("identity" in logged) == (weight > 0) and 0 <= logged["e_share"] <= 1


def test_init_from_keeps_weights_step_and_adds_a_fresh_head(identity_dataset, tmp_path):
    base = dict(config=REPO / "configs" / "tiny.yaml", data=identity_dataset, progress=False)
    overrides = {"workers": 0, "val_fraction": 0.0, "checkpoint_every": 2, "sample_every": 100}
    train(TrainOptions(run=tmp_path / "a", steps=2, overrides=overrides, **base))
    source = tmp_path / "a" / "checkpoints" / "step_0000002.safetensors"
    trainer = train(TrainOptions(run=tmp_path / "b", steps=3, init_from=source,
                                 overrides={**overrides, "identity_weight": 1.0}, **base))
    assert trainer.step == 3
    modules, _ = read_modules(tmp_path / "b" / "checkpoints" / "step_0000003.safetensors")
    assert "H" in modules and "H" not in read_modules(source)[0]
    with pytest.raises(InputError, match="not found"):
        train(TrainOptions(run=tmp_path / "c", steps=3, init_from=tmp_path / "none.safetensors", overrides=overrides,
                           **base))
