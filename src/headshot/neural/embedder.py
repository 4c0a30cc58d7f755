"""The embedder E(x, y) of Zakharov et al. 2019: a frame and its landmark sketch -> identity embedding.

A residual down-sampling network without normalisation (spectral norm on every layer), self-attention at
one resolution, ReLU and global sum pooling. The few-shot embedding is the mean over the K shots:
``e_hat = mean_k E(x_k, y_k)``.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .layers import DownTrunk


# RMS of E's output at initialisation (spectral-norm layers, sum pooling over 4x4; measured on dev frames at
# 128 px, ~0.3). G's projection P and D's W columns are initialised at this scale (generator.py,
# discriminator.py): the embedding-match loss ||W_i - e_i|| then pulls two vectors of the same size
# together instead of shrinking e towards W's tiny initial columns, which silenced the identity path.
EMBEDDING_INIT_RMS = 0.3


class Embedder(nn.Module):
    """E(x, y). Frames and sketches are float ``(B, K, 3, H, W)`` in [-1, 1], ``H = W = cfg.image_size``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.trunk = DownTrunk(
            6, cfg.embedder_channels or cfg.base_channels, cfg.embedder_max_channels or cfg.max_channels,
            cfg.image_size, cfg.attention_resolution, cfg.embedding_dim, spectral=cfg.spectral_norm,
        )

    def per_shot(self, frames: torch.Tensor, sketches: torch.Tensor) -> torch.Tensor:
        """Embeddings of each shot: ``(B, K, D)``."""
        if frames.shape != sketches.shape or frames.dim() != 5:
            raise ValueError(f"frames {tuple(frames.shape)} and sketches {tuple(sketches.shape)} must both "
                             "be (B, K, 3, H, W)")
        b, k = frames.shape[:2]
        x = torch.cat([frames, sketches], dim=2).flatten(0, 1)
        vector, _ = self.trunk(x)
        return vector.view(b, k, -1)

    def forward(self, frames: torch.Tensor, sketches: torch.Tensor) -> torch.Tensor:
        """The few-shot embedding e_hat ``(B, D)``: mean over the K shots of :meth:`per_shot`."""
        return self.per_shot(frames, sketches).mean(dim=1)
