"""Temporal smoothing of landmark tracks with the One-Euro filter.

The One-Euro filter (Casiez, Roussel and Vogel, "1€ Filter: A Simple Speed-based Low-pass Filter for
Noisy Input in Interactive Systems", CHI 2012) is an exponential low-pass filter whose cutoff frequency
rises with the signal's speed: at rest it smooths hard (removing detector jitter), when a point moves
fast it follows closely (no lag on a fast mouth opening).

Here it runs on whole landmark arrays at once and every point gets its own cutoff. Two changes to the
paper's speed estimate make it fit face landmarks, where per-point detector jitter (about 1 px) is as
fast as a slow real motion:

* the image-plane motion of each point is split into a *coherent* part (the least-squares affine motion
  of the whole point set: head motion, estimated from all points so jitter averages out) and a *local*
  residual (mouth, eyelids, plus the jitter);
* each part's speed, low-passed at ``d_cutoff``, has a dead zone subtracted (``speed_threshold`` for
  the local part, a fifth of it for the coherent part) before it raises the cutoff, so jitter alone
  keeps the cutoff at ``min_cutoff`` while a real lip movement (hundreds of px/s) opens it at once.

The three coordinates of a point share its cutoff. Speeds are in pixels per second, so the defaults
assume faces of roughly 200-500 px; :func:`smoothing_params` maps a 0-1 user amount to parameters.
"""

from __future__ import annotations

import math

import numpy as np

# Defaults chosen on MediaPipe landmarks of 256-512 px faces at 25 fps (see tests/test_motion_smoothing.py):
# jitter of sigma = 1 px is reduced more than 3x while a 15 px one-frame lip step reaches 80 % in two frames.
DEFAULT_MIN_CUTOFF = 0.5  # Hz, cutoff at rest
DEFAULT_BETA = 0.2  # Hz per (px/s): how fast the cutoff rises with speed
DEFAULT_D_CUTOFF = 4.0  # Hz, cutoff of the speed estimates
DEFAULT_SPEED_THRESHOLD = 60.0  # px/s, local speeds below this count as jitter
GLOBAL_FRACTION = 0.2  # the coherent-motion dead zone is this fraction of the local one


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of an exponential filter with ``cutoff`` (Hz) sampled every ``dt`` seconds."""
    tau = 1.0 / (2.0 * math.pi * np.asarray(cutoff))
    return 1.0 / (1.0 + tau / dt)


def _split_speed(previous: np.ndarray, current: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-point image-plane speeds (px/s) of the coherent (affine) motion and of the local residual."""
    before = previous[..., :2].reshape(-1, 2)
    after = current[..., :2].reshape(-1, 2)
    displacement = after - before
    if len(before) >= 3:
        design = np.concatenate([before, np.ones((len(before), 1))], axis=1)
        affine, *_ = np.linalg.lstsq(design, after, rcond=None)
        coherent = design @ affine - before
    else:
        coherent = np.broadcast_to(displacement.mean(axis=0), displacement.shape)
    shape = previous.shape[:-1]
    global_speed = np.linalg.norm(coherent, axis=-1).reshape(shape) / dt
    local_speed = np.linalg.norm(displacement - coherent, axis=-1).reshape(shape) / dt
    return global_speed, local_speed


