"""Model files: safetensors + config JSON, bit-exact round trip, no pickle."""

from __future__ import annotations

import json
import pickle
import struct
from pathlib import Path

import pytest
import torch

from headshot.errors import HeadshotError
from headshot.neural.checkpoint import load_model, read_config, save_model
from headshot.neural.config import load_config
from headshot.neural.discriminator import Discriminator
from headshot.neural.embedder import Embedder
from headshot.neural.generator import Generator

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _train_a_little(*modules):
    # A few power iterations so that the spectral-norm buffers (u, v) differ from their initial values.
    for module in modules:
        module.train()
    cfg = modules[0].cfg
    x = torch.rand(1, 3, cfg.image_size, cfg.image_size) * 2 - 1
    modules[0](x, torch.randn(1, cfg.embedding_dim))


def test_round_trip_is_bit_exact_and_needs_no_pickle(tmp_path, monkeypatch):
    cfg, _ = load_config(CONFIGS / "tiny.yaml")
    torch.manual_seed(1)
    generator, embedder, discriminator = Generator(cfg), Embedder(cfg), Discriminator(cfg, num_videos=6)
    _train_a_little(generator)
    psi = torch.randn(1, generator.psi_dim)
    path = save_model(tmp_path / "model.safetensors",
                      {"generator": generator, "embedder": embedder, "discriminator": discriminator, "psi": psi},
                      cfg, {"step": 12, "num_videos": 6, "note": "unit test"})
    assert path.is_file() and not list(tmp_path.glob("*.tmp"))

    # safetensors layout: 8-byte little-endian header length, then a JSON header
    raw = path.read_bytes()
    header = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])
    assert header["__metadata__"]["format"] == "headshot-neural/1"

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a model file")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    loaded = load_model(path)
    assert loaded.config == cfg and read_config(path) == cfg
    assert loaded.metadata == {"step": 12, "num_videos": 6, "note": "unit test"}
    assert torch.equal(loaded.tensors["psi"], psi)

    for name, original, fresh in (("generator", generator, Generator(cfg)), ("embedder", embedder, Embedder(cfg)),
                                  ("discriminator", discriminator, Discriminator(cfg, num_videos=6))):
        loaded.load_into(name, fresh)
        reference = original.state_dict()
        restored = fresh.state_dict()
        assert reference.keys() == restored.keys()
        for key in reference:
            assert torch.equal(reference[key], restored[key]), f"{name}.{key} differs"
    fresh_generator = Generator(cfg)
    loaded.load_into("generator", fresh_generator)
    generator.eval(), fresh_generator.eval()
    x, e = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, cfg.embedding_dim)
    with torch.no_grad():
        assert torch.equal(generator(x, e), fresh_generator(x, e))


def test_bad_files_are_user_errors(tmp_path):
    with pytest.raises(HeadshotError, match="not found"):
        load_model(tmp_path / "nope.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"this is not a model")
    with pytest.raises(HeadshotError):
        load_model(junk)
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"x": torch.zeros(2)}, str(foreign))
    with pytest.raises(HeadshotError, match="not a headshot"):
        load_model(foreign)
    cfg, _ = load_config(CONFIGS / "tiny.yaml")
    save_model(tmp_path / "g.safetensors", {"generator": Generator(cfg)}, cfg)
    with pytest.raises(HeadshotError, match="no 'embedder'"):
        load_model(tmp_path / "g.safetensors").load_into("embedder", Embedder(cfg))
    bigger = type(cfg)(**{**cfg.__dict__, "base_channels": 16})
    with pytest.raises(HeadshotError, match="does not fit"):
        load_model(tmp_path / "g.safetensors").load_into("generator", Generator(bigger))
