"""Losses: content (MobileNetV2 default, user-supplied VGG), hinge, feature matching, embedding match."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from headshot.errors import HeadshotError
from headshot.neural.config import LossWeights
from headshot.neural.losses import (_VGG19, VGG19_LAYERS, ContentLoss, VGGFeatures, embedding_match_loss,
                                    feature_matching_loss, hinge_d_loss, hinge_g_loss)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def content() -> ContentLoss:
    return ContentLoss("mobilenet", LossWeights(content_mobilenet=1.0))


def test_content_loss_on_real_images(astronaut, content):
    from headshot.neural.sketch import to_tensor

    face = to_tensor(astronaut[20:276, 100:356])[None]
    other = to_tensor(astronaut[256:512, 256:512])[None]
    same = content(face, face)
    assert same.shape == () and float(same) == 0.0
    blurred = F.avg_pool2d(face, 5, 1, 2)
    assert 0 < float(content(blurred, face)) < float(content(other, face))


def test_content_loss_gradient_reaches_generated_only(astronaut, content):
    from headshot.neural.sketch import to_tensor

    real = to_tensor(astronaut[20:148, 100:228])[None].requires_grad_(True)
    generated = (real.detach() * 0.5).requires_grad_(True)
    content(generated, real).backward()
    assert generated.grad.abs().sum() > 0 and real.grad is None
    assert not any(p.requires_grad for p in content.parameters())


def test_vgg_needs_a_user_supplied_file(tmp_path):
    with pytest.raises(HeadshotError, match="vgg19"):
        ContentLoss("vgg19")
    with pytest.raises(HeadshotError, match="not found"):
        ContentLoss("vggface", vggface_weights=tmp_path / "missing.pth")
    with pytest.raises(HeadshotError, match="unknown content network"):
        ContentLoss("lpips")


def test_vgg19_loads_torchvision_layout_from_safetensors(tmp_path):
    from safetensors.torch import save_file

    # A randomly initialised VGG19 in torchvision's key layout stands in for the user's file.
    reference = VGGFeatures.__new__(VGGFeatures)
    torch.nn.Module.__init__(reference)
    state, channels, index = {}, 3, 0
    for item in _VGG19:
        if item == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = torch.randn(item, channels, 3, 3) * 0.05
        state[f"features.{index}.bias"] = torch.zeros(item)
        channels, index = item, index + 2
    path = tmp_path / "vgg19.safetensors"
    save_file(state, str(path))
    loss = ContentLoss("vgg19", LossWeights(content_vgg19=1e-2), vgg19_weights=path)
    features = loss.networks["vgg19"](torch.rand(1, 3, 64, 64) * 2 - 1)
    assert len(features) == len(VGG19_LAYERS)
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    x, y = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    expected = sum(1e-2 * F.l1_loss(a, b) for a, b in zip(loss.networks["vgg19"](x), loss.networks["vgg19"](y)))
    torch.testing.assert_close(loss(x, y), expected)
    broken = tmp_path / "broken.safetensors"
    save_file({"features.0.weight": torch.zeros(1)}, str(broken))
    with pytest.raises(HeadshotError, match="VGG weights"):
        ContentLoss("vgg19", vgg19_weights=broken)


def test_hinge_losses():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-3.0, 0.0])
    # relu(1 - 2) = 0, relu(1 - 0.5) = 0.5 -> 0.25; relu(1 - 3) = 0, relu(1 + 0) = 1 -> 0.5
    assert float(hinge_d_loss(real, fake)) == pytest.approx(0.75)
    assert float(hinge_g_loss(fake)) == pytest.approx(1.5)
    assert float(hinge_d_loss(torch.full((4,), 5.0), torch.full((4,), -5.0))) == 0.0


def test_feature_matching_and_embedding_match():
    acts = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    assert float(feature_matching_loss(acts, [a.clone() for a in acts])) == 0.0
    shifted = [a + 0.5 for a in acts]
    assert float(feature_matching_loss(acts, shifted)) == pytest.approx(1.0)
    w, e = torch.zeros(3, 16), torch.full((3, 16), -2.0)
    assert float(embedding_match_loss(w, e)) == pytest.approx(2.0)
