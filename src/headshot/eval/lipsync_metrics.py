"""Lip-sync measures: mouth opening from landmarks, and how well one opening curve follows another.

Conventions: a *lip-gap curve* is one value per video frame, the inner-lip gap over the inter-ocular
distance (:func:`lip_gap`), NaN where no face was found. Correlations skip NaN frames. A positive lag
or offset means the first curve (the output) is *late*: it does at frame ``t + lag`` what the
reference (the real speaker) does at frame ``t``.

Pure NumPy; nothing here renders or landmarks (except :func:`bilabial_closure` when given frames).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..face import topology

# Vertical pairs (upper, lower) of the inner lips: the same three as motion.retarget.mouth_openness.
LIP_GAP_PAIRS = ((82, 87), (13, 14), (312, 317))
MAX_LAG = 3  # frames each side searched for the best correlation (±120 ms at 25 fps)
CLOSED_GAP = 0.03  # lip gap (inter-ocular units) under which the lips count as closed


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """Distance between the eye centres (mean of each eye's contour points), 3-D, pixels;
    ``(..., 478, 3)`` -> ``(...)``."""
    landmarks = np.asarray(landmarks, np.float64)
    right = landmarks[..., topology.RIGHT_EYE, :].mean(axis=-2)
    left = landmarks[..., topology.LEFT_EYE, :].mean(axis=-2)
    return np.linalg.norm(right - left, axis=-1)


def lip_gap(landmarks: np.ndarray) -> np.ndarray | float:
    """Mouth opening: mean 3-D gap of three facing inner-lip pairs over :func:`inter_ocular`.

    ``landmarks``: ``(478, 3)`` or ``(..., 478, 3)`` pixels (MediaPipe's). About 0.01 with the lips shut
    (the landmarker never quite closes them), 0.3-0.5 wide open. Scale-free, so crops of any size and the
    full frame give the same value.
    """
    landmarks = np.asarray(landmarks, np.float64)
    gap = np.mean([np.linalg.norm(landmarks[..., a, :] - landmarks[..., b, :], axis=-1)
                   for a, b in LIP_GAP_PAIRS], axis=0)
    value = gap / np.maximum(inter_ocular(landmarks), 1e-9)
    return float(value) if np.ndim(value) == 0 else value


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long curves over the frames where both are finite; NaN with
    fewer than 3 such frames or a constant curve."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"curves differ in length: {a.shape} vs {b.shape}")
    valid = np.isfinite(a) & np.isfinite(b)
    if valid.sum() < 3:
        return math.nan
    x, y = a[valid] - a[valid].mean(), b[valid] - b[valid].mean()
    denominator = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y / denominator) if denominator > 1e-12 else math.nan


def _common(output: np.ndarray, real: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    output, real = np.asarray(output, np.float64).ravel(), np.asarray(real, np.float64).ravel()
    count = min(len(output), len(real))
    return output[:count], real[:count]


def lagged_correlations(output: np.ndarray, real: np.ndarray, max_lag: int = MAX_LAG) -> dict[int, float]:
    """``{lag: r}`` for lags ``-max_lag..max_lag`` frames: r of ``output[t + lag]`` with ``real[t]`` over
    the frames both curves have (they are cut to the shorter one first)."""
    output, real = _common(output, real)
    count = len(output)
    result = {}
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            shifted, reference = output[lag:], real[:count - lag]
        else:
            shifted, reference = output[:count + lag], real[-lag:]
        result[lag] = pearson(shifted, reference)
    return result


def best_lag(output: np.ndarray, real: np.ndarray, fps: float, max_lag: int = MAX_LAG) -> dict[str, float]:
    """Correlation at lag 0 and the best within ±``max_lag`` frames.

    Returns ``{"r0", "r_best", "lag_frames", "offset_ms"}``: ``r_best`` the highest r over the lags,
    ``lag_frames`` its lag (positive: the output is late), ``offset_ms`` the same in milliseconds (the
    estimated sync offset). Ties go to the lag nearest 0. All NaN when no lag gives a correlation.
    """
    correlations = lagged_correlations(output, real, max_lag)
    finite = {lag: r for lag, r in correlations.items() if math.isfinite(r)}
    if not finite:
        return {"r0": math.nan, "r_best": math.nan, "lag_frames": math.nan, "offset_ms": math.nan}
    lag = max(sorted(finite, key=abs), key=lambda k: finite[k])
    return {"r0": correlations[0], "r_best": finite[lag], "lag_frames": float(lag),
            "offset_ms": 1000.0 * lag / float(fps)}


def spread(curve: np.ndarray, low: float = 5.0, high: float = 95.0) -> float:
    """Range of a curve's finite values: ``percentile(high) - percentile(low)``; NaN if empty."""
    values = np.asarray(curve, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return math.nan
    upper, lower = np.percentile(values, [high, low])
    return float(upper - lower)


def range_ratio(output: np.ndarray, real: np.ndarray) -> float:
    """Mouth-range ratio: :func:`spread` (5-95 %) of the output's lip gap over the real speaker's; 1 = the
    same range, below 1 a mouth that moves too little. NaN when the real curve does not move."""
    real_spread = spread(real)
    if not math.isfinite(real_spread) or real_spread <= 1e-9:
        return math.nan
    return spread(output) / real_spread


# --- Lip closure on bilabials ---------------------------------------------------------------------------

def is_bilabial(symbol: str, alphabet: str = "ipa") -> bool:
    """Whether a phone shuts the lips (p, b, m and their variants): the viseme table's full lip closure,
    read the way :func:`headshot.speech.visemes.articulations` reads symbols (IPA with stress or length
    marks, ARPAbet with stress digits, either case)."""
    from ..speech.visemes import articulations, is_pause

    if is_pause(symbol):
        return False
    return any(articulation.close >= 0.99 for _, articulation in articulations(symbol, alphabet))


def gaps_of(template_or_frames, fps: float | None = None) -> tuple[np.ndarray, float | None]:
    """A lip-gap curve and its frame rate from a :class:`MotionTemplate` (its landmarks: the motion as
    intended, nothing rendered), a sequence of RGB uint8 frames (landmarked here with MediaPipe in
    video mode: what a viewer sees), or a ready lip-gap curve ``(N,)``."""
    from ..motion.template import MotionTemplate

    if isinstance(template_or_frames, MotionTemplate):
        gaps = lip_gap(template_or_frames.landmarks)
        gaps[~np.asarray(template_or_frames.present, bool)] = np.nan
        return gaps, float(template_or_frames.fps)
    array = template_or_frames
    if isinstance(array, np.ndarray) and array.ndim == 1:
        return array.astype(np.float64), fps
    return landmark_gaps(template_or_frames, fps or 25.0), fps


def landmark_gaps(frames, fps: float = 25.0, analyzer=None, video: bool = True) -> np.ndarray:
    """Lip gap of each RGB uint8 frame (MediaPipe, one face), NaN where none is found.

    ``video``: VIDEO mode (tracking; its temporal filter reads a 2-3-frame lip closure as still partly
    open) or IMAGE mode (each frame on its own: what a closure is, frame by frame). Ignored when an
    ``analyzer`` is given."""
    from ..face.landmarker import FaceAnalyzer

    own = analyzer is None
    analyzer = analyzer or FaceAnalyzer(video=video, max_faces=1)
    try:
        gaps = []
        for index, frame in enumerate(frames):
            stamp = int(round(1000.0 * index / fps)) if analyzer.video else None
            faces = analyzer.detect(frame, timestamp_ms=stamp)
            gaps.append(lip_gap(faces[0].landmarks) if faces else math.nan)
    finally:
        if own:
            analyzer.close()
    return np.asarray(gaps, np.float64)


def bilabial_closure(template_or_frames, speech, fps: float | None = None,
                     threshold: float = CLOSED_GAP) -> dict[str, float]:
    """Share of bilabial phones (p b m / P B M) during which the output's lips close.

    Args:
        template_or_frames: the output as RGB uint8 frames (landmarked here: the honest measure for
            ``say``), a :class:`MotionTemplate` (its landmarks), or a lip-gap curve ``(N,)``.
        speech: a :class:`headshot.speech.timeline.Speech` (or a list of phones, then IPA) timed like the
            output (frame ``i`` at ``i / fps`` s).
        fps: frame rate of frames or curves (a template brings its own; default 25).
        threshold: lip gap (inter-ocular units) under which the lips count as closed.

    For each bilabial the frame nearest the middle of its interval is checked (its closure is centred
    there); a phone whose frame is missing or faceless counts as not closed.

    Returns ``{"bilabials", "closed", "fraction"}`` (fraction NaN when there are no bilabials).
    """
    gaps, curve_fps = gaps_of(template_or_frames, fps)
    curve_fps = float(curve_fps or fps or 25.0)
    phones = getattr(speech, "phones", speech)
    alphabet = getattr(speech, "alphabet", "ipa")
    return closure_at_phones(gaps, phones, alphabet, curve_fps, threshold)


def closure_at_phones(gaps: np.ndarray, phones: Sequence, alphabet: str, fps: float,
                      threshold: float = CLOSED_GAP) -> dict[str, float]:
    """:func:`bilabial_closure` on a ready lip-gap curve."""
    gaps = np.asarray(gaps, np.float64)
    chosen = [p for p in phones if is_bilabial(p.symbol, alphabet)]
    closed = 0
    for phone in chosen:
        index = int(round(0.5 * (phone.start + phone.end) * fps))
        if 0 <= index < len(gaps) and np.isfinite(gaps[index]) and gaps[index] < threshold:
            closed += 1
    return {"bilabials": len(chosen), "closed": closed,
            "fraction": closed / len(chosen) if chosen else math.nan}
