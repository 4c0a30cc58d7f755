"""The GPU run's pieces (benchmarks/gpu_train.py) and G's gradient checkpointing, on the CPU."""

from __future__ import annotations

import argparse
import dataclasses
import copy
import importlib.util
from pathlib import Path

import pytest
import torch

from headshot.neural.config import load_config
from headshot.neural.generator import Generator
from headshot.train.distributed import DistributedContext
from headshot.train.trainer import Trainer

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _script():
    spec = importlib.util.spec_from_file_location("gpu_train", REPO / "benchmarks" / "gpu_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pieces_hold_every_network_under_the_size_limit_and_read_back(tmp_path, monkeypatch):
    script = _script()
    monkeypatch.setattr(script, "PIECE_BYTES", 200_000)  # the tiny model in several pieces
    model_cfg, cfg = load_config(REPO / "configs" / "tiny.yaml")
    cfg = dataclasses.replace(cfg, identity_weight=100.0)  # the identity head H travels too
    trainer = Trainer(model_cfg, cfg, 3, DistributedContext())
    assert "H" in trainer.modules()
    trainer.step = 7
    paths = script.write_pieces(trainer, tmp_path, {"videos": ["a", "b", "c"], "position": 21})
    assert len(paths) > 1 and all(p.stat().st_size <= 200_000 + 20_000 for p in paths)
    states, step, extra = script.read_pieces(tmp_path)
    assert step == 7 and extra["videos"] == ["a", "b", "c"]
    for name, module in trainer.modules().items():
        fresh = copy.deepcopy(module)
        fresh.load_state_dict(states[name], strict=True)  # float16 pieces into float32 networks
        for key, value in module.state_dict().items():
            assert torch.allclose(fresh.state_dict()[key].float(), value.float(), rtol=1e-3, atol=1e-3), key
    paths[-1].unlink()
    with pytest.raises(Exception, match="pieces"):
        script.read_pieces(tmp_path)


def test_gradient_checkpointing_gives_the_same_gradients():
    cfg = load_config(REPO / "configs" / "default_cpu.yaml")[0]
    torch.manual_seed(0)
    plain = Generator(cfg).train()
    checkpointed = copy.deepcopy(plain)
    checkpointed.checkpointing = True
    sketch, guide = torch.rand(2, 3, 128, 128) * 2 - 1, torch.rand(2, 3, 128, 128) * 2 - 1
    embedding = torch.randn(2, cfg.embedding_dim) * 0.3
    grads = []
    for generator in (plain, checkpointed):
        generator(sketch, embedding, guide).square().mean().backward()
        grads.append(generator.projection.grad.clone())
    # equal up to the extra power iteration spectral norm runs when the blocks are recomputed
    assert torch.allclose(grads[0], grads[1], rtol=0.05, atol=1e-6)
    assert grads[0].abs().max() > 0


def test_unpacking_refuses_a_config_that_judges_another_image(tmp_path, two_clip_dataset):
    """Pieces of a run whose D judged G's painting, unpacked with a config that says ``output``, would resume
    quietly as another experiment: refused with the key named."""
    from headshot.errors import InputError

    script = _script()
    model_cfg, cfg = load_config(REPO / "configs" / "tiny.yaml")
    trainer = Trainer(model_cfg, cfg, 2, DistributedContext())
    train_config = dict(cfg.to_dict(), adversarial_target="painting")
    script.write_pieces(trainer, tmp_path / "pieces", {"videos": [], "position": 0, "train_config": train_config})
    args = argparse.Namespace(pieces=tmp_path / "pieces", run=tmp_path / "run", config=REPO / "configs" / "tiny.yaml",
                              data=two_clip_dataset)
    with pytest.raises(InputError, match="adversarial_target: painting"):
        script.unpack(args)


def test_the_unpacked_model_records_the_configuration_the_gpu_trained_with(tmp_path, two_clip_dataset):
    """``headshot finetune`` and the eval's FT rows take their loss settings from the model file's
    ``train_config``: after unpacking it must be the GPU run's (from the pieces), not the CPU config's."""
    import time

    from headshot.neural.checkpoint import load_model
    from headshot.train.finetune import train_config_of
    from headshot.train.loop import TrainOptions, _Run

    script = _script()
    config = REPO / "configs" / "tiny.yaml"
    probe = _Run(TrainOptions(config=config, data=two_clip_dataset, run=tmp_path / "probe", progress=False,
                              workers=0), DistributedContext(), time.monotonic())
    videos = probe.dataset.videos
    trainer = Trainer(probe.model_cfg, probe.cfg, len(videos), DistributedContext())
    trained = dict(probe.cfg.to_dict(), finetune_lr=3.0e-4, identity_weight=100.0, batch_size=48)
    script.write_pieces(trainer, tmp_path / "pieces", {"videos": videos, "position": 0, "train_config": trained})
    script.unpack(argparse.Namespace(pieces=tmp_path / "pieces", run=tmp_path / "run", config=config,
                                     data=two_clip_dataset))
    recorded = train_config_of(load_model(tmp_path / "run" / "model.safetensors"))
    assert recorded.finetune_lr == pytest.approx(3.0e-4) and recorded.batch_size == 48
    assert recorded.identity_weight == 100.0 and probe.cfg.finetune_lr != pytest.approx(3.0e-4)
