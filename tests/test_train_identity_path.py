"""The identity path survives meta-learning (issue 14): W's columns start at E's embeddings, L_MCH is a G-step
term only, so psi = P e keeps its size and D still learns real from generated. With the earlier recipe (random
W columns, L_MCH also in D's step) e and psi shrink ~10x within a few steps: the H200 run's dead identity path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from headshot.neural.config import load_config
from headshot.train.dataset import EpisodeDataset, EpisodeSampler
from headshot.train.distributed import DistributedContext
from headshot.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(two_clip_dataset) -> EpisodeDataset:
    return EpisodeDataset(two_clip_dataset, shots=2, split="all")


def _trainer(dataset: EpisodeDataset, **recipe) -> Trainer:
    model_cfg, cfg = load_config(REPO / "configs" / "tiny.yaml")
    cfg = cfg.updated({"lr_generator": 2.5e-4, "lr_discriminator": 1e-3, "d_steps_per_g_step": 1,
                       "embedding_match_weight": 80.0, **recipe})
    trainer = Trainer(model_cfg, cfg, dataset.num_videos, DistributedContext())
    if cfg.seed_w_from_embeddings:
        trainer.seed_w_columns(dataset, cfg.seed)
    return trainer


def _train(trainer: Trainer, dataset: EpisodeDataset, steps: int) -> tuple[list[float], list[float]]:
    """psi RMS and D's mean real-minus-generated score at each step."""
    batches = iter(torch.utils.data.DataLoader(dataset, batch_size=4, sampler=EpisodeSampler(len(dataset), 0)))
    psi, gap = [], []
    for _ in range(steps):
        logged = trainer.train_step([next(batches), next(batches)])
        psi.append(logged["psi_rms"])
        gap.append(logged["real_score"] - logged["fake_score"])
    return psi, gap


def test_w_columns_start_at_the_embeddings_of_their_videos(dataset):
    trainer = _trainer(dataset)
    item = dataset[(0, 0)]
    with torch.no_grad():
        embedding = trainer.E.eval()(item["shots"][None], item["shot_sketches"][None])[0]
    column = trainer.D.W[:, int(item["video_index"])]
    assert torch.allclose(column, embedding, rtol=1e-4, atol=1e-4)
    other = trainer.D.W[:, 1 - int(item["video_index"])]
    assert not torch.allclose(column, other, atol=1e-3)  # each video its own column


@pytest.mark.slow
def test_psi_keeps_its_size_and_d_separates(dataset):
    torch.manual_seed(0)
    psi, gap = _train(_trainer(dataset), dataset, 30)
    assert min(psi[-5:]) > 0.7 * psi[0], psi  # the identity path stays alive
    assert sum(gap[-10:]) / 10 > 0.02, gap  # D scores real targets above G's output
    torch.manual_seed(0)
    old_psi, _ = _train(_trainer(dataset, embedding_match_in_d=True, seed_w_from_embeddings=False), dataset, 30)
    assert max(old_psi[-5:]) < 0.3 * old_psi[0], old_psi  # the earlier recipe: psi collapses
