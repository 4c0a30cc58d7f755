"""Training checkpoints in one safetensors file: weights, optimiser state, step and RNG states, no pickle.

Layout of ``checkpoints/step_NNNNNNN.safetensors``:

- tensors ``<module>.<state-dict key>`` for every module (``E``, ``G``, ``D``, ``E_ema``, ``G_ema``);
- tensors ``<optimizer>.state.<param index>.<key>`` for every optimiser's per-parameter state (Adam:
  ``step``, ``exp_avg``, ``exp_avg_sq``), which is what ``Optimizer.state_dict()`` holds besides its
  hyper-parameters;
- tensors ``rng.torch`` (and ``rng.cuda.<i>``) with the torch generator states;
- metadata (strings): ``format``, ``step``, ``extra`` (JSON: anything the loop needs, e.g. data position,
  configs, video list), ``<optimizer>.param_groups`` (JSON), ``rng.numpy`` and ``rng.python`` (JSON).

Everything loads with ``safetensors.torch.load_file`` + ``json``: no ``torch.load`` and no pickle, so a
checkpoint from an untrusted source cannot run code.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import InputError
from ..io.atomic import atomic_output

FORMAT = "headshot-train-checkpoint/1"
_NAME = re.compile(r"step_(\d+)\.safetensors$")


def _tensor_dict(prefix: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # clone(): safetensors refuses tensors that share memory; contiguous() for its flat layout.
    return {f"{prefix}.{key}": value.detach().to("cpu").clone().contiguous() for key, value in state.items()}


def save_checkpoint(path: str | Path, step: int, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], extra: dict | None = None) -> Path:
    """Write a checkpoint atomically (temp file in the same folder + ``os.replace``); returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    metadata = {"format": FORMAT, "step": str(int(step)), "extra": json.dumps(extra or {})}
    for name, module in modules.items():
        tensors.update(_tensor_dict(name, module.state_dict()))
    for name, optimizer in optimizers.items():
        state = optimizer.state_dict()
        for index, values in state["state"].items():
            for key, value in values.items():
                value = value if torch.is_tensor(value) else torch.tensor(value)
                tensors[f"{name}.state.{index}.{key}"] = value.detach().to("cpu").clone().contiguous()
        metadata[f"{name}.param_groups"] = json.dumps(state["param_groups"])
    tensors["rng.torch"] = torch.get_rng_state()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, cuda_state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{index}"] = cuda_state
    kind, keys, position, has_gauss, cached = np.random.get_state()
    metadata["rng.numpy"] = json.dumps([kind, keys.tolist(), int(position), int(has_gauss), float(cached)])
    metadata["rng.python"] = json.dumps(random.getstate())
    with atomic_output(path) as temp_path:
        save_file(tensors, str(temp_path), metadata=metadata)
    return path


def _checked(metadata: dict[str, str] | None, path: Path) -> dict[str, str]:
    metadata = metadata or {}
    if metadata.get("format") != FORMAT:
        raise InputError(f"{path} is not a headshot training checkpoint")
    return metadata


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    tensors = {}
    with safe_open(str(path), framework="pt", device="cpu") as file:
        metadata = file.metadata()
        for key in file.keys():
            tensors[key] = file.get_tensor(key)
    return tensors, _checked(metadata, path)


def _sub(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    start = len(prefix) + 1
    return {key[start:]: value for key, value in tensors.items() if key.startswith(prefix + ".")}


def load_checkpoint(path: str | Path, modules: dict[str, torch.nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer], restore_rng: bool = True) -> tuple[int, dict]:
    """Load a checkpoint into ``modules`` and ``optimizers`` (strictly); returns ``(step, extra)``.

    With ``restore_rng`` the torch (CPU and CUDA), NumPy and Python global generators are set back to
    their saved states, so training continues exactly as if it had not stopped.
    """
    tensors, metadata = _read(Path(path))
    for name, module in modules.items():
        module.load_state_dict(_sub(tensors, name), strict=True)
    for name, optimizer in optimizers.items():
        groups = json.loads(metadata[f"{name}.param_groups"])
        for group in groups:
            if "betas" in group:
                group["betas"] = tuple(group["betas"])
        state: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in _sub(tensors, f"{name}.state").items():
            index, field = key.split(".", 1)
            state.setdefault(int(index), {})[field] = value
        optimizer.load_state_dict({"state": state, "param_groups": groups})
    if restore_rng:
        torch.set_rng_state(tensors["rng.torch"])
        cuda_states = [tensors[f"rng.cuda.{i}"] for i in range(64) if f"rng.cuda.{i}" in tensors]
        if cuda_states and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(cuda_states[:torch.cuda.device_count()])
        kind, keys, position, has_gauss, cached = json.loads(metadata["rng.numpy"])
        np.random.set_state((kind, np.asarray(keys, np.uint32), position, has_gauss, cached))
        python_state = json.loads(metadata["rng.python"])
        random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    return int(metadata["step"]), json.loads(metadata["extra"])


def read_modules(path: str | Path) -> tuple[dict[str, dict[str, torch.Tensor]], dict]:
    """Only the module weights of a checkpoint: ``({module: state_dict}, extra)`` (for export / fine-tuning)."""
    tensors, metadata = _read(Path(path))
    names = sorted({key.split(".", 1)[0] for key in tensors} - {"rng"})
    modules = {name: _sub(tensors, name) for name in names if not name.startswith("opt")}
    return modules, json.loads(metadata["extra"])


def checkpoint_step(path: str | Path) -> int:
    """The step a checkpoint was written at (its metadata only)."""
    with safe_open(str(path), framework="pt", device="cpu") as file:
        metadata = file.metadata()
    return int(_checked(metadata, Path(path))["step"])


def list_checkpoints(folder: str | Path) -> list[tuple[int, Path]]:
    """``(step, path)`` of the checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _NAME.search(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def checkpoint_path(folder: str | Path, step: int) -> Path:
    return Path(folder) / f"step_{step:07d}.safetensors"


def prune_checkpoints(folder: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for _, path in list_checkpoints(folder)[:-keep] if keep > 0 else []:
        path.unlink(missing_ok=True)
