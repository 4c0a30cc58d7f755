"""D learns to tell real images from obviously fake ones through the training code's own D update (issue 14:
D's loss sat at hinge chance for a whole GPU run; this rules out a wiring fault in the update itself)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from headshot.neural.config import ModelConfig
from headshot.neural.discriminator import Discriminator
from headshot.neural.losses import embedding_match_loss, hinge_d_loss
from headshot.train.adversarial import AdversarialUpdate


class _HingeOnly:
    discriminator = staticmethod(hinge_d_loss)


def _patches(image: np.ndarray, count: int, size: int) -> torch.Tensor:
    """``count`` square crops of the portrait (different places and scales), resized to ``size``, in [-1, 1]."""
    tensor = torch.from_numpy(image).permute(2, 0, 1).float().div(127.5).sub(1)[None]
    side = min(image.shape[:2])
    crops = []
    for i in range(count):
        crop = side // 2 + (side // 3) * (i % 3) // 2
        top, left = (i * 37) % (image.shape[0] - crop + 1), (i * 53) % (image.shape[1] - crop + 1)
        patch = tensor[:, :, top:top + crop, left:left + crop]
        crops.append(F.interpolate(patch, size=(size, size), mode="area"))
    return torch.cat(crops)


@pytest.mark.slow
def test_discriminator_update_separates_real_from_blurred(astronaut, one_torch_thread):
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=32, embedding_dim=64, base_channels=8, max_channels=32)
    real = _patches(astronaut, 8, 32)
    blurred = F.avg_pool2d(F.pad(real, (1, 1, 1, 1), mode="replicate"), 3, 1)
    sketch = torch.zeros_like(real)
    videos = torch.arange(8)
    D = Discriminator(cfg, 8)
    optimiser = torch.optim.Adam(D.parameters(), 4e-4, betas=(0.5, 0.999))
    update = AdversarialUpdate(_HingeOnly(), opt_g=None, opt_d=optimiser, discriminator=D)
    critic = lambda images, sketches: D(images, sketches, torch.cat([videos, videos]))
    embeddings = torch.randn(8, 64) * 0.3  # the embedding-match term of the D step, as in meta-learning
    first = None
    for _ in range(100):
        match = 80 * embedding_match_loss(D.W.t()[videos], embeddings)
        _, real_scores, fake_scores = update.dis_update(critic, real, blurred, sketch, match)
        first = first if first is not None else float(real_scores.mean() - fake_scores.mean())
    with torch.no_grad():
        scores, _ = critic(torch.cat([real, blurred]), torch.cat([sketch, sketch]))
    real_scores, fake_scores = scores.chunk(2)
    assert abs(first) < 0.05  # at the start D cannot tell them apart
    assert bool((real_scores > fake_scores).all()), (real_scores, fake_scores)
    assert float(real_scores.mean() - fake_scores.mean()) > 0.05
