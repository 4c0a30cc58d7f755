"""E, G, D of the Zakharov et al. system: shapes, AdaIN from P·e, projection D, gradients, spectral norm."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from headshot.neural.config import ConfigError, ModelConfig, load_config
from headshot.neural.discriminator import Discriminator
from headshot.neural.embedder import Embedder
from headshot.neural.generator import Generator
from headshot.neural.layers import SelfAttention, bake_spectral_norm, has_spectral_norm
from headshot.neural.losses import ZakharovLoss, hinge_d_loss
from headshot.neural.config import LossWeights

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture()
def tiny() -> ModelConfig:
    torch.manual_seed(0)
    return load_config(CONFIGS / "tiny.yaml")[0]


def images(batch: int, size: int, shots: int | None = None) -> torch.Tensor:
    shape = (batch, 3, size, size) if shots is None else (batch, shots, 3, size, size)
    return torch.rand(shape) * 2 - 1


@pytest.mark.parametrize("name", sorted(path.stem for path in CONFIGS.glob("*.yaml")))
def test_every_config_loads_and_builds(name):
    cfg, train = load_config(CONFIGS / f"{name}.yaml")
    assert train.feature_matching_weight == 10.0 and train.embedding_match_weight == 80.0
    generator, embedder = Generator(cfg), Embedder(cfg)
    assert generator.projection.shape == (generator.psi_dim, cfg.embedding_dim)
    assert embedder.trunk.head is not None


def test_config_rejects_bad_values(tmp_path):
    with pytest.raises(ConfigError):
        ModelConfig(image_size=100)
    with pytest.raises(ConfigError):
        ModelConfig(generator_input="pixels")
    with pytest.raises(ConfigError, match="attention_resolution"):
        ModelConfig(image_size=128, n_down=2, attention_resolution=16)
    no_attention = ModelConfig(image_size=64, embedding_dim=16, base_channels=4, max_channels=16, n_down=3,
                               attention_resolution=0)
    for network in (Generator(no_attention), Embedder(no_attention), Discriminator(no_attention, 1)):
        assert not any(isinstance(m, SelfAttention) for m in network.modules())
    with_attention = ModelConfig(**{**no_attention.__dict__, "attention_resolution": 16})
    for network in (Generator(with_attention), Embedder(with_attention), Discriminator(with_attention, 1)):
        assert any(isinstance(m, SelfAttention) for m in network.modules())
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  image_sise: 64\n")
    with pytest.raises(ConfigError, match="image_sise"):
        load_config(bad)


def test_shapes_and_dtypes(tiny):
    b, k, size, d = 2, 3, tiny.image_size, tiny.embedding_dim
    embedder, generator, discriminator = Embedder(tiny), Generator(tiny), Discriminator(tiny, num_videos=5)
    embedder.eval()  # in training mode each call runs a spectral-norm power iteration (weights change)
    frames, sketches = images(b, size, k), images(b, size, k)
    per_shot = embedder.per_shot(frames, sketches)
    assert per_shot.shape == (b, k, d) and per_shot.dtype == torch.float32
    embedding = embedder(frames, sketches)
    torch.testing.assert_close(embedding, per_shot.mean(dim=1))
    output = generator(sketches[:, 0], embedding)
    assert output.shape == (b, 3, size, size) and output.dtype == torch.float32
    assert output.abs().max() <= 1
    realism, activations = discriminator(output, sketches[:, 0], torch.tensor([0, 4]))
    assert realism.shape == (b,) and realism.dtype == torch.float32
    assert len(activations) >= 4 and all(a.shape[0] == b for a in activations)


def test_default_config_shapes_at_128():
    cfg = ModelConfig()
    generator = Generator(cfg).eval()
    with torch.no_grad():
        output = generator(images(1, cfg.image_size), torch.randn(1, cfg.embedding_dim))
    assert output.shape == (1, 3, 128, 128)


def test_warp_guided_generator_uses_the_guide(tiny):
    cfg = ModelConfig(**{**tiny.__dict__, "generator_input": "warp-guided", "skip_connections": True})
    generator = Generator(cfg).eval()
    sketch, embedding = images(1, cfg.image_size), torch.randn(1, cfg.embedding_dim)
    with pytest.raises(ValueError, match="guide"):
        generator(sketch, embedding)
    with torch.no_grad():
        first = generator(sketch, embedding, guide=images(1, cfg.image_size))
        second = generator(sketch, embedding, guide=images(1, cfg.image_size))
    assert first.shape == (1, 3, cfg.image_size, cfg.image_size)
    assert (first - second).abs().mean() > 1e-3


def test_adain_parameters_come_from_projection_of_embedding(tiny):
    generator = Generator(tiny).eval()
    sketch, embedding = images(2, tiny.image_size), torch.randn(2, tiny.embedding_dim)
    with torch.no_grad():
        psi = generator.adain_params(embedding)
        torch.testing.assert_close(psi, embedding @ generator.P.t())
        assert psi.shape == (2, generator.psi_dim)
        direct = generator(sketch, embedding)
        via_psi = generator.forward_with_psi(sketch, embedding @ generator.projection.t())
        assert torch.equal(direct, via_psi)
        # A different identity embedding changes the image...
        assert (generator(sketch, torch.randn(2, tiny.embedding_dim)) - direct).abs().mean() > 1e-3
        # ...and so does a different P with the same embedding.
        generator.projection.add_(torch.randn_like(generator.projection) * 0.1)
        assert (generator(sketch, embedding) - direct).abs().mean() > 1e-3
    # psi of one person broadcasts over a batch of sketches
    with torch.no_grad():
        one = generator.forward_with_psi(sketch, psi[:1])
        torch.testing.assert_close(one[0], generator.forward_with_psi(sketch[:1], psi[:1])[0])


def test_discriminator_has_one_column_per_video(tiny):
    for videos in (1, 7, 40):
        discriminator = Discriminator(tiny, num_videos=videos)
        assert discriminator.W.shape == (tiny.embedding_dim, videos)
        assert discriminator.w0.shape == (tiny.embedding_dim,) and discriminator.b.shape == ()
    discriminator = Discriminator(tiny, num_videos=3)
    before = discriminator.W.detach().clone()
    discriminator.add_videos(2)
    assert discriminator.num_videos == 5 and torch.equal(discriminator.W[:, :3], before)


def test_realism_is_projection_on_video_column(tiny):
    discriminator = Discriminator(tiny, num_videos=4).eval()
    with torch.no_grad():
        discriminator.w0.normal_()
        discriminator.b.fill_(0.3)
        image, sketch = images(2, tiny.image_size), images(2, tiny.image_size)
        index = torch.tensor([1, 3])
        realism, _ = discriminator(image, sketch, index)
        vector, _ = discriminator.features(image, sketch)
        expected = (vector * (discriminator.W[:, index].t() + discriminator.w0)).sum(1) + 0.3
        torch.testing.assert_close(realism, expected)
        w = discriminator.W[:, index].t() + discriminator.w0
        torch.testing.assert_close(discriminator.forward_with_w(image, sketch, w)[0], realism)
        other, _ = discriminator(image, sketch, torch.tensor([0, 2]))
        assert not torch.allclose(other, realism)


def test_gradients_reach_embedder_generator_and_discriminator(tiny):
    embedder, generator, discriminator = Embedder(tiny), Generator(tiny), Discriminator(tiny, num_videos=3)
    for module in [*embedder.modules(), *generator.modules(), *discriminator.modules()]:
        if isinstance(module, SelfAttention):  # gate starts at 0, which blocks q/k/v gradients
            nn.init.constant_(module.gate, 0.5)
    frames, sketches = images(2, tiny.image_size, 2), images(2, tiny.image_size, 2)
    target, target_sketch, index = images(2, tiny.image_size), images(2, tiny.image_size), torch.tensor([0, 2])
    embedding = embedder(frames, sketches)
    generated = generator(target_sketch, embedding)
    loss = ZakharovLoss(LossWeights(l1=1.0))
    real_scores, real_acts = discriminator(target, target_sketch, index)
    fake_scores, fake_acts = discriminator(generated, target_sketch, index)
    terms = loss.generator(generated, target, fake_scores, real_acts, fake_acts,
                           discriminator.W.t()[index], embedding)
    assert set(terms.terms) == {"l1", "adversarial", "feature_matching", "embedding_match"}
    (terms.total + hinge_d_loss(real_scores, fake_scores)).backward()
    for name, module in (("E", embedder), ("G", generator), ("D", discriminator)):
        for parameter_name, parameter in module.named_parameters():
            assert parameter.grad is not None, f"{name}.{parameter_name} has no gradient"
            if parameter_name == "W":
                assert parameter.grad[:, [0, 2]].abs().sum() > 0 and parameter.grad[:, 1].abs().sum() == 0
            else:
                assert parameter.grad.abs().sum() > 0, f"{name}.{parameter_name} has a zero gradient"


def test_spectral_norm_everywhere_and_no_transposed_convolutions(tiny):
    for network in (Embedder(tiny), Generator(tiny), Discriminator(tiny, 2)):
        layers = [m for m in network.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        assert layers and all(has_spectral_norm(m) for m in layers)
        assert not any(isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d))
                       for m in network.modules())
    unnormalised = Generator(ModelConfig(**{**tiny.__dict__, "spectral_norm": False}))
    assert not any(has_spectral_norm(m) for m in unnormalised.modules())


def test_spectral_norm_bounds_the_weights_and_baking_keeps_outputs(tiny):
    generator = Generator(tiny)
    generator.train()
    sketch, embedding = images(1, tiny.image_size), torch.randn(1, tiny.embedding_dim)
    for _ in range(20):  # power iterations converge
        generator(sketch, embedding)
    generator.eval()
    for module in generator.modules():
        if isinstance(module, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(module.weight.detach().flatten(1), ord=2)
            assert sigma < 1.05
    with torch.no_grad():
        before = generator(sketch, embedding)
        bake_spectral_norm(generator)
        assert not any(has_spectral_norm(m) for m in generator.modules())
        torch.testing.assert_close(generator(sketch, embedding), before)


def test_identity_path_is_alive_at_initialisation(astronaut):
    """psi = P e starts at a useful scale (AdaIN active) and two people's embeddings give two images."""
    import cv2

    cfg = load_config(CONFIGS / "default_cpu.yaml")[0]
    torch.manual_seed(0)
    embedder, generator = Embedder(cfg).eval(), Generator(cfg).eval()
    size = cfg.image_size
    face = cv2.resize(astronaut[:256, 125:381], (size, size), interpolation=cv2.INTER_AREA)
    face = torch.from_numpy(face).permute(2, 0, 1).float() / 127.5 - 1
    sketch = torch.full((1, 3, size, size), -1.0)
    with torch.no_grad():
        embedding = embedder(face[None, None], sketch[:, None])
        # another "person": an embedding of the same size pointing elsewhere
        embeddings = torch.cat([embedding, embedding[:, torch.randperm(embedding.shape[1])]])
        psi = generator.adain_params(embeddings)
        assert 0.05 < psi.pow(2).mean().sqrt() < 0.6       # not ~1e-3 (inert AdaIN), not exploding
        guide = face[None].expand(2, -1, -1, -1)
        parts = generator.forward_with_psi(sketch.expand(2, -1, -1, -1), psi, guide, parts=True)
    rgb = parts[:, :3]
    # changing e alone changes G's own image clearly (before the blend with the guide)
    assert (rgb[0] - rgb[1]).abs().mean() > 0.02
    # the embedding-match loss pulls W's columns and e together at the same scale
    discriminator = Discriminator(cfg, 4)
    ratio = discriminator.W.pow(2).mean().sqrt() / embeddings.pow(2).mean().sqrt()
    assert 0.3 < ratio < 3
