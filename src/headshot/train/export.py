"""Shipping a trained model: keep what inference and fine-tuning need, nothing else.

A run's ``model.safetensors`` (written at every checkpoint) holds ``embedder`` (EMA), ``generator`` (live),
``generator_ema`` and ``discriminator``. The shipped file needs only ``embedder`` + ``generator_ema`` for
``NeuralEngine``; ``headshot finetune`` also uses the discriminator, which may be stored in float16 (it only
starts the fine-tuning discriminator D′, whose weights are then trained in float32 again). With ``half``
every network is stored in float16 and loaded back into float32 networks (the shipped file: about 25 MB).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..neural.checkpoint import load_model, save_model
from ..neural.discriminator import Discriminator
from ..neural.embedder import Embedder
from ..neural.generator import Generator


def slim_model(source: str | Path, output: str | Path, discriminator: bool = True,
               half_discriminator: bool = True, extra: dict | None = None, half: bool = False) -> Path:
    """Write ``output`` with the ``embedder`` and ``generator_ema`` (as ``generator_ema``) of ``source``.

    Args:
        source: a model file from ``headshot train`` (a run's ``model.safetensors``).
        discriminator: also keep the discriminator (needed by ``headshot finetune`` for its adversarial
            terms; without it fine-tuning uses the content and L1 terms only).
        half_discriminator: store the discriminator's floating tensors as float16 (halves its size).
        extra: metadata merged over the source's (e.g. a model-card summary).
        half: store every network in float16 (half the file; the loaders copy the weights into float32
            networks, so inference and fine-tuning still compute in float32; outputs move by ~1/256 of a
            grey level at most on the shipped model, ``tests/test_train_export.py``).

    Returns the path written (atomically, by :func:`headshot.neural.checkpoint.save_model`).
    """
    model = load_model(source)
    cfg = model.config
    entries: dict = {
        "embedder": model.load_into("embedder", Embedder(cfg)),
        "generator_ema": model.load_into(model.generator_name() or "generator", Generator(cfg)),
    }
    if discriminator and "discriminator" in model.states:
        num_videos = model.states["discriminator"]["W"].shape[1]
        network = model.load_into("discriminator", Discriminator(cfg, num_videos))
        if half_discriminator:
            network = network.to(torch.float16)
        entries["discriminator"] = network
    if half:
        entries = {name: network.to(torch.float16) for name, network in entries.items()}
    metadata = dict(model.metadata)
    metadata.update(extra or {})
    metadata["slimmed_from"] = str(source)
    return save_model(output, entries, cfg, metadata)
