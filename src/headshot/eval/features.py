"""Network features for evaluation: perceptual distances and FID features.

- :class:`MobileNetV2Distance` — "MobileNetV2 perceptual distance": ImageNet MobileNetV2 (offline weights)
  feature maps at the end of each resolution level (taps 1, 3, 6, 13, 17); each map is unit-normalised
  over channels at every pixel, the squared difference is summed over channels, averaged over pixels, and
  the per-tap values are averaged. This follows LPIPS's recipe (Zhang et al., CVPR 2018) *without* its
  learned linear weights, on a different backbone: it is NOT LPIPS and its values are not comparable to
  LPIPS numbers. Identical images give 0.
- :class:`LPIPS` — the real LPIPS formula, only with a weights file the user supplies (VGG16 or AlexNet
  backbone in torchvision's parameter names plus the ``lin0..linK`` layers of the LPIPS release).
- :class:`MobileNetV2Pooled` — global-average-pooled 1280-d MobileNetV2 features (of the 256x256 crops)
  for "FID (MobileNetV2 features)". :class:`MobileNetV2Metrics` computes both in one pass.
- :class:`InceptionFeatures` — 2048-d features from a user-supplied TorchScript Inception network (the
  ``pt_inception-2015-12-05`` file used by StyleGAN's metrics), for a standard FID.

Inputs everywhere: lists/arrays of RGB uint8 HWC images of one size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import InputError

if TYPE_CHECKING:  # torch is imported where it is used: the module loads without it
    import torch


def _to_network_input(images) -> "torch.Tensor":
    import torch

    batch = np.stack([np.asarray(image) for image in images]).astype(np.float32)
    return torch.from_numpy(batch).permute(0, 3, 1, 2) / 127.5 - 1.0  # float NCHW in [-1, 1]


def _unit_normalise(feature: "torch.Tensor") -> "torch.Tensor":
    return feature / (feature.norm(dim=1, keepdim=True) + 1e-10)


def fold_batch_norms(module: "torch.nn.Module") -> "torch.nn.Module":
    """Fold every BatchNorm2d that directly follows a Conv2d inside a Sequential into that convolution
    (inference only; same outputs up to float rounding, about a third faster on CPU). Works in place."""
    import torch
    from torch import nn

    for child in module.children():
        fold_batch_norms(child)
    if isinstance(module, nn.Sequential):
        layers = list(module)
        for index in range(len(layers) - 1):
            conv, norm = layers[index], layers[index + 1]
            if isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                                  conv.padding, conv.dilation, conv.groups, bias=True)
                with torch.no_grad():
                    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
                    bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
                    fused.bias.copy_((bias - norm.running_mean) * scale + norm.bias)
                module[index] = fused
                module[index + 1] = nn.Identity()
    return module


def _compiled(network: "torch.nn.Module") -> "torch.nn.Module":
    """The network traced, frozen and optimised for CPU inference by TorchScript (about 1.5-2x faster
    here); the eager network if that fails. Outputs are the same up to float rounding."""
    import warnings

    import torch

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            example = torch.zeros(2, 3, 64, 64)
            traced = torch.jit.trace(network, example, check_trace=False)
            return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    except Exception:  # TorchScript is a speed-up only
        return network


class MobileNetV2Metrics:
    """One MobileNetV2 pass per image gives both the perceptual-distance feature maps and the pooled
    1280-d FID features (so real frames are encoded once per clip and reused for every engine row).

    ``encode(images)`` returns ``(taps, pooled)``: ``taps`` a list (one per tap) of float32 tensors
    ``(N, C, h, w)`` already unit-normalised over channels, ``pooled`` a ``(N, 1280)`` float32 array.
    Images are RGB uint8 HWC of one size (256x256 here; the pooled features are taken at that size).
    """

    pooled_layer = 18  # the 1280-channel 1x1 convolution in ``features``

    def __init__(self, batch_size: int = 16):
        from ..neural.mobilenet import DEFAULT_TAPS, MobileNetV2Features

        self.taps = tuple(DEFAULT_TAPS)
        self.network = _compiled(fold_batch_norms(MobileNetV2Features(taps=(*DEFAULT_TAPS, self.pooled_layer))))
        self.batch_size = batch_size

    def encode(self, images) -> tuple[list, np.ndarray]:
        import torch

        taps: list[list] = [[] for _ in self.taps]
        pooled = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                outputs = self.network(_to_network_input(images[start:start + self.batch_size]))
                for index in range(len(self.taps)):
                    taps[index].append(_unit_normalise(outputs[index]))
                pooled.append(outputs[-1].mean(dim=(2, 3)).numpy())
        if not pooled:
            return [], np.zeros((0, 1280), np.float32)
        return [torch.cat(chunks) for chunks in taps], np.concatenate(pooled).astype(np.float32)

    @staticmethod
    def distance(taps_a: list, taps_b: list) -> np.ndarray:
        """MobileNetV2 perceptual distance ``(N,)`` between two encodings (see module docstring)."""
        import torch

        per_tap = [((a - b) ** 2).sum(dim=1).mean(dim=(1, 2)) for a, b in zip(taps_a, taps_b)]
        return torch.stack(per_tap, dim=1).mean(dim=1).numpy().astype(np.float64)


class MobileNetV2Distance:
    """MobileNetV2 perceptual distance (see module docstring); ``(outputs, reals) -> (N,)`` floats >= 0."""

    name = "MobileNetV2 perceptual distance"

    def __init__(self, batch_size: int = 16):
        self.model = MobileNetV2Metrics(batch_size)

    def __call__(self, outputs, reals) -> np.ndarray:
        if len(outputs) != len(reals):
            raise ValueError("outputs and reals differ in length")
        if not len(outputs):
            return np.zeros(0)
        return self.model.distance(self.model.encode(outputs)[0], self.model.encode(reals)[0])


class MobileNetV2Pooled:
    """Global-average-pooled 1280-d MobileNetV2 features (last 1x1 conv) of RGB uint8 images."""

    name = "FID (MobileNetV2 features)"

    def __init__(self, batch_size: int = 16):
        self.model = MobileNetV2Metrics(batch_size)

    def __call__(self, images) -> np.ndarray:
        return self.model.encode(images)[1]


# --- LPIPS (user-supplied weights) ---------------------------------------------------------------------

# torchvision layer indices (in ``features``) of the ReLU outputs LPIPS taps, and the conv layout.
_VGG16_CONVS = [(3, 64), (64, 64), "M", (64, 128), (128, 128), "M", (128, 256), (256, 256), (256, 256), "M",
                (256, 512), (512, 512), (512, 512), "M", (512, 512), (512, 512), (512, 512)]
_VGG16_TAPS = (3, 8, 15, 22, 29)
_ALEX_TAPS = (1, 4, 7, 9, 11)
# LPIPS's input scaling layer (maps [-1, 1] inputs to ImageNet-normalised ones).
_LPIPS_SHIFT = (-0.030, -0.088, -0.188)
_LPIPS_SCALE = (0.458, 0.448, 0.450)


def _vgg16_features() -> "torch.nn.Sequential":
    from torch import nn

    layers: list = []
    for item in _VGG16_CONVS:
        if item == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(item[0], item[1], 3, padding=1), nn.ReLU(inplace=False)]
    return nn.Sequential(*layers)


def _alexnet_features() -> "torch.nn.Sequential":
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(),
    )


class LPIPS:
    """LPIPS (Zhang et al., CVPR 2018) from a user-supplied weights file.

    The file (``torch.save`` of a state dict, or safetensors) must hold the backbone under
    ``features.<i>.weight/bias`` (torchvision's VGG16 or AlexNet names) and the linear layers under
    ``lin<k>.model.1.weight`` (the LPIPS release's names, ``(1, C, 1, 1)``). The backbone is picked from
    the shapes. ``(outputs, reals) -> (N,)`` LPIPS distances.
    """

    name = "LPIPS"

    def __init__(self, weights_path: str | Path, batch_size: int = 8):
        import torch

        path = Path(weights_path)
        if not path.is_file():
            raise InputError(f"LPIPS weights file not found: {path}")
        try:
            if path.suffix == ".safetensors":
                from safetensors.torch import load_file

                state = load_file(str(path))
            else:
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # corrupt or foreign file
            raise InputError(f"cannot read LPIPS weights {path}: {error}") from None
        state = {key.removeprefix("net."): value for key, value in state.items()}
        first = state.get("features.0.weight")
        if first is None:
            raise InputError(f"{path} has no backbone weights ('features.0.weight'): need VGG16/AlexNet + lin layers")
        if tuple(first.shape) == (64, 3, 3, 3):
            self.backbone, self.taps = _vgg16_features(), _VGG16_TAPS
            self.name = "LPIPS (VGG16)"
        elif tuple(first.shape) == (64, 3, 11, 11):
            self.backbone, self.taps = _alexnet_features(), _ALEX_TAPS
            self.name = "LPIPS (AlexNet)"
        else:
            raise InputError(f"{path}: backbone is neither VGG16 nor AlexNet (first conv {tuple(first.shape)})")
        backbone_state = {key.removeprefix("features."): value for key, value in state.items()
                          if key.startswith("features.")}
        try:
            self.backbone.load_state_dict(backbone_state, strict=True)
        except RuntimeError as error:
            raise InputError(f"{path}: backbone weights do not fit: {str(error).splitlines()[0]}") from None
        self.linear = []
        for index in range(len(self.taps)):
            weight = state.get(f"lin{index}.model.1.weight")
            if weight is None:
                raise InputError(f"{path} lacks LPIPS linear layer 'lin{index}.model.1.weight'")
            self.linear.append(weight.float().view(1, -1, 1, 1))
        self.backbone.eval()
        self.shift = torch.tensor(_LPIPS_SHIFT).view(1, 3, 1, 1)
        self.scale = torch.tensor(_LPIPS_SCALE).view(1, 3, 1, 1)
        self.batch_size = batch_size

    def _features(self, x):
        x = (x - self.shift) / self.scale
        taps = []
        for index, layer in enumerate(self.backbone):
            x = layer(x)
            if index in self.taps:
                taps.append(x)
            if index == self.taps[-1]:
                break
        return taps

    def __call__(self, outputs, reals) -> np.ndarray:
        import torch

        values = []
        with torch.inference_mode():
            for start in range(0, len(outputs), self.batch_size):
                a = self._features(_to_network_input(outputs[start:start + self.batch_size]))
                b = self._features(_to_network_input(reals[start:start + self.batch_size]))
                total = 0
                for x, y, weight in zip(a, b, self.linear):
                    diff = (_unit_normalise(x) - _unit_normalise(y)) ** 2
                    total = total + (diff * weight).sum(dim=1).mean(dim=(1, 2))
                values.append(total.numpy())
        return np.concatenate(values) if values else np.zeros(0, np.float32)


class InceptionFeatures:
    """2048-d pool features from a user-supplied TorchScript Inception-v3 (StyleGAN's
    ``inception-2015-12-05.pt``), called as ``net(uint8 NCHW, return_features=True)``."""

    name = "FID (Inception-v3)"

    def __init__(self, weights_path: str | Path, batch_size: int = 8):
        import torch

        path = Path(weights_path)
        if not path.is_file():
            raise InputError(f"Inception weights file not found: {path}")
        try:
            self.network = torch.jit.load(str(path), map_location="cpu").eval()
        except Exception as error:
            raise InputError(f"cannot load {path} as a TorchScript Inception network: {error}") from None
        self.batch_size = batch_size

    def __call__(self, images) -> np.ndarray:
        import torch

        chunks = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch_size):
                batch = np.stack(images[start:start + self.batch_size])
                x = torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous()
                chunks.append(self.network(x, return_features=True).numpy())
        return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros((0, 2048), np.float32)
