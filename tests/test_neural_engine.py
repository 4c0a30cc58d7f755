"""NeuralEngine on the astronaut with tiny randomly initialised models (no trained weights needed)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from headshot.errors import HeadshotError, MissingModelError
from headshot.neural.checkpoint import load_model, save_model
from headshot.neural.config import ModelConfig, load_config
from headshot.neural.discriminator import Discriminator
from headshot.neural.embedder import Embedder
from headshot.neural.engine import NeuralEngine
from headshot.neural.generator import Generator
from headshot.neural.sketch import sketch_tensor

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def source(astronaut):
    """A 256x200 (non-square on purpose) crop around the astronaut's face, and its landmarks."""
    from headshot.face.landmarker import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        landmarks = analyzer.detect_one(astronaut, what="astronaut").landmarks
    y0, x0 = 0, 125
    crop = np.ascontiguousarray(astronaut[y0:y0 + 256, x0:x0 + 200])
    local = landmarks.copy()
    local[:, 0] -= x0
    local[:, 1] -= y0
    return crop, local


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    cfg, _ = load_config(CONFIGS / "tiny.yaml")
    torch.manual_seed(0)
    generator, embedder = Generator(cfg), Embedder(cfg)
    with torch.no_grad():
        generator.projection.mul_(100)  # make the identity visible in a random network
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    save_model(path, {"generator": generator, "embedder": embedder}, cfg)
    return path


def test_renders_crop_sized_rgb(source, tiny_model):
    crop, landmarks = source
    engine = NeuralEngine(tiny_model)
    with pytest.raises(HeadshotError, match="prepare"):
        engine.render(landmarks)
    engine.prepare(crop, landmarks)
    assert engine.embedding.shape == (1, 32) and engine.psi.shape == (1, engine.generator.psi_dim)
    frame = engine.render(landmarks)
    assert frame.shape == crop.shape and frame.dtype == np.uint8
    assert frame.std() > 1  # not a constant image
    # the rendering follows the target landmarks
    opened = landmarks.copy()
    opened[:, 1] += 6
    assert np.abs(engine.render(opened).astype(int) - frame).mean() > 0.5
    with pytest.raises(HeadshotError):
        engine.render(landmarks[:68])


def test_more_shots_change_the_embedding(source, tiny_model, astronaut):
    crop, landmarks = source
    engine = NeuralEngine(tiny_model)
    engine.prepare(crop, landmarks)
    one_shot = engine.embedding.clone()
    engine.prepare_shots([(np.ascontiguousarray(crop[:, ::-1]), _mirror(landmarks, crop.shape[1]))])
    assert not torch.allclose(engine.embedding, one_shot)
    with pytest.raises(HeadshotError):
        engine.prepare_shots([(crop.astype(np.float32), landmarks)])


def test_person_file_psi_is_used(source, tiny_model, tmp_path):
    crop, landmarks = source
    cfg, _ = load_config(CONFIGS / "tiny.yaml")
    generator = Generator(cfg)
    generator.load_state_dict(load_model(tiny_model).states["generator"])
    psi = torch.randn(1, generator.psi_dim) * 2
    person = save_model(tmp_path / "person.safetensors", {"generator": generator, "psi": psi}, cfg)
    engine = NeuralEngine(person)
    assert engine.embedder is None
    engine.prepare(crop, landmarks)
    assert torch.equal(engine.psi, psi)
    frame = engine.render(landmarks)
    base = NeuralEngine(tiny_model)
    base.prepare(crop, landmarks)
    assert np.abs(base.render(landmarks).astype(int) - frame).mean() > 1
    # a psi of the wrong length (another base model) is a user error, not a crash
    wrong = save_model(tmp_path / "wrong.safetensors", {"psi": torch.zeros(1, 7)}, cfg)
    with pytest.raises(HeadshotError, match="psi"):
        NeuralEngine(tiny_model, person_path=wrong)
    # the person file on top of a meta-learned model overrides its identity
    combined = NeuralEngine(tiny_model, person_path=person)
    combined.prepare(crop, landmarks)
    assert np.array_equal(combined.render(landmarks), frame)


