"""Process-group setup for ``torchrun`` (one process per GPU or per CPU worker, one or many machines).

``torchrun`` sets ``RANK``, ``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain
``python``/``headshot`` launch sets none of them and trains in one process. The backend is NCCL for CUDA
devices and gloo for CPU.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..errors import HeadshotError


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits: ``rank`` of ``world_size`` (``local_rank`` on its machine) and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """True when the environment names a process group of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: str = "cpu") -> DistributedContext:
    """Join the process group if launched by ``torchrun`` (else a one-process context) and pick the device.

    ``device``: ``cpu``, ``cuda`` (this process's ``LOCAL_RANK``-th GPU) or an explicit ``cuda:N``.
    """
    rank = int(os.environ.get("RANK", "0"))
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise HeadshotError("--device cuda asked for, but no CUDA GPU is available")
        index = int(device.split(":")[1]) if ":" in device else local_rank
        torch.cuda.set_device(index)
        torch_device = torch.device("cuda", index)
    else:
        torch_device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        backend = "nccl" if torch_device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank, world_size, local_rank, torch_device)


def teardown(context: DistributedContext) -> None:
    """Leave the process group (if one was joined)."""
    if context.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(context: DistributedContext) -> None:
    if context.enabled:
        dist.barrier()


def wrap(module: torch.nn.Module, context: DistributedContext, find_unused_parameters: bool = False) -> torch.nn.Module:
    """``DistributedDataParallel(module)`` in a process group, else the module itself.

    Every step of the loop uses all parameters of E, G and D (W is indexed, so all its columns get a
    gradient, zero for videos not in the batch); set ``find_unused_parameters`` (train key
    ``ddp_find_unused_parameters``) for architectures with branches that some steps skip.
    """
    if not context.enabled:
        return module
    device_ids = [context.device.index] if context.device.type == "cuda" else None
    return DistributedDataParallel(module, device_ids=device_ids, find_unused_parameters=find_unused_parameters)


def all_reduce_mean(value: float, context: DistributedContext) -> float:
    """Mean of a float over all ranks (for logging)."""
    if not context.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64,
                          device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return float(tensor.item()) / context.world_size


def any_rank(flag: bool, context: DistributedContext) -> bool:
    """True if ``flag`` is true on any rank (so that all ranks stop together)."""
    if not context.enabled:
        return flag
    tensor = torch.tensor([1.0 if flag else 0.0],
                          device=context.device if context.device.type == "cuda" else "cpu")
    dist.all_reduce(tensor)
    return bool(tensor.item() > 0)
