"""Coarticulation: a phone timeline to per-frame mouth curves (jaw, lips), the way speech blends sounds.

Two mechanisms, one per kind of articulator goal:

* **Dominance blending** for the continuous shape (jaw opening, lip rounding, spreading, upper-lip
  raise), after Cohen & Massaro ("Modeling coarticulation in synthetic visual speech", 1993): each
  sound ``s`` pulls every channel towards its target ``T_s`` with a dominance
  ``D_s(t) = α_s · exp(-d_s(t) / τ)``, where ``α_s`` is the sound's dominance for the channel (see
  :class:`~headshot.speech.visemes.Articulation`), ``d_s(t)`` the time from ``t`` to the sound's
  *core* (the middle :attr:`Coarticulation.core` of its interval; all of it for silence) and ``τ`` a
  time constant, longer before the sound (anticipation) than after it (carry-over). The value is
  ``Σ D_s T_s / Σ D_s``: weak sounds (/h/, schwa, velars) take their shape from their neighbours, and
  lip rounding reaches further ahead than the jaw (anticipatory rounding starts 100-200 ms before a
  rounded vowel: Perkell & Matthies, "Temporal measures of anticipatory labial coarticulation for the
  vowel /u/", JASA 1992). The result is smoothed slightly and sampled at the frame times.
* **Gestures** for the goals that must be met, however short the sound: lip closure (p b m) and the
  lower lip on the upper teeth (f v). A gesture is fully on over the sound's whole acoustic interval
  (the closure *is* the silent part of a stop or the murmur of /m/), widened to the video frame nearest
  its middle so that every such sound shows in at least one frame; it ramps up over
  :attr:`Coarticulation.closure_lead` before the onset -- lip closing movements take 100-150 ms and the
  lips visibly start moving 40-60 ms before the acoustic onset (Löfqvist & Gracco, "Lip and jaw
  kinematics in bilabial stop consonant production", JSLHR 1997) -- and releases over
  :attr:`Coarticulation.release`. During a gesture the jaw is drawn part of the way to the sound's own
  jaw target (the jaw helps the lips close: Gracco & Abbs 1986), as in JALI's separate jaw and lip
  controls (Edwards et al., SIGGRAPH 2016).

Stressed vowels open wider, unstressed ones less (Erickson, "Articulation of extreme formant patterns
for emphasized vowels", Phonetica 2002).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.ndimage import gaussian_filter1d

from .timeline import Phone
from .visemes import REST, Articulation, articulations, stress_of

MOUTH_CHANNELS = ("jaw", "round", "spread", "close", "tuck", "upper_lip")
DEFAULT_MOUTH_RANGE = 0.30  # inner-lip gap / inter-ocular distance on an open "a" (conversational: 0.25-0.35)


@dataclass(frozen=True)
class Coarticulation:
    """Parameters of the coarticulation model (times in seconds).

    Attributes:
        jaw_anticipation: τ of a sound's jaw dominance before its core.
        jaw_carryover: τ of its jaw dominance after its core.
        lip_anticipation: τ of its lip dominance (rounding, spreading, upper lip) before its core.
        lip_carryover: τ of its lip dominance after its core.
        core: share of a speech sound's interval, around its middle, where it holds full dominance.
        closure_lead: a lip closure (p b m) or lip-teeth contact (f v) ramps up over this time before
            the sound's onset.
        release: ... and ramps down over this time after its end.
        min_gesture: sounds shorter than this (usually segmentation slips) are not stretched to the
            nearest frame.
        gesture_jaw_pull: share of the way the jaw goes to a closing sound's own jaw target while the
            lips close.
        stress_gain: jaw gain of vowels with primary, secondary, no stress (when the timeline marks
            stress at all).
        smoothing: standard deviation of the Gaussian smoothing of the blended channels.
        resolution: time step of the internal grid.
    """

    jaw_anticipation: float = 0.04
    jaw_carryover: float = 0.035
    lip_anticipation: float = 0.08
    lip_carryover: float = 0.05
    core: float = 0.5
    closure_lead: float = 0.06
    release: float = 0.05
    min_gesture: float = 0.015
    gesture_jaw_pull: float = 0.5
    stress_gain: tuple[float, float, float] = (1.1, 1.0, 0.85)
    smoothing: float = 0.012
    resolution: float = 0.005


@dataclass
class MouthCurves:
    """Per-frame mouth coefficients, one value per video frame at ``fps`` (frame i at ``i / fps`` s).

    ``jaw`` (1 = a wide-open "a"; the speech motion scales it to the face), ``round``, ``spread``,
    ``upper_lip`` in [0, ~1.1]; ``close`` (lips shut) and ``tuck`` (lower lip on the upper teeth) in
    [0, 1]. All are 0 at rest.
    """

    fps: float
    jaw: np.ndarray
    round: np.ndarray
    spread: np.ndarray
    close: np.ndarray
    tuck: np.ndarray
    upper_lip: np.ndarray

    @property
    def frames(self) -> int:
        return len(self.jaw)

    @property
    def times(self) -> np.ndarray:
        """Frame times in seconds ``(N,)``."""
        return np.arange(self.frames) / self.fps

    def as_dict(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in MOUTH_CHANNELS}

    def scaled(self, factor: float) -> "MouthCurves":
        """A copy with every channel times ``factor`` (``close`` and ``tuck`` at most 1)."""
        values = {name: getattr(self, name) * factor for name in MOUTH_CHANNELS}
        values["close"] = np.minimum(values["close"], 1.0)
        values["tuck"] = np.minimum(values["tuck"], 1.0)
        return MouthCurves(self.fps, **values)


@dataclass(frozen=True)
class _Segment:
    start: float
    end: float
    target: Articulation
    jaw_gain: float = 1.0
    pause: bool = False


def frame_count(seconds: float, fps: float) -> int:
    """Frames covering ``seconds`` at ``fps``: ``ceil(seconds × fps)``, at least 1."""
    return max(1, math.ceil(seconds * fps - 1e-6))


def _segments(phones: Sequence[Phone], alphabet: str, stress_gain: tuple[float, float, float]) -> list[_Segment]:
    """Phones split into their elements (diphthongs, affricates) with start/end times and jaw gains."""
    stresses = [phone.stress or stress_of(phone.symbol, alphabet) for phone in phones]
    marked = any(stresses)
    segments: list[_Segment] = []
    for phone, stress in zip(phones, stresses):
        start, end = float(phone.start), float(max(phone.end, phone.start))
        t = start
        for share, target in articulations(phone.symbol, alphabet):
            stop = t + share * (end - start)
            gain = 1.0
            if marked and target.vowel:
                gain = {1: stress_gain[0], 2: stress_gain[1]}.get(stress, stress_gain[2])
            segments.append(_Segment(t, stop, target, gain, pause=target is REST))
            t = stop
    return segments


def _blend(segments: list[_Segment], grid: np.ndarray, params: Coarticulation) -> dict[str, np.ndarray]:
    """Dominance-weighted targets of the continuous channels on ``grid`` (seconds)."""
    channels = {"jaw": "jaw", "round": "lip", "spread": "lip", "upper_lip": "lip"}
    taus = {"jaw": (params.jaw_anticipation, params.jaw_carryover),
            "lip": (params.lip_anticipation, params.lip_carryover)}
    numerator = {name: np.zeros_like(grid) for name in channels}
    # A whisper of rest everywhere: far from every sound (before the first, after the last) the mouth rests.
    denominator = {group: np.full_like(grid, 1e-9) for group in taus}
    reach = 12.0 * max(max(pair) for pair in taus.values())
    for segment in segments:
        lo = np.searchsorted(grid, segment.start - reach)
        hi = np.searchsorted(grid, segment.end + reach)
        if lo >= hi:
            continue
        t = grid[lo:hi]
        middle, half = 0.5 * (segment.start + segment.end), 0.5 * (segment.end - segment.start)
        if not segment.pause:
            half *= params.core
        before = np.maximum(middle - half - t, 0.0)
        after = np.maximum(t - middle - half, 0.0)
        target = segment.target
        for group, (anticipation, carryover) in taus.items():
            alpha = target.jaw_dominance if group == "jaw" else target.lip_dominance
            dominance = alpha * np.exp(-before / anticipation - after / carryover)
            denominator[group][lo:hi] += dominance
            for name, owner in channels.items():
                if owner == group:
                    value = getattr(target, name) * (segment.jaw_gain if name == "jaw" else 1.0)
                    if value:
                        numerator[name][lo:hi] += dominance * value
    sigma = params.smoothing / params.resolution
    return {name: gaussian_filter1d(numerator[name] / denominator[group], sigma, mode="nearest")
            for name, group in channels.items()}


def _gestures(segments: list[_Segment], times: np.ndarray, fps: float, params: Coarticulation,
              name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``close`` or ``tuck`` gesture curve at ``times`` and, per frame, the jaw and upper-lip targets
    of the sound making it (where the gesture is on)."""
    curve = np.zeros_like(times)
    jaw_target = np.zeros_like(times)
    upper_lip = np.zeros_like(times)
    for segment in segments:
        size = getattr(segment.target, name)
        if not size:
            continue
        on, off = segment.start, segment.end
        if off - on >= params.min_gesture:  # show it in the frame nearest its middle, at least
            nearest = round(0.5 * (on + off) * fps) / fps
            on, off = min(on, nearest), max(off, nearest)
        up = _smoothstep((times - (on - params.closure_lead)) / params.closure_lead)
        down = 1.0 - _smoothstep((times - off) / params.release)
        gesture = size * np.where(times < on, up, np.where(times > off, down, 1.0))
        stronger = gesture > curve
        curve[stronger] = gesture[stronger]
        jaw_target[stronger] = segment.target.jaw
        upper_lip[stronger] = segment.target.upper_lip
    return curve, jaw_target, upper_lip