def test_feed_forward_person_file_uses_its_base_model(source, tiny_model, tmp_path):
    crop, landmarks = source
    base = NeuralEngine(tiny_model)
    base.prepare(crop, landmarks)
    cfg = base.config
    psi = base.psi * -1
    person = save_model(tmp_path / "ff.safetensors", {"psi": psi}, cfg, {"base_model": str(tiny_model)})
    engine = NeuralEngine(person, backend="torch")
    engine.prepare(crop, landmarks)
    assert torch.equal(engine.psi, psi)
    frame = engine.render(landmarks)
    assert np.abs(frame.astype(int) - base.render(landmarks)).mean() > 1
    with torch.inference_mode():
        sketch = sketch_tensor(landmarks, cfg.image_size, cfg.sketch, crop.shape[:2])[None]
        expected = base.generator.forward_with_psi(sketch, psi)[0]
    expected = ((expected.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    expected = cv2.resize(expected, crop.shape[1::-1], interpolation=cv2.INTER_CUBIC)
    assert np.array_equal(frame, expected)


def test_onnx_backend_matches_torch(source, tiny_model):
    from headshot.neural.runtime import OnnxGenerator

    crop, landmarks = source
    frames = {}
    for backend in ("torch", "onnx"):
        engine = NeuralEngine(tiny_model, backend=backend)
        engine.prepare(crop, landmarks)
        assert isinstance(engine.runner, OnnxGenerator) == (backend == "onnx")
        frames[backend] = engine.render(landmarks).astype(int)
    assert np.abs(frames["torch"] - frames["onnx"]).max() <= 2
    assert frames["onnx"].std() > 1
    with pytest.raises(HeadshotError, match="backend"):
        NeuralEngine(tiny_model, backend="tensorrt")


def test_finetune_fits_the_shots(source, tmp_path):
    """In-memory FT: train/ tunes the engine's base model on the shots and hands the engine G′ and ψ′."""
    from headshot.train.finetune import finetune_engine

    crop, landmarks = source
    cfg, _ = load_config(CONFIGS / "tiny.yaml")
    torch.manual_seed(0)
    path = save_model(tmp_path / "base.safetensors", {"generator": Generator(cfg), "embedder": Embedder(cfg),
                                                      "discriminator": Discriminator(cfg, 3)}, cfg)
    engine = NeuralEngine(path)
    with pytest.raises(HeadshotError, match="prepare"):
        finetune_engine(engine, [(crop, landmarks)])
    engine.prepare(crop, landmarks)
    with pytest.raises(HeadshotError, match="at least one shot"):
        finetune_engine(engine, [])
    before = np.abs(engine.render(landmarks).astype(float) - crop).mean()
    psi_before = engine.psi.clone()
    losses = finetune_engine(engine, [(crop, landmarks)], steps=10, lr=3e-3)
    assert len(losses) == 10 and not torch.equal(engine.psi, psi_before)
    after = np.abs(engine.render(landmarks).astype(float) - crop).mean()
    assert after < 0.6 * before, (before, after)
    engine.prepare(crop, landmarks)  # the fine-tuned person stays
    assert np.abs(engine.render(landmarks).astype(float) - crop).mean() == after


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    from headshot.neural import checkpoint

    monkeypatch.setattr(checkpoint, "DEFAULT_MODEL_PATH", tmp_path / "neural_default.safetensors")
    with pytest.raises(MissingModelError, match="default neural model"):
        NeuralEngine()


def test_default_size_model_renders_256(source):
    cfg = ModelConfig()
    engine = NeuralEngine.from_modules(Generator(cfg), Embedder(cfg))
    crop, landmarks = source
    crop256 = cv2.resize(crop, (256, 256))
    local = landmarks.copy()
    local[:, 0] *= 256 / crop.shape[1]
    local[:, 1] *= 256 / crop.shape[0]
    engine.prepare(crop256, local)
    frame = engine.render(local)
    assert frame.shape == (256, 256, 3) and frame.dtype == np.uint8


def test_warp_guided_engine(source, tmp_path):
    pytest.importorskip("headshot.render.warp")
    crop, landmarks = source
    crop = np.ascontiguousarray(crop[:200])  # the warp engine takes square crops
    base, _ = load_config(CONFIGS / "tiny.yaml")
    cfg = ModelConfig(**{**base.__dict__, "generator_input": "warp-guided", "skip_connections": True})
    path = save_model(tmp_path / "wg.safetensors", {"generator": Generator(cfg), "embedder": Embedder(cfg)}, cfg)
    engine = NeuralEngine(path)
    engine.prepare(crop, landmarks)
    frame = engine.render(landmarks)
    assert frame.shape == crop.shape and frame.dtype == np.uint8
    # at init the blend mask is ~0.88: the output is mostly the warp engine's image (here: the source)
    assert np.corrcoef(frame.reshape(-1).astype(float), crop.reshape(-1).astype(float))[0, 1] > 0.8


def _mirror(landmarks: np.ndarray, width: int) -> np.ndarray:
    mirrored = landmarks.copy()
    mirrored[:, 0] = width - 1 - mirrored[:, 0]
    return mirrored


def test_warp_guided_blend_is_at_the_crop_resolution(source, tmp_path):
    """The blend with the warp is made at the crop's size: with the mask at 1 the output IS the warp's
    full-resolution image (not the warp shrunk to 128 px and blown up again)."""
    from headshot.render.warp import WarpEngine

    crop, landmarks = source
    crop = np.ascontiguousarray(crop[:200])
    base, _ = load_config(CONFIGS / "tiny.yaml")
    cfg = ModelConfig(**{**base.__dict__, "generator_input": "warp-guided", "skip_connections": True})
    generator = Generator(cfg)
    with torch.no_grad():
        generator.out_conv.bias[3] = 40.0  # mask = 1: take the guide everywhere
    path = save_model(tmp_path / "wg.safetensors", {"generator": generator, "embedder": Embedder(cfg)}, cfg)
    engine = NeuralEngine(path, backend="torch")
    engine.prepare(crop, landmarks)
    moved = landmarks.copy()
    moved[:, 1] += 3
    warp = WarpEngine()
    warp.prepare(crop, landmarks)
    expected = warp.render(moved)
    frame = engine.render(moved)
    assert np.abs(frame.astype(int) - expected).max() <= 1
    # the ONNX runtime blends the same way
    onnx = NeuralEngine(path, backend="onnx")
    onnx.prepare(crop, landmarks)
    assert np.abs(onnx.render(moved).astype(int) - expected).max() <= 1
