"""Building blocks shared by the embedder, generator and discriminator.

Residual blocks follow Brock et al. 2019 (BigGAN) as used by Zakharov et al. 2019: pre-activation, two 3x3
convolutions, a 1x1 convolution on the skip path when the channels change, average pooling to go down and
nearest-neighbour up-sampling followed by a convolution to go up (no transposed convolutions). Every
convolution / linear layer may carry spectral normalisation (Miyato et al. 2018).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrizations, parametrize


def sn(module: nn.Module, enabled: bool = True) -> nn.Module:
    """Wrap ``module`` (Conv2d / Linear) in spectral normalisation if ``enabled``."""
    return parametrizations.spectral_norm(module) if enabled else module


def conv3x3(cin: int, cout: int, spectral: bool = True) -> nn.Module:
    return sn(nn.Conv2d(cin, cout, 3, 1, 1), spectral)


def conv1x1(cin: int, cout: int, spectral: bool = True) -> nn.Module:
    return sn(nn.Conv2d(cin, cout, 1, 1, 0), spectral)


def has_spectral_norm(module: nn.Module) -> bool:
    """True if ``module`` carries a (not yet baked) spectral-norm parametrisation."""
    return parametrize.is_parametrized(module, "weight") and any(
        type(p).__name__ == "_SpectralNorm" for p in module.parametrizations.weight
    )


def bake_spectral_norm(root: nn.Module) -> nn.Module:
    """Replace every spectral-norm parametrisation under ``root`` by its current normalised weight.

    For inference only: the weights stop being re-normalised, which saves a matrix-vector product and the
    parametrisation's Python overhead per layer. Returns ``root`` (modified in place).
    """
    for module in root.modules():
        if has_spectral_norm(module):
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return root


class AdaptiveInstanceNorm(nn.Module):
    """AdaIN (Huang & Belongie 2017): ``(1 + gamma) * instance_norm(x) + beta``.

    ``style`` is ``(B, 2 * channels)``: ``gamma`` then ``beta``. The ``1 +`` makes zero style the identity
    scaling, which keeps early training stable; the paper writes the scale directly (same family).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.channels = channels
        self.style_dim = 2 * channels

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        gamma, beta = style.view(style.shape[0], 2, self.channels, 1, 1).unbind(1)
        return F.instance_norm(x, eps=1e-5) * (1 + gamma) + beta


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al. 2019) with a learned residual gate initialised at 0."""

    def __init__(self, channels: int, spectral: bool = True):
        super().__init__()
        self.key_channels = max(channels // 8, 1)
        self.value_channels = max(channels // 2, 1)
        self.query = conv1x1(channels, self.key_channels, spectral)
        self.key = conv1x1(channels, self.key_channels, spectral)
        self.value = conv1x1(channels, self.value_channels, spectral)
        self.out = conv1x1(self.value_channels, channels, spectral)
        self.gate = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        query = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, Ck)
        key = self.key(x).flatten(2).transpose(1, 2)
        value = self.value(x).flatten(2).transpose(1, 2)  # (B, HW, Cv)
        # SAGAN uses no 1/sqrt(d) scaling; keep it (scale=1.0) so the block matches the paper's.
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        attended = attended.transpose(1, 2).reshape(b, self.value_channels, h, w)
        return x + self.gate * self.out(attended)


class ResBlockDown(nn.Module):
    """Residual down-sampling block (halves H and W).

    ``norm``: ``"none"`` (E and D) or ``"instance"`` (G's encoder, affine instance norm). ``first`` skips
    the leading ReLU so the block can take an image in [-1, 1] directly.
    """

    def __init__(self, cin: int, cout: int, norm: str = "none", first: bool = False, spectral: bool = True):
        super().__init__()
        self.first = first
        self.norm1 = nn.InstanceNorm2d(cin, affine=True) if norm == "instance" else nn.Identity()
        self.norm2 = nn.InstanceNorm2d(cout, affine=True) if norm == "instance" else nn.Identity()
        self.conv1 = conv3x3(cin, cout, spectral)
        self.conv2 = conv3x3(cout, cout, spectral)
        self.skip = conv1x1(cin, cout, spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if not self.first:
            h = F.relu(h)
        h = self.conv1(h)
        h = self.conv2(F.relu(self.norm2(h)))
        h = F.avg_pool2d(h, 2)
        return h + F.avg_pool2d(self.skip(x), 2)


class ResBlock(nn.Module):
    """Residual block at constant resolution; with ``adain=True`` its two norms take a style vector."""

    def __init__(self, channels: int, adain: bool = False, spectral: bool = True):
        super().__init__()
        self.adain = adain
        self.norm1 = AdaptiveInstanceNorm(channels) if adain else None
        self.norm2 = AdaptiveInstanceNorm(channels) if adain else None
        self.conv1 = conv3x3(channels, channels, spectral)
        self.conv2 = conv3x3(channels, channels, spectral)
        self.style_dim = 4 * channels if adain else 0

    def forward(self, x: torch.Tensor, style: torch.Tensor | None = None) -> torch.Tensor:
        if self.adain:
            s1, s2 = style.split(self.style_dim // 2, dim=1)
            h = self.conv1(F.relu(self.norm1(x, s1)))
            h = self.conv2(F.relu(self.norm2(h, s2)))
        else:
            h = self.conv2(F.relu(self.conv1(F.relu(x))))
        return x + h


class ResBlockUp(nn.Module):
    """Residual up-sampling block with AdaIN (doubles H and W): nearest up-sampling then convolution."""

    def __init__(self, cin: int, cout: int, spectral: bool = True):
        super().__init__()
        self.norm1 = AdaptiveInstanceNorm(cin)
        self.norm2 = AdaptiveInstanceNorm(cout)
        self.conv1 = conv3x3(cin, cout, spectral)
        self.conv2 = conv3x3(cout, cout, spectral)
        self.skip = conv1x1(cin, cout, spectral)
        self.style_dim = 2 * cin + 2 * cout

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        s1, s2 = style.split([self.norm1.style_dim, self.norm2.style_dim], dim=1)
        h = F.relu(self.norm1(x, s1))
        h = self.conv1(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        h = self.conv2(F.relu(self.norm2(h, s2)))
        # 1x1 conv commutes with nearest up-sampling: convolve first, on 4x fewer pixels.
        return h + F.interpolate(self.skip(x), scale_factor=2.0, mode="nearest")


def channel_schedule(base: int, cap: int, blocks: int) -> list[int]:
    """Channels after the stem and after each of ``blocks`` down blocks: base, 2*base, ... capped."""
    return [min(base * 2**i, cap) for i in range(blocks + 1)]


class DownTrunk(nn.Module):
    """Shared trunk of E and D: residual down blocks (no normalisation) from ``image_size`` to 4x4,
    self-attention at ``attention_resolution``, optional extra residual block at 4x4 (D), then ReLU and
    global sum pooling (the paper's choice) to a vector, projected to ``out_dim`` if the channels differ.

    ``forward(x)`` returns ``(vector (B, out_dim), activations)``: the output of every block, which D's
    feature-matching loss compares between real and generated images.
    """

    def __init__(self, in_channels: int, base: int, cap: int, image_size: int, attention_resolution: int,
                 out_dim: int, extra_block: bool = False, spectral: bool = True):
        super().__init__()
        levels = max(image_size.bit_length() - 1 - 2, 1)  # down to 4x4
        channels = [min(base * 2**i, cap) for i in range(levels)]
        blocks: list[nn.Module] = [ResBlockDown(in_channels, channels[0], first=True, spectral=spectral)]
        size = image_size // 2
        if size == attention_resolution:
            blocks.append(SelfAttention(channels[0], spectral))
        for i in range(1, levels):
            blocks.append(ResBlockDown(channels[i - 1], channels[i], spectral=spectral))
            size //= 2
            if size == attention_resolution:
                blocks.append(SelfAttention(channels[i], spectral))
        if extra_block:
            blocks.append(ResBlock(channels[-1], spectral=spectral))
        self.blocks = nn.ModuleList(blocks)
        self.out_channels = channels[-1]
        self.head = (sn(nn.Linear(channels[-1], out_dim), spectral) if channels[-1] != out_dim
                     else nn.Identity())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        activations = []
        for block in self.blocks:
            x = block(x)
            activations.append(x)
        vector = F.relu(x).sum(dim=(2, 3))
        return self.head(vector), activations
