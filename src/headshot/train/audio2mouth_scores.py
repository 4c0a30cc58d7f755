"""Scores and baselines of the audio → mouth cross-validation: lagged Pearson r of a predicted lip gap
against the tracked one, the RMS energy envelope, and ridge regression from log-mel context.

All curves are per video frame at 25 fps; ``present`` masks frames where the speaker's face was tracked.
"""

from __future__ import annotations

import numpy as np

from ..eval.lipsync_methods import energy_envelope
from ..speech import features
from ..speech.audio2mouth import MEL_PER_FRAME
from .audio2mouth_data import PAD, Example

__all__ = ["MAX_LAG", "best_lag", "best_lag_r", "energy_envelope", "lagged_r", "ridge_features", "ridge_fit"]

MAX_LAG = 3  # frames: the evaluation allows ±120 ms of audio-video offset per clip


def lagged_r(prediction: np.ndarray, truth: np.ndarray, present: np.ndarray, lag: int) -> float:
    """Pearson r of ``prediction[t + lag]`` against ``truth[t]`` over frames where ``present[t]``; NaN
    when fewer than 5 frames or either side is constant."""
    n = min(len(prediction), len(truth))
    if lag >= 0:
        a, b, m = prediction[lag:n], truth[:n - lag], present[:n - lag]
    else:
        a, b, m = prediction[:n + lag], truth[-lag:n], present[-lag:n]
    a, b = np.asarray(a[m], np.float64), np.asarray(b[m], np.float64)
    if len(a) < 5 or a.std() < 1e-9 or b.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def best_lag(prediction: np.ndarray, truth: np.ndarray, present: np.ndarray, max_lag: int = MAX_LAG) -> int:
    """The lag in -max_lag..max_lag at which ``prediction[t + lag]`` correlates best with ``truth[t]``."""
    scores = [lagged_r(prediction, truth, present, lag) for lag in range(-max_lag, max_lag + 1)]
    return int(np.nanargmax(np.nan_to_num(scores, nan=-1.0))) - max_lag


def best_lag_r(prediction: np.ndarray, truth: np.ndarray, present: np.ndarray, max_lag: int = MAX_LAG) -> float:
    """Highest Pearson r between ``prediction`` shifted by -max_lag..max_lag frames and ``truth``, over
    frames where ``present``; 0 when either is constant."""
    scores = [lagged_r(prediction, truth, present, lag) for lag in range(-max_lag, max_lag + 1)]
    scores = [score for score in scores if np.isfinite(score)]
    return max(scores) if scores else 0.0


def _pooled_mel(example: Example) -> np.ndarray:
    """Normalised log-mel averaged to 25 fps (the 5 mel frames centred on each video frame): ``(frames, bands)``."""
    frames = len(example.targets)
    mel = features.normalise(example.mel[PAD * MEL_PER_FRAME:(PAD + frames) * MEL_PER_FRAME], example.stats)
    padded = np.concatenate([np.zeros((2, mel.shape[1]), np.float32), mel, np.zeros((2, mel.shape[1]), np.float32)])
    return np.stack([padded[4 * i:4 * i + 5].mean(axis=0) for i in range(frames)])


def ridge_features(example: Example, context: int = 5) -> np.ndarray:
    """Log-mel context features of the ridge baseline: 25 fps pooled mel, ±``context`` frames stacked."""
    pooled = _pooled_mel(example)
    padded = np.pad(pooled, ((context, context), (0, 0)))
    return np.concatenate([padded[k:k + len(pooled)] for k in range(2 * context + 1)], axis=1)


def ridge_fit(examples: list[Example], alpha: float = 3000.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ridge regression from :func:`ridge_features` to the normalised lip gap (present frames): weights and
    the features' mean and scale (predict with ``((ridge_features(e) - mean) / scale) @ weights``)."""
    x = np.concatenate([ridge_features(e)[e.present] for e in examples]).astype(np.float64)
    y = np.concatenate([e.targets[e.present, 0] for e in examples]).astype(np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    x = (x - mean) / scale
    weights = np.linalg.solve(x.T @ x + alpha * len(x) / 1000.0 * np.eye(x.shape[1]), x.T @ (y - y.mean()))
    return weights, mean, scale
