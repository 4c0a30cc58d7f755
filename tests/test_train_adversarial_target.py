"""``adversarial_target``: what D judges as generated for a warp-guided G (issue 14). ``output`` (default):
the blended output ``m * guide + (1 - m) * painting``; ``painting``: G's own RGB before the blend, in D's step,
in G's adversarial and feature-matching terms and in fine-tuning; the content/L1 terms stay on the output."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from headshot.neural.config import ConfigError, TrainConfig, load_config
from headshot.neural.discriminator import Discriminator
from headshot.neural.generator import Generator, composite
from headshot.train.dataset import EpisodeDataset, EpisodeSampler
from headshot.train.distributed import DistributedContext
from headshot.train.trainer import Trainer, export_model

REPO = Path(__file__).resolve().parents[1]
CLIP = "aoc__EDTalk__pose_source1"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_key_is_validated(tmp_path):
    assert TrainConfig().adversarial_target == "output"  # the shipped behaviour
    assert TrainConfig.from_dict({"adversarial_target": "painting"}).adversarial_target == "painting"
    with pytest.raises(ConfigError, match="adversarial_target.*'paint'"):
        TrainConfig.from_dict({"adversarial_target": "paint"})
    with pytest.raises(ConfigError, match="adversarial_target"):
        TrainConfig().updated({"adversarial_target": 1})
    typo = tmp_path / "typo.yaml"
    typo.write_text((REPO / "configs" / "tiny.yaml").read_text() + "  adversarial_targets: painting\n")
    with pytest.raises(ConfigError, match="unknown train config key 'adversarial_targets'"):
        load_config(typo)
    for name in ("default_cpu.yaml", "tiny.yaml", "warp_guided.yaml"):  # shipped configs keep the default
        assert load_config(REPO / "configs" / name)[1].adversarial_target == "output"


@pytest.fixture(scope="module")
def setup(two_clip_dataset):
    model_cfg, cfg = load_config(REPO / "configs" / "tiny.yaml")
    model_cfg = dataclasses.replace(model_cfg, generator_input="warp-guided")
    dataset = EpisodeDataset(two_clip_dataset, shots=2, split="all", warp_guided=True)
    loader = torch.utils.data.DataLoader(dataset, batch_size=2, sampler=EpisodeSampler(len(dataset), 0))
    batches = iter(loader)
    return model_cfg, cfg.updated({"d_steps_per_g_step": 1}), dataset, [next(batches), next(batches)]


class _Recorder:
    """Wraps a network's call and keeps what it was given / returned."""

    def __init__(self, module):
        self.module, self.seen = module, []

    def __call__(self, *args, **kwargs):
        result = self.module(*args, **kwargs)
        self.seen.append((args, kwargs, result))
        return result


def _recorded_step(setup, target: str):
    """One train step; returns (G's recorded calls, D's recorded calls, logged values, guides of the batches)."""
    model_cfg, cfg, dataset, batches = setup
    torch.manual_seed(0)
    trainer = Trainer(model_cfg, cfg.updated({"adversarial_target": target}), dataset.num_videos,
                      DistributedContext())
    trainer.G_ddp, trainer.D_ddp = _Recorder(trainer.G_ddp), _Recorder(trainer.D_ddp)
    logged = trainer.train_step(batches)
    return trainer.G_ddp.seen, trainer.D_ddp.seen, logged, batches


@pytest.mark.parametrize("target", ["output", "painting"])
def test_d_judges_the_configured_image(setup, target):
    g_calls, d_calls, logged, batches = _recorded_step(setup, target)
    assert len(g_calls) == 2 and len(d_calls) == 2  # D step, then G step
    for step, ((_, g_kwargs, g_out), (d_args, _, _), batch) in enumerate(zip(g_calls, d_calls, batches)):
        guide = batch["guide"]
        count = guide.shape[0]  # D's step scores cat([real, generated]), G's cat([generated, real])
        judged = d_args[0][count:] if step == 0 else d_args[0][:count]
        if target == "painting":
            assert g_kwargs["parts"] and g_out.shape[1] == 4
            painting, output = g_out[:, :3], composite(g_out, guide)
            assert torch.equal(judged.detach(), painting.detach())
            # the painting is not the blend (a test handing D the output fails here)
            assert (output - painting).abs().mean() > 0.05
        else:
            assert not g_kwargs["parts"] and g_out.shape[1] == 3
            output = g_out
            assert torch.equal(judged.detach(), output.detach())
    # the content/L1 terms compare the blended output (the G step's) with the target, whichever D judges
    expected_l1 = float((output.detach() - batches[-1]["target"]).abs().mean())
    assert logged["l1_to_target"] == pytest.approx(expected_l1, rel=1e-5)
    assert logged["l1"] == pytest.approx(expected_l1, rel=1e-4)


