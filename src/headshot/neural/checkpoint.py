"""Model files: safetensors with the ModelConfig JSON in the metadata. No pickle anywhere.

Layout: every tensor is stored under ``<name>.<state-dict key>`` where ``<name>`` is a key of the
``modules`` dict given to :func:`save_model` (``embedder``, ``generator``, ``discriminator``,
``generator_ema``, ...) or, for a bare tensor entry (e.g. a fine-tuned person's ``psi``), under ``<name>``
itself. The metadata (strings only, as safetensors requires) holds:

- ``format``: ``headshot-neural/1``
- ``config``: :class:`~headshot.neural.config.ModelConfig` as JSON
- ``entries``: JSON ``{name: "module" | "tensor"}``
- ``extra``: JSON of the caller's ``extra_metadata`` (step, num_videos, data description, ...)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from ..errors import InputError, MissingModelError, OutputError
from ..io.atomic import atomic_output
from .config import ModelConfig

FORMAT = "headshot-neural/1"
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "neural_default.safetensors"


def default_model_path() -> Path:
    """The bundled default model; raises :class:`MissingModelError` if it is not installed."""
    if not DEFAULT_MODEL_PATH.is_file():
        raise MissingModelError(
            f"the default neural model is missing ({DEFAULT_MODEL_PATH}); pass --model FILE "
            "(from 'headshot train' or 'headshot finetune') or use --engine warp")
    return DEFAULT_MODEL_PATH


@dataclass
class ModelFile:
    """What :func:`load_model` returns.

    Attributes:
        config: the architecture.
        states: ``{module name: state dict}`` for module entries.
        tensors: ``{name: tensor}`` for bare tensor entries (e.g. ``psi``).
        metadata: the ``extra_metadata`` given when saving.
    """

    config: ModelConfig
    states: dict[str, dict[str, torch.Tensor]] = field(default_factory=dict)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def load_into(self, name: str, module: nn.Module, strict: bool = True) -> nn.Module:
        """Load the state stored under ``name`` into ``module``; raises InputError if it is absent."""
        if name not in self.states:
            raise InputError(f"model file has no '{name}' (it has: {', '.join(sorted(self.states)) or 'none'})")
        try:
            module.load_state_dict(self.states[name], strict=strict)
        except RuntimeError as error:
            raise InputError(f"the model file's '{name}' does not fit the network built from its config: "
                             f"{str(error).splitlines()[0]}") from None
        return module

    def generator_name(self, prefer_ema: bool = True) -> str | None:
        """The entry that holds this file's generator G: ``generator_ema`` (the EMA weights, what a model
        is meant to render with) when ``prefer_ema`` and the file has it, else ``generator``; ``None`` when
        the file has no generator (e.g. a person file with psi only)."""
        if prefer_ema and "generator_ema" in self.states:
            return "generator_ema"
        return "generator" if "generator" in self.states else None


def save_model(path: str | Path, modules: dict[str, nn.Module | torch.Tensor], cfg: ModelConfig,
               extra_metadata: dict[str, Any] | None = None) -> Path:
    """Write ``modules`` (modules' state dicts and bare tensors) and ``cfg`` to a safetensors file.

    The file is written to a temporary name in the destination folder and renamed at the end, so a
    failure never leaves a half-written model. ``extra_metadata`` must be JSON-serialisable.
    Returns the path written.
    """
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    entries: dict[str, str] = {}
    for name, item in modules.items():
        if "." in name:
            raise ValueError(f"entry names may not contain '.': {name!r}")
        if isinstance(item, nn.Module):
            entries[name] = "module"
            for key, value in item.state_dict().items():
                tensors[f"{name}.{key}"] = value.detach().cpu().contiguous().clone()
        elif isinstance(item, torch.Tensor):
            entries[name] = "tensor"
            tensors[name] = item.detach().cpu().contiguous().clone()
        else:
            raise TypeError(f"entry {name!r} is neither a module nor a tensor")
    metadata = {
        "format": FORMAT,
        "config": cfg.to_json(),
        "entries": json.dumps(entries, sort_keys=True),
        "extra": json.dumps(extra_metadata or {}, sort_keys=True),
    }
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError(f"output folder does not exist: {folder}")
    with atomic_output(path) as temporary:
        save_file(tensors, str(temporary), metadata=metadata)
    return path


def load_model(path: str | Path, device: str | torch.device = "cpu") -> ModelFile:
    """Read a file written by :func:`save_model`. Raises InputError if it is missing or not a headshot
    neural model file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    try:
        with safe_open(str(path), framework="pt", device=str(device)) as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise InputError(f"{path} is not a headshot neural model file (format {metadata.get('format')!r})")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    except SafetensorError as error:
        raise InputError(f"{path} is not a readable safetensors file: {error}") from None
    config = ModelConfig.from_json(metadata["config"])
    entries = json.loads(metadata["entries"])
    result = ModelFile(config=config, metadata=json.loads(metadata.get("extra", "{}")))
    for name, kind in entries.items():
        if kind == "tensor":
            result.tensors[name] = tensors[name]
        else:
            prefix = name + "."
            result.states[name] = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
    return result


def read_config(path: str | Path) -> ModelConfig:
    """The ModelConfig of a model file, without reading its tensors."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file not found: {path}")
    with safe_open(str(path), framework="pt", device="cpu") as handle:
        metadata = handle.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path} is not a headshot neural model file")
    return ModelConfig.from_json(metadata["config"])
