"""Built-in procedural motions: ``talk``, ``nod``, ``smile``, ``blink``.

A preset deforms the SOURCE's own landmarks, so with relative retargeting and the first frame as the
reference only the motion transfers (frame 0 is always the source at rest, bit for bit). Nothing here
comes from recorded data: each preset is a set of time curves driving the face rig of
:mod:`headshot.motion.rig` (jaw, lips, smile, eyelids, brows, head pose). The curve building blocks
(:func:`blink_curve`, :func:`blink_onsets`, :func:`sway`, :func:`bump`) are shared with speech motion.

Time curves are deterministic for a given ``seed``. Speech rhythm follows typical syllable rates of
3-5 per second (e.g. Ding et al., "Temporal modulations in speech and music", Neurosci. Biobehav. Rev.
2017) and blinks come every 2-5 s, each about 0.25 s long with a faster closing than opening phase.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import HeadshotError
from .rig import FaceRig, RigCurves, blendshapes
from .rig import smoothstep as _smoothstep
from .template import MotionTemplate

PRESETS = ("talk", "nod", "smile", "blink")
DEFAULT_SECONDS = {"talk": 8.0, "nod": 4.0, "smile": 4.0, "blink": 4.0}
MAX_SECONDS = 600.0


# -- time curves -------------------------------------------------------------------------------------------
def blink_curve(times: np.ndarray, onsets: list[float]) -> np.ndarray:
    """Blinks starting at ``onsets`` (s): closing 0.08 s, closed 0.04 s, opening 0.15 s."""
    curve = np.zeros_like(times)
    for onset in onsets:
        u = times - onset
        closing = _smoothstep(u / 0.08)
        opening = 1.0 - _smoothstep((u - 0.12) / 0.15)
        curve = np.maximum(curve, np.where(u < 0.12, closing, opening) * (u >= 0))
    return curve


def blink_onsets(rng: np.random.Generator, seconds: float, first: tuple[float, float],
                  interval: tuple[float, float]) -> list[float]:
    onsets, t = [], rng.uniform(*first)
    while t < seconds - 0.3:
        onsets.append(t)
        t += rng.uniform(*interval)
    return onsets


def sway(rng: np.random.Generator, times: np.ndarray, amplitude: float,
          frequencies: tuple[float, float] = (0.12, 0.5)) -> np.ndarray:
    """Slow random head drift starting at 0: a sum of three sinusoids, eased in over the first 0.6 s."""
    curve = np.zeros_like(times)
    for _ in range(3):
        frequency, phase = rng.uniform(*frequencies), rng.uniform(0, 2 * math.pi)
        curve += np.sin(2 * math.pi * frequency * times + phase) - math.sin(phase)
    curve *= amplitude / 3.0
    return curve * _smoothstep(times / 0.6)


def bump(times: np.ndarray, start: float, duration: float) -> np.ndarray:
    """A raised-cosine pulse (0 -> 1 -> 0) over ``[start, start + duration]``."""
    u = (times - start) / duration
    return np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def _talk(rng: np.random.Generator, times: np.ndarray, seconds: float) -> RigCurves:
    curves = RigCurves(len(times))
    # Vowel classes: (share, jaw, round, stretch). "m" closes the lips (bilabials) between vowels.
    vowels = [(0.35, 1.0, 0.0, 0.2), (0.25, 0.55, 0.0, 0.8), (0.25, 0.7, 0.8, 0.0), (0.15, 0.12, 0.2, 0.0)]
    shares = np.array([v[0] for v in vowels])
    t = rng.uniform(0.25, 0.45)  # a breath before the first word
    while t < seconds - 0.3:
        phrase_end = min(t + rng.uniform(1.2, 3.0), seconds - 0.2)
        loudness = rng.uniform(0.6, 1.0)
        if rng.random() < 0.4:  # brows go up at some phrase starts
            curves.brows += rng.uniform(0.3, 0.8) * bump(times, t - 0.1, rng.uniform(0.5, 0.9))
        while t < phrase_end:
            interval = rng.uniform(0.19, 0.32)  # 3.1 to 5.3 syllables per second
            _, jaw, round_, stretch = vowels[rng.choice(len(vowels), p=shares)]
            amplitude = loudness * rng.uniform(0.45, 1.0)
            if rng.random() < 0.25:  # stressed syllable: wider, with a small nod
                amplitude = min(1.0, amplitude * 1.35)
                curves.pitch += 1.2 * bump(times, t, 0.45)
            pulse = bump(times, t, interval * 1.15)
            curves.jaw = np.maximum(curves.jaw, amplitude * jaw * pulse)
            curves.round = np.maximum(curves.round, amplitude * round_ * pulse)
            curves.stretch = np.maximum(curves.stretch, amplitude * stretch * pulse)
            t += interval
        t = phrase_end + rng.uniform(0.3, 0.8)  # pause between phrases
    curves.blink = blink_curve(times, blink_onsets(rng, seconds, (0.8, 2.5), (2.0, 5.0)))
    curves.yaw += sway(rng, times, 3.0)
    curves.pitch += sway(rng, times, 1.5)
    curves.roll += sway(rng, times, 1.5)
    curves.shift[:, 0] = sway(rng, times, 0.02)
    curves.shift[:, 1] = sway(rng, times, 0.01)
    return curves


def _nod(rng: np.random.Generator, times: np.ndarray, seconds: float) -> RigCurves:
    curves = RigCurves(len(times))
    frequency = 0.9  # nods per second
    envelope = _smoothstep(times / 0.25) * _smoothstep((seconds - times) / 0.4)
    curves.pitch = 9.0 * np.sin(2 * math.pi * frequency * times) * envelope
    curves.yaw = sway(rng, times, 1.0)
    curves.shift[:, 1] = 0.02 * np.sin(2 * math.pi * frequency * times) * envelope
    curves.blink = blink_curve(times, blink_onsets(rng, seconds, (1.0, 2.0), (2.0, 4.0)))
    return curves


def _smile(rng: np.random.Generator, times: np.ndarray, seconds: float) -> RigCurves:
    curves = RigCurves(len(times))
    start = min(0.4, 0.2 * seconds)
    curves.smile = _smoothstep((times - start) / 1.0)
    curves.jaw = 0.12 * curves.smile  # lips part slightly
    curves.brows = 0.2 * curves.smile
    curves.blink = blink_curve(times, blink_onsets(rng, seconds, (1.8, 2.5), (2.5, 4.5)))
    curves.yaw = sway(rng, times, 1.5)
    curves.roll = sway(rng, times, 1.0) + 2.0 * curves.smile  # a slight head tilt
    curves.pitch = sway(rng, times, 1.0)
    return curves


def _blink(rng: np.random.Generator, times: np.ndarray, seconds: float) -> RigCurves:
    curves = RigCurves(len(times))
    curves.blink = blink_curve(times, blink_onsets(rng, seconds, (0.5, 0.7), (1.1, 1.6)))
    curves.yaw = sway(rng, times, 0.8)
    curves.pitch = sway(rng, times, 0.5)
    return curves


_GENERATORS = {"talk": _talk, "nod": _nod, "smile": _smile, "blink": _blink}


def preset(name: str, source_landmarks: np.ndarray, frame_size: tuple[int, int], fps: float = 25.0,
           seconds: float | None = None, seed: int = 0) -> MotionTemplate:
    """A built-in motion made from the source's own face.

    Args:
        name: one of :data:`PRESETS`.
        source_landmarks: ``(478, 3)`` source landmarks, pixels of a frame of ``frame_size``.
        frame_size: ``(width, height)`` of that frame.
        fps: frame rate of the motion.
        seconds: duration (default :data:`DEFAULT_SECONDS` per preset: talk 8 s, others 4 s).
        seed: random seed of the time curves (same seed, same motion).

    Returns a :class:`MotionTemplate` whose frame 0 is exactly ``source_landmarks`` (use it as the
    relative reference) and whose ``metadata`` names the preset. Raises :class:`HeadshotError` for an
    unknown name or an out-of-range duration / fps.
    """
    if name not in _GENERATORS:
        raise HeadshotError(f"unknown motion preset {name!r}; choose one of: {', '.join(PRESETS)}")
    seconds = DEFAULT_SECONDS[name] if seconds is None else float(seconds)
    if not (0 < seconds <= MAX_SECONDS):
        raise HeadshotError(f"preset length must be between 0 and {MAX_SECONDS:.0f} seconds (got {seconds})")
    if not (1.0 <= float(fps) <= 120.0):
        raise HeadshotError(f"preset fps must be between 1 and 120 (got {fps})")
    source = np.asarray(source_landmarks, dtype=np.float64)
    if source.shape != (478, 3) or not np.isfinite(source).all():
        raise ValueError(f"source landmarks must be finite (478, 3), got {source.shape}")
    frames = max(1, int(round(seconds * fps)))
    times = np.arange(frames) / float(fps)
    rng = np.random.default_rng(seed)
    curves = _GENERATORS[name](rng, times, seconds)
    landmarks = FaceRig(source).landmarks(curves)
    return MotionTemplate(fps=fps, frame_size=tuple(frame_size), landmarks=landmarks,
                          blendshapes=blendshapes(curves), present=np.ones(frames, bool),
                          metadata={"preset": name, "seed": int(seed), "creator": "headshot preset"})
