"""The projection discriminator D(x, y, i) of Zakharov et al. 2019 (after Miyato & Koyama 2018).

A residual down-sampling trunk V(x, y) over the image concatenated with its landmark sketch (no
normalisation, spectral norm, self-attention, an extra residual block at 4x4, ReLU, sum pooling) gives a
vector; the realism score is ``r = V(x, y)^T (W_i + w0) + b`` with one column ``W_i`` per training video.
W's columns are also pulled towards the embedder's outputs by the embedding-match loss; in fine-tuning
on a new person, ``w' = w0 + e_new`` replaces ``W_i + w0`` (:meth:`Discriminator.forward_with_w`).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig
from .embedder import EMBEDDING_INIT_RMS
from .layers import DownTrunk


class Discriminator(nn.Module):
    """D(x, y, i). Images and sketches are float ``(B, 3, H, W)`` in [-1, 1]; video indices ``(B,)`` long.

    Attributes:
        W: ``(embedding_dim, num_videos)``, one column per training video.
        w0: ``(embedding_dim,)``, shared by all videos.
        b: scalar bias.
    """

    def __init__(self, cfg: ModelConfig, num_videos: int):
        super().__init__()
        if num_videos < 1:
            raise ValueError(f"num_videos must be >= 1, got {num_videos}")
        self.cfg = cfg
        self.trunk = DownTrunk(
            6, cfg.discriminator_channels or cfg.base_channels,
            cfg.discriminator_max_channels or cfg.max_channels, cfg.image_size, cfg.attention_resolution,
            cfg.embedding_dim, extra_block=True, spectral=cfg.spectral_norm,
        )
        # W's columns start at the embeddings' scale (see embedder.EMBEDDING_INIT_RMS).
        self.W = nn.Parameter(torch.randn(cfg.embedding_dim, num_videos) * EMBEDDING_INIT_RMS)
        self.w0 = nn.Parameter(torch.zeros(cfg.embedding_dim))
        self.b = nn.Parameter(torch.zeros(()))

    @property
    def num_videos(self) -> int:
        return self.W.shape[1]

    def add_videos(self, count: int) -> None:
        """Append ``count`` new columns to W (e.g. a dataset grew); existing columns are kept.

        W becomes a new Parameter: build (or rebuild) D's optimiser and DDP wrapper afterwards."""
        extra = torch.randn(self.W.shape[0], count, device=self.W.device, dtype=self.W.dtype) * EMBEDDING_INIT_RMS
        self.W = nn.Parameter(torch.cat([self.W.data, extra], dim=1))

    def features(self, image: torch.Tensor, sketch: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(V(x, y) (B, D), activations)`` where activations are every trunk block's output."""
        return self.trunk(torch.cat([image, sketch], dim=1))

    def forward(self, image: torch.Tensor, sketch: torch.Tensor,
                video_index: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Realism ``(B,)`` of images of videos ``video_index`` and the trunk activations."""
        w = self.W.t()[video_index] + self.w0
        return self.forward_with_w(image, sketch, w)

    def forward_with_w(self, image: torch.Tensor, sketch: torch.Tensor,
                       w: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Realism with the projection vector given directly: ``r = V^T w + b`` with ``w (B or 1, D)``
        (fine-tuning passes ``w' = w0 + e_new``; no w0 is added here)."""
        vector, activations = self.features(image, sketch)
        return (vector * w).sum(dim=1) + self.b, activations
