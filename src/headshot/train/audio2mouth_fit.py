"""Training of the audio → mouth model: options, augmented random crops, the loss, and the loop.

:func:`fit` trains an :class:`~headshot.speech.audio2mouth.Audio2Mouth` (``options.members`` networks of
the same architecture from different seeds, averaged) on :class:`~headshot.train.audio2mouth_data.Example`
clips; :mod:`headshot.train.audio2mouth` runs it for the cross-validation and the shipped weights.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from ..speech import features
from ..speech.audio2mouth import (
    MEL_PER_FRAME,
    Audio2Mouth,
    Audio2MouthConfig,
    build_network,
)
from .audio2mouth_data import CURVES, PAD, Example

log = logging.getLogger(__name__)


@dataclass
class TrainOptions:
    """Training run options (saved as ``options.json``).

    Attributes:
        steps: optimiser steps.
        batch: crops per step.
        crop_frames: video frames per crop (25 fps).
        lr, weight_decay: AdamW.
        corr_weight: weight of ``1 - Pearson r`` of the lip gap per crop, next to the MSE of all curves.
        gap_weight: weight of the lip gap's MSE relative to each other curve's.
        silence_prob: chance that a crop gets 0.2-1 s of digital silence spliced at one end, with the mouth
            at rest as the target (teaches "no sound, closed mouth").
        noise_prob: chance of added noise (white, 10-40 dB below speech level) in the mel domain.
        level_jitter: ± natural-log units added to the recording's speech level (gain-estimate errors).
        stretch: speaking-rate perturbation, crops resampled by a factor within ``1 ± stretch``.
        vtlp: vocal-tract length perturbation, mel axis warped by a factor within ``1 ± vtlp``.
        freq_masks, freq_mask_width: SpecAugment frequency masks per crop, and their widest span (bands).
        n_mels, channels, dilations, norm_frames, dropout, members: architecture (``Audio2MouthConfig``).
        seed: random seed (data order, initialisation, augmentation); member ``i`` uses ``seed + 1000 i``.
        align_folds: measure each training clip's audio-video offset with this many identity folds and
            undo it before training (:func:`estimate_offsets`); 0: train on the clips as they are.
        max_offset: largest offset looked for, frames.
        min_offset_gain: a clip is moved only if r at its best lag beats r at lag 0 by this much.
    """

    steps: int = 500
    batch: int = 16
    crop_frames: int = 64
    lr: float = 2e-3
    weight_decay: float = 0.05
    corr_weight: float = 0.5
    gap_weight: float = 4.0
    silence_prob: float = 0.25
    noise_prob: float = 0.5
    level_jitter: float = 0.7
    stretch: float = 0.1
    vtlp: float = 0.1
    freq_masks: int = 2
    freq_mask_width: int = 10
    n_mels: int = 40
    channels: tuple[int, int] = (64, 96)
    dilations: tuple[int, ...] = (1, 2, 4)
    norm_frames: int = 32
    dropout: float = 0.1
    members: int = 3
    seed: int = 0
    align_folds: int = 3
    max_offset: int = 8
    min_offset_gain: float = 0.1


def _resample_rows(array: np.ndarray, count: int) -> np.ndarray:
    """Linear resampling along axis 0 to ``count`` rows, row ``i`` read at ``i * len / count``."""
    position = np.arange(count) * (len(array) / count)
    low = np.minimum(position.astype(np.int64), len(array) - 1)
    high = np.minimum(low + 1, len(array) - 1)
    weight = (position - low)[:, None]
    return (array[low] * (1.0 - weight) + array[high] * weight).astype(np.float32)


def _warp_bands(mel: np.ndarray, warp: float) -> np.ndarray:
    """Read band ``k`` at ``k * warp`` (linear interpolation, clamped): formants scaled by about ``1 / warp``."""
    position = np.clip(np.arange(mel.shape[1]) * warp, 0, mel.shape[1] - 1)
    low = np.minimum(position.astype(np.int64), mel.shape[1] - 2)
    weight = position - low
    return (mel[:, low] * (1.0 - weight) + mel[:, low + 1] * weight).astype(np.float32)


def _crop_batch(examples: list[Example], options: TrainOptions, rng: np.random.Generator, probabilities):
    """A batch of augmented crops: mel ``(B, bands, 4 L)``, targets ``(B, L, curves)``, mask ``(B, L)``."""
    length = options.crop_frames
    mels, targets, masks = [], [], []
    for _ in range(options.batch):
        example = examples[rng.choice(len(examples), p=probabilities)]
        frames = len(example.targets)
        # Speaking-rate perturbation: read `source` frames and resample them to `length`.
        rate = rng.uniform(1.0 - options.stretch, 1.0 + options.stretch)
        source = round(length * rate)
        start = int(rng.integers(-source // 4, max(frames - 3 * source // 4, 1)))  # within ±PAD
        offset = (start + PAD) * MEL_PER_FRAME
        mel = _resample_rows(example.mel[offset:offset + source * MEL_PER_FRAME], length * MEL_PER_FRAME)
        index = np.arange(start, start + source)
        inside = (index >= 0) & (index < frames)
        target = np.zeros((source, example.targets.shape[1]), np.float32)
        target[inside] = example.targets[index[inside]]
        mask = np.zeros(source, bool)
        mask[inside] = example.present[index[inside]]
        target = _resample_rows(target, length)
        mask = _resample_rows(mask[:, None].astype(np.float32), length)[:, 0] > 0.999
        band_mean = example.stats.band_mean
        if options.vtlp:
            # Vocal-tract length perturbation: stretch the mel axis (formants of a longer / shorter tract).
            warp = rng.uniform(1.0 - options.vtlp, 1.0 + options.vtlp)
            mel = _warp_bands(mel, warp)
            band_mean = _warp_bands(band_mean[None], warp)[0]
        # Before the start and after the end of a clip the audio is silence; its mouth is unknown.
        if rng.random() < options.silence_prob:
            span = int(rng.integers(5, 26))
            mel_span = span * MEL_PER_FRAME
            if rng.random() < 0.5:
                mel[:mel_span] = np.log(1e-10)
                target[:span], mask[:span] = 0.0, True
            else:
                mel[-mel_span:] = np.log(1e-10)
                target[-span:], mask[-span:] = 0.0, True
        jitter = rng.uniform(-options.level_jitter, options.level_jitter)
        stats = features.RecordingStats(example.stats.level + jitter, band_mean + jitter)
        if rng.random() < options.noise_prob:
            noise = stats.level - rng.uniform(10.0, 40.0) / 10.0 * math.log(10.0)
            noise = noise + rng.normal(0.0, 0.5, size=(1, mel.shape[1])) + rng.normal(0.0, 0.3, size=mel.shape)
            mel = np.logaddexp(mel, noise).astype(np.float32)
        normalised = features.normalise(mel, stats)
        for _ in range(options.freq_masks):
            width = int(rng.integers(0, options.freq_mask_width + 1))
            low = int(rng.integers(0, normalised.shape[1] - width + 1))
            normalised[:, low:low + width] = 0.0
        mels.append(normalised.T)
        targets.append(target)
        masks.append(mask)
    return np.stack(mels), np.stack(targets), np.stack(masks)


def _loss(prediction, target, mask, options: TrainOptions):
    """Masked MSE over curves (lip gap weighted ``gap_weight``) + ``corr_weight`` × (1 - r) of the lip gap."""
    import torch

    weights = torch.ones(prediction.shape[-1])
    weights[0] = options.gap_weight
    weights = weights / weights.sum()
    m = mask.float().unsqueeze(-1)
    mse = (((prediction - target) ** 2 * m).sum(dim=(0, 1)) / m.sum().clamp(min=1.0) * weights).sum()
    p, t, w = prediction[..., 0], target[..., 0], mask.float()
    count = w.sum(dim=1).clamp(min=1.0)
    p = p - (p * w).sum(dim=1, keepdim=True) / count[:, None]
    t = t - (t * w).sum(dim=1, keepdim=True) / count[:, None]
    cov = (p * t * w).sum(dim=1)
    r = cov / torch.sqrt((p * p * w).sum(dim=1) * (t * t * w).sum(dim=1) + 1e-6)
    valid = (t * t * w).sum(dim=1) > 1e-3
    corr = (1.0 - r[valid]).mean() if valid.any() else prediction.sum() * 0.0
    return mse + options.corr_weight * corr


def fit(examples: list[Example], rest: np.ndarray, spread: np.ndarray, options: TrainOptions) -> Audio2Mouth:
    """Train a model (``options.members`` networks, one after the other) on ``examples``; eval mode."""
    config = Audio2MouthConfig(curves=tuple(CURVES), n_mels=options.n_mels, channels=tuple(options.channels),
                               dilations=tuple(options.dilations), norm_frames=options.norm_frames,
                               dropout=options.dropout, members=options.members,
                               rest=tuple(float(v) for v in rest), spread=tuple(float(v) for v in spread))
    network = build_network(config)
    for index, member in enumerate(network.members):
        _fit_member(member, examples, options, options.seed + 1000 * index)
    network.eval()
    return Audio2Mouth(config, network)


def _fit_member(network, examples: list[Example], options: TrainOptions, seed: int) -> None:
    """Train one ensemble member in place: AdamW, one-cycle learning rate, augmented random crops."""
    import torch

    torch.manual_seed(seed)
    for layer in network.modules():  # each member starts from its own initialisation
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    rng = np.random.default_rng(seed)
    optimiser = torch.optim.AdamW(network.parameters(), lr=options.lr, weight_decay=options.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=options.lr, total_steps=options.steps,
                                                   pct_start=0.1)
    # Clips drawn with probability ∝ sqrt(length): long clips count more, without one person dominating.
    lengths = np.array([len(e.targets) for e in examples], np.float64)
    probabilities = np.sqrt(lengths) / np.sqrt(lengths).sum()
    network.train()
    started = time.time()
    running = 0.0
    for step in range(options.steps):
        mel, target, mask = _crop_batch(examples, options, rng, probabilities)
        prediction = network(torch.from_numpy(mel)).transpose(1, 2)
        loss = _loss(prediction, torch.from_numpy(target), torch.from_numpy(mask), options)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimiser.step()
        schedule.step()
        running = loss.item() if step == 0 else 0.98 * running + 0.02 * loss.item()
        if step % 250 == 0 or step == options.steps - 1:
            log.info("seed %d step %d loss %.4f (%.0f s)", seed, step, running, time.time() - started)
    network.eval()


def predict_lip_gap(model: Audio2Mouth, example: Example) -> np.ndarray:
    """The model's lip gap for a clip, through the public inference path (natural units, 25 fps)."""
    curves = model.predict(example.samples, 16000, fps=25.0)
    return curves["lip_gap"][:len(example.targets)]
