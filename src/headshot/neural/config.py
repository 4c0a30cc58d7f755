"""Architecture hyper-parameters of the few-shot adversarial system (Zakharov et al., ICCV 2019).

``ModelConfig`` describes the three networks (embedder E, generator G, discriminator D) and is saved
inside every model file, so a checkpoint rebuilds itself. ``TrainConfig`` is the training recipe (episodes,
optimisers, loss weights, run length, fine-tuning); its defaults are the paper's and the one place where
training defaults live. Both are read from the same YAML by :func:`load_config`.

YAML layout (see ``configs/*.yaml``)::

    model:            # -> ModelConfig
      image_size: 128
      ...
    train:            # -> TrainConfig (keys it lacks take its defaults)
      lr_generator: 5.0e-5
      ...

Unknown keys in either section are an error that names the key and the valid ones: a typo must not
silently train with a default.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import HeadshotError, InputError

GENERATOR_INPUTS = ("landmarks", "warp-guided")
ADVERSARIAL_TARGETS = ("output", "painting")  # TrainConfig.adversarial_target
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
        _reject_unknown(cls, values, "model")
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> "ModelConfig":
        return cls.from_dict(json.loads(text))


def _reject_unknown(cls: type, values: dict[str, Any], section: str) -> None:
    """Raise a one-line :class:`ConfigError` naming the unknown keys of ``values`` and the valid ones."""
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown {section} config key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(map(repr, unknown))}; valid keys: {', '.join(known)}")


@dataclass
class LossWeights:
    """The weights of the loss terms (the paper's values by default). :meth:`TrainConfig.loss_weights` builds
    them from a training configuration."""

    # Content weights are per network AND per input normalisation (see headshot.neural.losses, "weights"):
    content_mobilenet: float = 1.0     # MobileNetV2 taps (BN outputs, mean |phi| 0.2-0.65 on dev faces)
    content_vgg19: float = 1.5e-1      # paper's, VGG19 relu1_1..relu5_1 (1, 6, 11, 20, 29) on its native input
    content_vggface: float = 2.5e-2    # paper's, VGGFace relu layers 1, 6, 11, 18, 25 on Caffe-scale input
    l1: float = 0.0                    # pixel L1 (not in the paper; helps tiny-compute runs)
    adversarial: float = 1.0           # hinge loss
    feature_matching: float = 10.0     # paper
    embedding_match: float = 80.0      # paper: ||W_i - e_i||_1


_WEIGHTS = LossWeights()


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe: the YAML's ``train:`` section, typed. Defaults: the paper's (Zakharov et al. 2019,
    Sec. 3.2-3.4 and appendix) for the recipe, small-run settings for the rest.

    Build with :meth:`from_dict` (unknown keys and wrong types raise :class:`ConfigError`); change with
    :meth:`updated`; :meth:`to_dict` gives the plain mapping stored in run folders and model files.
    """

    # episodes and optimisers
    shots: int = 8                       # K frames per episode used to compute e (paper: K = 8)
    batch_size: int = 8                  # episodes per step, GLOBAL: N DDP processes take batch_size / N each
    lr_generator: float = 5.0e-5         # Adam lr for E and G (paper)
    lr_discriminator: float = 2.0e-4     # Adam lr for D (paper)
    betas: tuple[float, float] = (0.5, 0.999)  # Adam betas
    d_steps_per_g_step: int = 2          # D:G update ratio (paper: 2:1)
    ema_decay: float = 0.999             # EMA of E's and G's weights
    # losses
    content_network: str = "mobilenet"   # mobilenet | vgg19 | vgg19+vggface (VGG needs user-supplied weights)
    content_weight_mobilenet: float = _WEIGHTS.content_mobilenet
    content_weight_vgg19: float = _WEIGHTS.content_vgg19
    content_weight_vggface: float = _WEIGHTS.content_vggface
    vgg19_weights: str | None = None     # path to a torchvision-layout VGG19 state dict (.pth / .safetensors)
    vggface_weights: str | None = None   # path to a VGG-16-layout VGGFace state dict
    l1_weight: float = _WEIGHTS.l1
    adversarial_weight: float = _WEIGHTS.adversarial
    feature_matching_weight: float = _WEIGHTS.feature_matching
    embedding_match_weight: float = _WEIGHTS.embedding_match
    # L_MCH in D's step too (moving W's columns towards the embeddings). Off by default: there the x80 term
    # drags W and e towards each other and both towards 0 (H200 run 1: W RMS 0.3 -> 0.047, psi 0.2 -> 0.04,
    # D's hinge at chance). Off, W's columns learn from the hinge alone and e follows them in G's step.
    embedding_match_in_d: bool = False
    # W's column of each training video starts as E's embedding of one episode of it (a fresh run only), so
    # L_MCH starts near 0. From random columns, x80 L_MCH shrinks e (and psi = P e) towards 0 within a few
    # steps: e cannot match a random vector per video, and 0 is the cheapest L1 compromise.
    seed_w_from_embeddings: bool = True
    # What D judges as "generated", warp-guided G only (D's step and G's adversarial and feature-matching
    # terms; the content and L1 losses always compare the blended output): ``output`` = the blended output
    # m*guide + (1 - m)*rgb (at initialisation ~88 % the warp of a real photo, which D cannot tell from a
    # real frame: its hinge stays at chance); ``painting`` = G's own RGB before the blend.
    adversarial_target: str = "output"
    # Auxiliary identity term (issue 14; 0 = off, as every shipped config): a linear head (trainer-only, never
    # exported) maps e_hat to the normalised mean of the shots' SFace embeddings, stored by ``headshot prepare
    # --identity``; weight x (1 - cosine) joins E/G's loss, so E must carry who the person is.
    identity_weight: float = 0.0
    # the run
    steps: int = 100000
    seed: int = 0
    log_every: int = 50
    sample_every: int = 1000
    sample_rows: int = 4                 # episodes in a sample grid
    checkpoint_every: int = 1000
    checkpoint_minutes: float = 20       # also checkpoint after this much wall-clock time since the last one
    keep_checkpoints: int = 3            # newest checkpoints kept in the run folder
    # data
    split_file: str | None = None        # identity split (configs/splits/dev.yaml): its 'heldout' people are never trained on
    val_fraction: float = 0.1            # without split_file: share of identities held out (samples come from them)
    augment: bool = True                 # colour / scale / shift jitter, one draw per episode
    workers: int = 1                     # DataLoader worker processes per rank (0: load in the training process)
    # hardware
    bf16: bool = True                    # bf16 autocast on CUDA (ignored on CPU: fp32 there)
    ddp_find_unused_parameters: bool = False  # DDP: only for architectures with branches some steps skip
    # few-shot fine-tuning (headshot finetune)
    finetune_steps: int = 40             # paper fine-tunes for 40 epochs on the T shots
    finetune_lr: float = 5.0e-5

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            object.__setattr__(self, spec.name, _coerce(spec.name, getattr(self, spec.name), spec.type))
        if self.adversarial_target not in ADVERSARIAL_TARGETS:
            raise ConfigError(f"train config key 'adversarial_target' must be one of {ADVERSARIAL_TARGETS}, "
                              f"got {self.adversarial_target!r}")
        if self.identity_weight < 0:
            raise ConfigError(f"train config key 'identity_weight' must be >= 0, got {self.identity_weight}")

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, strict: bool = True) -> "TrainConfig":
        """Defaults updated with ``values``. Unknown keys raise :class:`ConfigError` (one line naming the key
        and the valid ones); ``strict=False`` ignores them instead (the ``train_config`` recorded in a model
        file: a file from another version stays usable)."""
        values = dict(values or {})
        if strict:
            _reject_unknown(cls, values, "train")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in values.items() if key in known})

    def updated(self, values: dict[str, Any]) -> "TrainConfig":
        """A copy with ``values`` replaced, checked like :meth:`from_dict`."""
        return TrainConfig.from_dict({**self.to_dict(), **values})

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON values, in field order."""
        values = dataclasses.asdict(self)
        values["betas"] = list(self.betas)
        return values

    def loss_weights(self) -> LossWeights:
        return LossWeights(
            content_mobilenet=self.content_weight_mobilenet,
            content_vgg19=self.content_weight_vgg19,
            content_vggface=self.content_weight_vggface,
            l1=self.l1_weight,
            adversarial=self.adversarial_weight,
            feature_matching=self.feature_matching_weight,
            embedding_match=self.embedding_match_weight,
        )


_CONVERTERS = {"int": int, "float": float, "str": str}


def _coerce(name: str, value: Any, annotation: str) -> Any:
    """``value`` as the field's type (``annotation``, a string under ``from __future__ import annotations``);
    :class:`ConfigError` when it is not one."""
    if annotation.endswith("| None") and value is None:
        return None
    kind = annotation.replace("| None", "").strip()
    try:
        if kind == "bool":
            if not isinstance(value, bool):
                raise TypeError
            return value
        if kind.startswith("tuple"):
            items = tuple(float(item) for item in value)
            if len(items) != 2:
                raise TypeError
            return items
        if kind == "int" and isinstance(value, float) and not value.is_integer():
            raise TypeError
        if isinstance(value, bool) or (kind == "str" and not isinstance(value, str)):
            raise TypeError
        return _CONVERTERS[kind](value)
    except (TypeError, ValueError):
        raise ConfigError(f"train config key {name!r} must be {kind}, got {value!r}") from None


def load_config(yaml_path: str | Path) -> tuple[ModelConfig, TrainConfig]:
    """Read a YAML config (see the module docstring): ``(ModelConfig, TrainConfig)``. Raises
    :class:`InputError` if the file is missing and :class:`ConfigError` (one line) if it is not YAML or has
    unknown or invalid keys."""
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
    sections = {name: document.get(name) or {} for name in ("model", "train")}
    for name, section in sections.items():
        if not isinstance(section, dict):
            raise ConfigError(f"{path}: '{name}' must be a mapping")
    try:
        return ModelConfig.from_dict(sections["model"]), TrainConfig.from_dict(sections["train"])
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from None