def _smoothstep(t: np.ndarray) -> np.ndarray:
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def mouth_curves(phones: Sequence[Phone], fps: float = 25.0, *, alphabet: str = "ipa", frames: int | None = None,
                 loudness: np.ndarray | None = None, params: Coarticulation | None = None) -> MouthCurves:
    """Per-frame mouth curves for a phone timeline.

    Args:
        phones: the timeline (sorted by start; pauses as ``"_"`` or the alphabet's silence symbols).
        fps: video frame rate; frame i shows time ``i / fps``.
        alphabet: ``"ipa"`` or ``"arpabet"``, the alphabet of the symbols.
        frames: number of frames (default: :func:`frame_count` of the last phone's end).
        loudness: optional per-frame loudness in [0, 1] ``(frames,)`` (e.g. normalised energy): the jaw
            opens 0.8× on quiet frames up to 1.2× on the loudest.
        params: model parameters (defaults: :class:`Coarticulation`).

    Returns :class:`MouthCurves` of ``frames`` frames; an empty timeline gives a mouth at rest.
    """
    params = params or Coarticulation()
    fps = float(fps)
    phones = sorted(phones, key=lambda phone: phone.start)
    end = max((phone.end for phone in phones), default=0.0)
    frames = frame_count(end, fps) if frames is None else int(frames)
    times = np.arange(frames) / fps
    segments = _segments(phones, alphabet, params.stress_gain)
    grid = np.arange(-0.5, frames / fps + 0.5, params.resolution)
    blended = {name: np.interp(times, grid, track) for name, track in _blend(segments, grid, params).items()}

    close, close_jaw, _ = _gestures(segments, times, fps, params, "close")
    tuck, tuck_jaw, tuck_upper_lip = _gestures(segments, times, fps, params, "tuck")
    jaw = blended["jaw"]
    for gesture, target in ((close, close_jaw), (tuck, tuck_jaw)):
        pull = params.gesture_jaw_pull * gesture
        jaw = np.where(gesture > 0, (1.0 - pull) * jaw + pull * np.minimum(jaw, target), jaw)
    if loudness is not None:
        loudness = np.asarray(loudness, np.float64)
        if loudness.shape != (frames,):
            raise ValueError(f"loudness must have shape ({frames},), got {loudness.shape}")
        jaw = jaw * (0.8 + 0.4 * np.clip(loudness, 0.0, 1.0))
    # The upper lip lifts off the teeth with the lower lip's tuck (f, v), whatever the neighbours.
    upper_lip = np.maximum(blended["upper_lip"], tuck * tuck_upper_lip)
    return MouthCurves(fps, jaw=jaw, round=blended["round"], spread=blended["spread"], close=close,
                       tuck=tuck, upper_lip=upper_lip)

