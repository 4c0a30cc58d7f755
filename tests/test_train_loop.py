"""The meta-learning loop on real dev clips (tiny config, CPU): overfit, exact resume, 2-process DDP."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "configs" / "tiny.yaml"
FAST = {"log_every": 1, "sample_every": 1000, "checkpoint_every": 1000, "workers": 0}


@pytest.fixture(scope="module")
def dataset_dir(two_clip_dataset) -> Path:
    return two_clip_dataset


def _state(trainer) -> dict[str, torch.Tensor]:
    state = {}
    for name, module in trainer.modules().items():
        state.update({f"{name}.{k}": v.detach().clone() for k, v in module.state_dict().items()})
    return state


@pytest.mark.slow
def test_overfit_one_clip_halves_l1(dataset_dir):
    """One clip, four frames: L1 between G's output and the targets falls by at least half."""
    from headshot.neural.config import load_config
    from headshot.train.dataset import EpisodeDataset, EpisodeSampler
    from headshot.train.distributed import DistributedContext
    from headshot.train.trainer import Trainer

    torch.set_num_threads(2)
    model_cfg, cfg = load_config(TINY)
    cfg = cfg.updated({"lr_generator": 1e-3, "lr_discriminator": 1e-3, "d_steps_per_g_step": 1})
    dataset = EpisodeDataset(dataset_dir, shots=2, split="all", clips=["aoc__EDTalk__pose_source1"], max_frames=4)
    trainer = Trainer(model_cfg, cfg, dataset.num_videos, DistributedContext())
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=EpisodeSampler(len(dataset), seed=1))
    fixed = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4, sampler=EpisodeSampler(1, seed=99))))

    def l1() -> float:
        return float((trainer.render(fixed, ema=False) - fixed["target"]).abs().mean())

    before = l1()
    batches = iter(loader)
    for _ in range(20):
        trainer.train_step([next(batches), next(batches)])
    after = l1()
    assert after <= 0.5 * before, (before, after)


def test_resume_gives_the_same_next_loss(dataset_dir, tmp_path):
    from headshot.train.loop import TrainOptions, train

    torch.set_num_threads(2)
    common = dict(config=TINY, data=dataset_dir, progress=False, overrides=dict(FAST))
    straight = train(TrainOptions(run=tmp_path / "straight", steps=2, **common))
    train(TrainOptions(run=tmp_path / "split", steps=1, **common))
    with pytest.raises(Exception, match="already has checkpoints"):
        train(TrainOptions(run=tmp_path / "split", steps=2, **common))
    resumed = train(TrainOptions(run=tmp_path / "split", steps=2, resume=True, **common))
    assert resumed.step == straight.step == 2

    def losses(run):
        with open(run / "metrics.csv") as handle:
            return [(row["step"], row["g_loss"], row["d_loss"]) for row in csv.DictReader(handle)]

    assert losses(tmp_path / "straight") == losses(tmp_path / "split")
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[key], b[key]) for key in a)
    # the run folder has what the docs promise
    run = tmp_path / "split"
    for name in ("config.yaml", "log.txt", "metrics.csv", "losses.png", "model.safetensors"):
        assert (run / name).is_file(), name
    assert len(list((run / "samples").glob("*.png"))) >= 1
    assert len(list((run / "tensorboard").iterdir())) >= 1


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _ddp_worker(rank: int, world_size: int, port: int, dataset_dir: str, run: str, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "LOCAL_RANK": str(rank), "WORLD_SIZE": str(world_size)})
    torch.set_num_threads(1)
    from safetensors.torch import save_file

    from headshot.train.loop import TrainOptions, train

    trainer = train(TrainOptions(config=TINY, data=dataset_dir, run=run, steps=2, progress=False,
                                 overrides=dict(FAST)))
    save_file({k: v.contiguous() for k, v in _state(trainer).items()}, f"{out}/rank{rank}.safetensors")


def test_two_process_ddp_keeps_replicas_identical(dataset_dir, tmp_path):
    from safetensors.torch import load_file

    import torch.multiprocessing as mp

    mp.spawn(_ddp_worker, args=(2, _free_port(), str(dataset_dir), str(tmp_path / "run"), str(tmp_path)),
             nprocs=2, join=True)
    rank0, rank1 = (load_file(str(tmp_path / f"rank{r}.safetensors")) for r in range(2))
    assert rank0.keys() == rank1.keys()
    different = [key for key in rank0 if not torch.equal(rank0[key], rank1[key])]
    assert not different, different[:5]
    # and training did move the weights (both ranks' gradients were averaged, not ignored)
    from headshot.neural.config import load_config
    from headshot.train.distributed import DistributedContext
    from headshot.train.trainer import Trainer

    model_cfg, cfg = load_config(TINY)
    fresh = _state(Trainer(model_cfg, cfg, 1, DistributedContext()))
    key = next(k for k in rank0 if k.startswith("G.") and k.endswith("original"))
    assert not torch.equal(fresh[key], rank0[key])
    with open(tmp_path / "run" / "log.txt") as handle:
        log = handle.read()
    assert "rank 0 of 2" in log
    assert "batch 2 (1/rank)" in log  # batch_size is the global batch: each of the 2 ranks takes half


def test_dev_split_file_keeps_its_people_out_of_training(dataset_dir):
    from headshot.train.dataset import EpisodeDataset
    from headshot.train.split import DEV_SPLIT, load_split

    heldout = load_split(DEV_SPLIT)
    assert "aoc" in heldout and "andrew_ng" not in heldout
    train = EpisodeDataset(dataset_dir, shots=2, split="train", heldout=heldout)
    val = EpisodeDataset(dataset_dir, shots=2, split="val", heldout=heldout)
    assert train.identities == ["andrew_ng"] and val.identities == ["aoc"]