def test_parts_blend_to_the_default_output(setup):
    """Inference is unchanged: ``composite(G(parts=True), guide)`` is G's output."""
    model_cfg, _, _, batches = setup
    torch.manual_seed(0)
    generator = Generator(model_cfg).eval()
    batch = batches[0]
    embedding = torch.randn(batch["guide"].shape[0], model_cfg.embedding_dim) * 0.1
    with torch.no_grad():
        output = generator(batch["target_sketch"], embedding, batch["guide"])
        parts = generator(batch["target_sketch"], embedding, batch["guide"], parts=True)
    assert torch.equal(composite(parts, batch["guide"]), output)


def _shards(dataset_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    with np.load(dataset_dir / "shards" / f"{CLIP}.npz", allow_pickle=False) as shard:
        jpeg, offsets, landmarks = shard["jpeg"], shard["offsets"], shard["landmarks"]
    crops = [cv2.cvtColor(cv2.imdecode(jpeg[offsets[i]:offsets[i + 1]], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
             for i in range(len(offsets) - 1)]
    return np.stack(crops), landmarks


@pytest.mark.parametrize("target", ["output", "painting"])
def test_finetuning_judges_the_configured_image(setup, two_clip_dataset, tmp_path, monkeypatch, target):
    from headshot.neural.checkpoint import load_model
    from headshot.train.finetune import finetune_networks

    model_cfg, cfg, dataset, _ = setup
    export_model(Trainer(model_cfg, cfg, dataset.num_videos, DistributedContext()), tmp_path / "m.safetensors")
    crops, landmarks = _shards(two_clip_dataset)
    generated, judged = [], []
    forward_with_psi, forward_with_w = Generator.forward_with_psi, Discriminator.forward_with_w

    def record_g(self, *args, **kwargs):
        out = forward_with_psi(self, *args, **kwargs)
        generated.append((args[2], out))  # (guide, result)
        return out

    def record_d(self, images, *args, **kwargs):
        judged.append(images)
        return forward_with_w(self, images, *args, **kwargs)

    monkeypatch.setattr(Generator, "forward_with_psi", record_g)
    monkeypatch.setattr(Discriminator, "forward_with_w", record_d)
    finetune_networks(load_model(tmp_path / "m.safetensors"), crops[:2], landmarks[:2], steps=1, lr=1e-4,
                      train_cfg={"adversarial_target": target})
    assert len(generated) == 2 and len(judged) == 2  # D′ step, then G′ step
    for step, ((guide, out), images) in enumerate(zip(generated, judged)):
        count = guide.shape[0]  # D′'s step scores cat([real, generated]), G′'s cat([generated, real])
        image = images[count:] if step == 0 else images[:count]
        expected = out[:, :3] if target == "painting" else out
        assert out.shape[1] == (4 if target == "painting" else 3)
        assert torch.equal(image.detach(), expected.detach())
        if target == "painting":
            assert (composite(out, guide) - out[:, :3]).abs().mean() > 0.05


def test_an_exported_model_records_its_training_configuration(setup, tmp_path):
    """Every exported model carries the trainer's ``train_config`` without being asked: fine-tuning reads its
    loss settings there and would silently take the defaults without it."""
    from headshot.neural.checkpoint import load_model
    from headshot.train.finetune import train_config_of

    model_cfg, cfg, dataset, _ = setup
    path = export_model(Trainer(model_cfg, cfg, dataset.num_videos, DistributedContext()), tmp_path / "m.safetensors")
    assert "train_config" in load_model(path).metadata
    assert train_config_of(load_model(path)) == cfg
