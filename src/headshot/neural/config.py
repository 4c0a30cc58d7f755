"""Architecture hyper-parameters of the few-shot adversarial system (Zakharov et al., ICCV 2019).

``ModelConfig`` describes the three networks (embedder E, generator G, discriminator D) and is saved
inside every model file, so a checkpoint rebuilds itself. Training settings (losses, optimisers,
episodes) are a plain dict read from the same YAML by :func:`load_config`; ``train/`` owns their meaning,
the defaults below document the paper's recipe.

YAML layout (see ``configs/*.yaml``)::

    model:            # -> ModelConfig (unknown keys are an error)
      image_size: 128
      ...
    train:            # -> dict, merged over DEFAULT_TRAIN
      lr_generator: 5.0e-5
      ...
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import HeadshotError, InputError

GENERATOR_INPUTS = ("landmarks", "warp-guided")
SKETCH_KINDS = ("68", "478")


class ConfigError(HeadshotError):
    """A model/training configuration is invalid."""


@dataclass
class ModelConfig:
    """Architecture of E, G and D. Defaults are the small CPU model (128 px, >= 10 fps at 256 px output).

    Attributes:
        image_size: side of the square images the networks see (pixels, power of two).
        embedding_dim: length of the identity embedding e (paper: 512).
        base_channels: G's channels after its first convolution; doubled at each down block.
        max_channels: cap on any layer's channels in G.
        n_down: G's down-sampling residual blocks (bottleneck side = image_size / 2**n_down).
        n_res: G's residual blocks at the bottleneck (with AdaIN).
        attention_resolution: side (pixels) of the feature map where G, E and D apply self-attention
            (Zhang et al. 2019, SAGAN); 0 disables it.
        generator_input: ``landmarks`` (the paper: G sees only the landmark sketch) or ``warp-guided``
            (G also sees the warp engine's rendering of the source and predicts a blend mask + corrections).
        sketch: landmark sketch drawn for G, E and D: ``68`` (paper: iBUG-68 coloured polylines) or ``478``
            (richer: MediaPipe contours, irises and a faint mesh).
        skip_connections: add G's down-path features to its up path at equal resolution (U-Net style).
            Off in the paper; useful for ``warp-guided`` so that the guide's detail reaches the output.
        spectral_norm: spectral normalisation (Miyato et al. 2018) on every convolution / linear of E, G, D.
        embedder_channels: E's base channels (None: base_channels). E down-samples to 4x4.
        discriminator_channels: D's base channels (None: base_channels). D down-samples to 4x4.
        embedder_max_channels / discriminator_max_channels: caps (None: max_channels).
    """

    image_size: int = 128
    embedding_dim: int = 512
    base_channels: int = 16
    max_channels: int = 256
    n_down: int = 4
    n_res: int = 3
    attention_resolution: int = 16
    generator_input: str = "landmarks"
    sketch: str = "68"
    skip_connections: bool = False
    spectral_norm: bool = True
    embedder_channels: int | None = None
    discriminator_channels: int | None = None
    embedder_max_channels: int | None = None
    discriminator_max_channels: int | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise :class:`ConfigError` if the fields are inconsistent."""
        size = self.image_size
        if size < 16 or size & (size - 1):
            raise ConfigError(f"image_size must be a power of two >= 16, got {size}")
        if not 1 <= self.n_down or size >> self.n_down < 2:
            raise ConfigError(f"n_down={self.n_down} leaves no spatial extent at image_size={size}")
        if self.generator_input not in GENERATOR_INPUTS:
            raise ConfigError(f"generator_input must be one of {GENERATOR_INPUTS}, got {self.generator_input!r}")
        if str(self.sketch) not in SKETCH_KINDS:
            raise ConfigError(f"sketch must be one of {SKETCH_KINDS}, got {self.sketch!r}")
        self.sketch = str(self.sketch)
        if self.embedding_dim < 1 or self.base_channels < 1 or self.max_channels < self.base_channels:
            raise ConfigError("embedding_dim, base_channels must be >= 1 and max_channels >= base_channels")
        levels = [size >> k for k in range(1, self.n_down + 1)]
        if self.attention_resolution and self.attention_resolution not in levels:
            raise ConfigError(f"attention_resolution={self.attention_resolution} is not one of G's feature-map "
                              f"sides {levels} (or 0 for none)")
        if self.n_res < 0:
            raise ConfigError(f"n_res must be >= 0, got {self.n_res}")

    @property
    def warp_guided(self) -> bool:
        return self.generator_input == "warp-guided"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ModelConfig":
        """Build from a mapping; unknown keys raise :class:`ConfigError` (typos must not pass silently)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown model config keys: {', '.join(unknown)}")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


# The paper's training recipe (Zakharov et al. 2019, Sec. 3.2-3.4 and appendix); train/ reads these.
DEFAULT_TRAIN: dict[str, Any] = {
    "shots": 8,                    # K frames per episode used to compute e (paper: K = 8)
    "batch_size": 8,               # episodes (videos) per step
    "lr_generator": 5.0e-5,        # Adam lr for E and G (paper)
    "lr_discriminator": 2.0e-4,    # Adam lr for D (paper)
    "betas": [0.5, 0.999],         # Adam betas
    "d_steps_per_g_step": 2,       # D:G update ratio (paper: 2:1)
    "content_network": "mobilenet",  # mobilenet | vgg19 | vgg19+vggface (VGG needs user-supplied weights)
    "content_weight_mobilenet": 1.0,
    "content_weight_vgg19": 1.0e-2,    # paper, VGG19 relu layers 1, 6, 11, 20, 29
    "content_weight_vggface": 2.0e-3,  # paper, VGGFace relu layers 1, 6, 11, 18, 25
    "vgg19_weights": None,         # path to a torchvision-layout VGG19 state dict (.pth / .safetensors)
    "vggface_weights": None,       # path to a VGG-16-layout VGGFace state dict
    "l1_weight": 0.0,              # pixel L1 (not in the paper; helps tiny-compute runs)
    "adversarial_weight": 1.0,     # hinge loss
    "feature_matching_weight": 10.0,   # paper
    "embedding_match_weight": 80.0,    # paper: ||W_i - e_i||_1
    "steps": 100000,
    "ema_decay": 0.999,            # EMA of G's weights
    "log_every": 50,
    "sample_every": 1000,
    "checkpoint_every": 1000,
    "seed": 0,
    "finetune_steps": 40,          # paper fine-tunes for 40 epochs on the T shots
    "finetune_lr": 5.0e-5,
}


@dataclass
class LossWeights:
    """The loss weights of a training dict, typed. Build with :meth:`from_train`."""

    content_mobilenet: float = 1.0
    content_vgg19: float = 1.0e-2
    content_vggface: float = 2.0e-3
    l1: float = 0.0
    adversarial: float = 1.0
    feature_matching: float = 10.0
    embedding_match: float = 80.0

    @classmethod
    def from_train(cls, train: dict[str, Any]) -> "LossWeights":
        """Weights from a training dict; keys it lacks take :data:`DEFAULT_TRAIN`'s values."""
        train = {**DEFAULT_TRAIN, **train}
        return cls(
            content_mobilenet=float(train["content_weight_mobilenet"]),
            content_vgg19=float(train["content_weight_vgg19"]),
            content_vggface=float(train["content_weight_vggface"]),
            l1=float(train["l1_weight"]),
            adversarial=float(train["adversarial_weight"]),
            feature_matching=float(train["feature_matching_weight"]),
            embedding_match=float(train["embedding_match_weight"]),
        )


def load_config(yaml_path: str | Path) -> tuple[ModelConfig, dict[str, Any]]:
    """Read a YAML config: returns ``(ModelConfig, train dict)``; the train dict is ``DEFAULT_TRAIN`` updated
    with the file's ``train:`` section. Raises :class:`InputError` if the file is missing or unreadable and
    :class:`ConfigError` for unknown or invalid keys."""
    import yaml

    path = Path(yaml_path)
    if not path.is_file():
        raise InputError(f"config file not found: {path}")
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping with 'model' and 'train' sections")
    unknown = sorted(set(document) - {"model", "train"})
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys: {', '.join(unknown)}")
    model = ModelConfig.from_dict(document.get("model") or {})
    train = dict(DEFAULT_TRAIN)
    extra = document.get("train") or {}
    if not isinstance(extra, dict):
        raise ConfigError(f"{path}: 'train' must be a mapping")
    train.update(extra)  # train/ may define keys beyond DEFAULT_TRAIN; it validates them
    return model, train