class OneEuroFilter:
    """One-Euro filter over arrays of points, e.g. landmarks ``(478, 3)`` in pixels.

    Args:
        min_cutoff: cutoff frequency (Hz) when the points are still; lower = smoother, more lag at rest.
        beta: increase of the cutoff per unit of speed (Hz per px/s); higher = less lag when moving.
        d_cutoff: cutoff (Hz) of the low-pass filter on the speed estimates.
        speed_threshold: dead zone (px/s) of the local speed; a fifth of it applies to the coherent
            (head) speed. Jitter of sigma ~1 px gives local speeds around 45 px/s at 25 fps.

    Call :meth:`filter` with each new array (points on the last axis, 2 or 3 coordinates; x and y
    in pixels drive the speed estimate) and its time stamp in seconds (strictly increasing; a
    repeated or earlier time stamp returns the previous output unchanged). Arrays keep their shape and
    dtype. :meth:`reset` forgets the history (e.g. when the face is lost).
    """

    def __init__(self, min_cutoff: float = DEFAULT_MIN_CUTOFF, beta: float = DEFAULT_BETA,
                 d_cutoff: float = DEFAULT_D_CUTOFF, speed_threshold: float = DEFAULT_SPEED_THRESHOLD):
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta >= 0")
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.speed_threshold = float(speed_threshold)
        self.reset()

    def reset(self) -> None:
        """Forget the past: the next call returns its input unchanged."""
        self._previous: np.ndarray | None = None  # last output, float64
        self._global_speed: np.ndarray | float = 0.0  # filtered speeds per point, px/s
        self._local_speed: np.ndarray | float = 0.0
        self._time: float | None = None

    def filter(self, landmarks: np.ndarray, t_seconds: float) -> np.ndarray:
        """Smoothed copy of ``landmarks`` (any shape ``(..., D)``) observed at time ``t_seconds``."""
        values = np.asarray(landmarks, dtype=np.float64)
        if values.ndim < 2 or values.shape[-1] < 2 or not np.isfinite(values).all():
            raise ValueError("OneEuroFilter needs finite points of shape (..., D); skip frames without a face")
        if self._previous is None or self._previous.shape != values.shape:
            self._previous = values.copy()
            self._global_speed = np.zeros(values.shape[:-1])
            self._local_speed = np.zeros(values.shape[:-1])
            self._time = float(t_seconds)
            return np.asarray(landmarks).copy()
        dt = float(t_seconds) - self._time
        if dt <= 0:
            return self._previous.astype(np.asarray(landmarks).dtype)
        # Speed of each point, split into a coherent part (one affine motion of the whole point set in
        # the image plane: head motion, estimated from all points so jitter averages out) and a local
        # residual (mouth, eyes). Local speeds below ``speed_threshold`` count as jitter.
        global_speed, local_speed = _split_speed(self._previous, values, dt)
        alpha_d = _alpha(self.d_cutoff, dt)
        self._global_speed = self._global_speed + alpha_d * (global_speed - self._global_speed)
        self._local_speed = self._local_speed + alpha_d * (local_speed - self._local_speed)
        speed = (np.maximum(self._global_speed - GLOBAL_FRACTION * self.speed_threshold, 0.0)
                 + np.maximum(self._local_speed - self.speed_threshold, 0.0))
        cutoff = self.min_cutoff + self.beta * speed
        alpha = _alpha(cutoff, dt)[..., None]
        self._previous = self._previous + alpha * (values - self._previous)
        self._time = float(t_seconds)
        return self._previous.astype(np.asarray(landmarks).dtype)

    __call__ = filter


def smoothing_params(amount: float) -> dict[str, float] | None:
    """One-Euro parameters for a user-facing smoothing ``amount`` in [0, 1].

    0 means no smoothing (returns ``None``); 0.5 gives the module defaults (tuned for 256-512 px faces at
    25 fps); 1 smooths about 3x harder (lower cutoff at rest, slower rise, larger jitter dead zone) and
    small amounts approach a transparent filter. Returns keyword arguments for :class:`OneEuroFilter`.
    """
    amount = float(amount)
    if not 0.0 <= amount <= 1.0:  # also rejects NaN
        raise ValueError(f"smoothing amount must be in [0, 1], got {amount}")
    if amount == 0.0:
        return None
    strength = 3.0 ** (2.0 * amount - 1.0)  # 1/3 .. 1 .. 3
    return {
        "min_cutoff": DEFAULT_MIN_CUTOFF / strength,
        "beta": DEFAULT_BETA / strength,
        "d_cutoff": DEFAULT_D_CUTOFF,
        "speed_threshold": DEFAULT_SPEED_THRESHOLD * strength,
    }
