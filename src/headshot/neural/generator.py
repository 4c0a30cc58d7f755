"""The generator G(y, e) of Zakharov et al. 2019: landmark sketch + identity embedding -> image.

An image-to-image residual network: a stem convolution, down-sampling residual blocks with instance
norm, residual blocks at the bottleneck, up-sampling residual blocks (nearest up-sampling + convolution,
never transposed convolutions) with adaptive instance norm, self-attention at one resolution on each
path, spectral norm on every convolution. All AdaIN scales and biases psi come from the embedding through
one learned projection matrix P: ``psi = e @ P^T`` (the paper's ``psi = P e``), so that fine-tuning can
start from ``psi' = P e_new`` and treat psi' as free parameters (:meth:`Generator.forward_with_psi`).

``warp-guided`` input (our extension): G also sees the warp engine's rendering of the source for the
target frame ("guide") and outputs ``m * guide + (1 - m) * rgb`` with a predicted blend mask m (near
0.88 at initialisation), so it learns the corrections (mouth interior, disocclusions, shading) instead
of the whole face.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .config import ModelConfig
from .embedder import EMBEDDING_INIT_RMS
from .layers import (AdaptiveInstanceNorm, ResBlock, ResBlockDown, ResBlockUp, SelfAttention,
                     channel_schedule, conv3x3)

MASK_BIAS_INIT = 2.0  # warp-guided: initial logit of the blend mask towards the guide
# Initial scale of P: psi = P e starts with this RMS for an embedding of RMS EMBEDDING_INIT_RMS (E's output
# at initialisation), so AdaIN's scales (1 + gamma) spread over about +-20 % and the person embedding
# shapes G from the first step. (P ~ 0 left psi ~ 1e-3: AdaIN inert and e ignored.)
PSI_INIT_RMS = 0.2


class Generator(nn.Module):
    """G(y, e). Images are float ``(B, 3, H, W)`` in [-1, 1] with ``H = W = cfg.image_size``."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.checkpointing = False  # gradient checkpointing of the residual blocks (see _run)
        spectral = cfg.spectral_norm
        channels = channel_schedule(cfg.base_channels, cfg.max_channels, cfg.n_down)
        self.channels = channels
        in_channels = 6 if cfg.warp_guided else 3
        self.stem = conv3x3(in_channels, channels[0], spectral)
        self.down = nn.ModuleList(
            ResBlockDown(channels[i], channels[i + 1], norm="instance", spectral=spectral)
            for i in range(cfg.n_down)
        )
        # Index of the block after which attention runs (output side == attention_resolution).
        self.attention_level = None
        for level in range(1, cfg.n_down + 1):
            if cfg.image_size >> level == cfg.attention_resolution:
                self.attention_level = level
        level_channels = channels[self.attention_level] if self.attention_level else 1
        self.attention_down = SelfAttention(level_channels, spectral) if self.attention_level else None
        self.attention_up = SelfAttention(level_channels, spectral) if self.attention_level else None
        self.middle = nn.ModuleList(ResBlock(channels[-1], adain=True, spectral=spectral)
                                    for _ in range(cfg.n_res))
        # up[j] takes level (n_down - j) to level (n_down - j - 1).
        self.up = nn.ModuleList(ResBlockUp(channels[i + 1], channels[i], spectral)
                                for i in reversed(range(cfg.n_down)))
        self.out_norm = AdaptiveInstanceNorm(channels[0])
        self.out_conv = conv3x3(channels[0], 4 if cfg.warp_guided else 3, spectral)
        if cfg.warp_guided:
            # Start close to the warp engine's image (mask ~ 0.88): G first learns where to correct it.
            with torch.no_grad():
                self.out_conv.bias[3] = MASK_BIAS_INIT
        self.style_dims = [b.style_dim for b in self.middle] + [b.style_dim for b in self.up]
        self.style_dims.append(self.out_norm.style_dim)
        self.psi_dim = sum(self.style_dims)
        # The projection matrix P (psi_dim x embedding_dim), scaled so that psi starts at PSI_INIT_RMS.
        scale = PSI_INIT_RMS / (EMBEDDING_INIT_RMS * cfg.embedding_dim**0.5)
        self.projection = nn.Parameter(torch.randn(self.psi_dim, cfg.embedding_dim) * scale)

    def _run(self, block: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
        """``block(*inputs)``; with :attr:`checkpointing` (training on a GPU) its activations are recomputed
        in the backward pass instead of stored (gradient checkpointing: less memory, ~30 % more compute)."""
        if self.checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *inputs, use_reentrant=False)
        return block(*inputs)

    @property
    def P(self) -> torch.Tensor:
        """The learned projection matrix P, ``(psi_dim, embedding_dim)``."""
        return self.projection

    def adain_params(self, embedding: torch.Tensor) -> torch.Tensor:
        """psi ``(B, psi_dim)`` = ``embedding (B, D) @ P^T``: every AdaIN scale and bias of G."""
        return embedding @ self.projection.t()

    def forward(self, sketch: torch.Tensor, embedding: torch.Tensor,
                guide: torch.Tensor | None = None, parts: bool = False) -> torch.Tensor:
        """Render ``(B, 3, H, W)`` in [-1, 1] from a sketch ``(B, 3, H, W)`` in [-1, 1] and an embedding
        ``(B, D)``; ``guide`` ``(B, 3, H, W)`` in [-1, 1] is required for ``warp-guided`` models.
        ``parts``: see :meth:`forward_with_psi` (an argument of ``forward`` so that it passes through
        DistributedDataParallel)."""
        return self.forward_with_psi(sketch, self.adain_params(embedding), guide, parts)

    def forward_with_psi(self, sketch: torch.Tensor, psi: torch.Tensor,
                         guide: torch.Tensor | None = None, parts: bool = False) -> torch.Tensor:
        """Like :meth:`forward` with the AdaIN parameters ``psi (B or 1, psi_dim)`` given directly
        (fine-tuning: psi' are free parameters). A ``(1, psi_dim)`` psi is broadcast over the batch.

        ``parts=True`` (warp-guided models only): return ``(B, 4, H, W)``, G's own image in [-1, 1] and
        the blend mask in [0, 1] before they are blended with the guide, so that a caller can blend them
        with a guide of a higher resolution (:func:`composite`) or judge G's own image (training with
        ``adversarial_target: painting``); ``composite(parts, guide)`` is exactly the default output."""
        if psi.shape[-1] != self.psi_dim:
            raise ValueError(f"psi has {psi.shape[-1]} values, generator expects {self.psi_dim}")
        if psi.shape[0] != sketch.shape[0]:
            psi = psi.expand(sketch.shape[0], -1)
        if self.cfg.warp_guided:
            if guide is None:
                raise ValueError("a warp-guided generator needs the guide image")
            x = torch.cat([sketch, guide], dim=1)
        else:
            x = sketch
        styles = list(psi.split(self.style_dims, dim=1))
        h = self.stem(x)
        features = [h]
        for level, block in enumerate(self.down, start=1):
            h = self._run(block, h)
            if level == self.attention_level:
                h = self.attention_down(h)
            features.append(h)
        for block in self.middle:
            h = self._run(block, h, styles.pop(0))
        for j, block in enumerate(self.up):
            level = self.cfg.n_down - j - 1
            h = self._run(block, h, styles.pop(0))
            if self.cfg.skip_connections:
                h = h + features[level]
            if level == self.attention_level:
                h = self.attention_up(h)
        h = self.out_conv(F.relu(self.out_norm(h, styles.pop(0))))
        if not self.cfg.warp_guided:
            return torch.tanh(h)
        rgb, mask = torch.tanh(h[:, :3]), torch.sigmoid(h[:, 3:])
        if parts:
            return torch.cat([rgb, mask], dim=1)
        return composite(torch.cat([rgb, mask], dim=1), guide)


def composite(parts: torch.Tensor, guide: torch.Tensor) -> torch.Tensor:
    """``mask * guide + (1 - mask) * rgb`` for ``parts`` ``(B, 4, h, w)`` (G's image, then its blend mask:
    :meth:`Generator.forward_with_psi` with ``parts=True``) and a guide ``(B, 3, H, W)``. When the guide is
    larger (the warp engine's rendering at the crop's resolution), G's image and mask are up-sampled to
    it (bilinear) and the guide keeps its full detail: the output is as sharp as the warp it refines."""
    if parts.shape[-2:] != guide.shape[-2:]:
        parts = F.interpolate(parts, size=guide.shape[-2:], mode="bilinear", align_corners=False)
    rgb, mask = parts[:, :3], parts[:, 3:].clamp(0, 1)
    return mask * guide + (1 - mask) * rgb
