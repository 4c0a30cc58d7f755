"""Built-in procedural motions: ``talk``, ``nod``, ``smile``, ``blink``.

A preset deforms the SOURCE's own landmarks, so with relative retargeting and the first frame as the
reference only the motion transfers (frame 0 is always the source at rest, bit for bit). Nothing here
comes from recorded data: each frame is the source's canonical face (see :mod:`headshot.motion.pose`)
plus a few hand-built deformation fields with smooth per-vertex weights -- jaw rotation about a hinge
behind the cheeks, lip rounding and stretching, mouth corners up and out for a smile, eyelids closing,
brows raising -- driven by time curves, then posed with a small head motion.

Weights are defined once on MediaPipe's identity-free canonical face, by vertex index; the RIGID points
never move, so the head pose found by :func:`~headshot.motion.pose.decompose` stays the one we set.
Time curves are deterministic for a given ``seed``. Speech rhythm follows typical syllable rates of
3-5 per second (e.g. Ding et al., "Temporal modulations in speech and music", Neurosci. Biobehav. Rev.
2017) and blinks come every 2-5 s, each about 0.25 s long with a faster closing than opening phase.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import HeadshotError
from ..face import topology
from .pose import HeadPose, canonical_face_model, decompose, rotation_matrix
from .template import MotionTemplate

PRESETS = ("talk", "nod", "smile", "blink")
DEFAULT_SECONDS = {"talk": 8.0, "nod": 4.0, "smile": 4.0, "blink": 4.0}
MAX_SECONDS = 600.0

# Geometry in canonical units (RMS radius of the RIGID points, ~6.5 cm; x right, y down, z away from
# the camera). The jaw hinge (temporomandibular joint) sits below the eyes' level, well behind the face.
_JAW_HINGE_YZ = (0.35, 1.0)
_JAW_MAX_DEGREES = 13.0  # jaw = 1: a wide-open "a" (mouth openness ~0.35 of the inter-ocular distance)

# Lip loops split into corners / upper half / lower half (topology's loops start at a corner).
_UPPER_LIP = np.concatenate([topology.OUTER_LIPS[1:10], topology.INNER_LIPS[1:10]])
_LOWER_LIP = np.concatenate([topology.OUTER_LIPS[11:20], topology.INNER_LIPS[11:20]])
_LIP_CORNERS = np.array([topology.OUTER_LIPS[0], topology.OUTER_LIPS[10],
                         topology.INNER_LIPS[0], topology.INNER_LIPS[10]])
# (upper, lower) eyelid pairs, right eye then left eye (topology's eye loops start at a corner).
_LID_PAIRS = np.array([(topology.RIGHT_EYE[i], topology.RIGHT_EYE[16 - i]) for i in range(1, 8)]
                      + [(topology.LEFT_EYE[i], topology.LEFT_EYE[16 - i]) for i in range(1, 8)])

# MediaPipe blendshape indices we fill in so that engines reading blendshapes see the motion.
_BLENDSHAPE = {"browInnerUp": 3, "browOuterUpLeft": 4, "browOuterUpRight": 5, "eyeBlinkLeft": 9,
               "eyeBlinkRight": 10, "jawOpen": 25, "mouthPucker": 38, "mouthSmileLeft": 44,
               "mouthSmileRight": 45, "mouthStretchLeft": 46, "mouthStretchRight": 47}


def _smoothstep(t):
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@functools.lru_cache(maxsize=1)
def _model_points() -> np.ndarray:
    """MediaPipe's canonical face ``(468, 3)`` in canonical units, plus the irises at their eye centres."""
    model = canonical_face_model()
    rigid = model[topology.RIGID]
    centre = rigid.mean(axis=0)
    points = (model - centre) / math.sqrt(((rigid - centre) ** 2).sum(axis=1).mean())
    right = points[topology.RIGHT_EYE].mean(axis=0)
    left = points[topology.LEFT_EYE].mean(axis=0)
    return np.concatenate([points, np.repeat(right[None], 5, 0), np.repeat(left[None], 5, 0)])


def _distance_to(points: np.ndarray, indices: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[indices][None], axis=-1).min(axis=1)


@functools.lru_cache(maxsize=1)
def _weights() -> dict[str, np.ndarray]:
    """Per-vertex weights ``(478,)`` of each deformation, 0 on the RIGID points and the irises."""
    points = _model_points()
    y = points[:, 1]
    lips = topology.region_indices("lips")

    jaw = _smoothstep((y - 0.95) / 0.35)
    jaw[_UPPER_LIP] = 0.0
    jaw[_LOWER_LIP] = 1.0
    jaw[_LIP_CORNERS] = 0.5

    mouth = np.exp(-(_distance_to(points, lips) / 0.15) ** 2)
    mouth[lips] = 1.0

    corners = np.exp(-(_distance_to(points, _LIP_CORNERS[:2]) / 0.25) ** 2) * _smoothstep((y - 0.55) / 0.3)
    cheeks = np.exp(-((np.abs(points[:, 0]) - 0.6) ** 2 + (y - 0.7) ** 2) / 0.08)

    brows_index = topology.region_indices("brows")
    brows = np.exp(-(_distance_to(points, brows_index) / 0.18) ** 2) * _smoothstep((0.0 - y) / 0.15)
    brows[brows_index] = 1.0

    weights = {"jaw": jaw, "mouth": mouth, "corners": corners, "cheeks": cheeks, "brows": brows}
    for weight in weights.values():
        weight[topology.RIGID] = 0.0
        weight[468:] = 0.0
    return weights


@functools.lru_cache(maxsize=1)
def _lid_spread() -> tuple[np.ndarray, np.ndarray]:
    """How the eyelid displacement spreads to nearby skin: ``(weights (478, 14), upper_or_lower)``.

    Row i gives, for vertex i, the share of each lid pair's displacement it follows; lid vertices follow
    their own pair fully, nearby skin follows the nearest lid points at most halfway.
    """
    points = _model_points()
    lids = _LID_PAIRS.ravel()  # (28,) upper, lower, upper, lower ...
    distance = np.linalg.norm(points[:, None, :] - points[lids][None], axis=-1)
    gaussian = np.exp(-(distance / 0.07) ** 2)
    share = gaussian / np.maximum(gaussian.sum(axis=1, keepdims=True), 1e-12)
    share *= 0.5 * gaussian.max(axis=1, keepdims=True)
    share[lids] = 0.0
    share[lids, np.arange(len(lids))] = 1.0
    share[topology.RIGID] = 0.0
    share[468:] = 0.0
    return share, lids


@dataclass
class _Curves:
    """Per-frame coefficients of the deformations (0 = rest) and the head motion."""

    frames: int
    jaw: np.ndarray = None  # 0..1, fraction of _JAW_MAX_DEGREES
    round: np.ndarray = None  # lip rounding ("o", "u")
    stretch: np.ndarray = None  # lip stretching ("e", "i")
    smile: np.ndarray = None
    blink: np.ndarray = None  # 0 open .. 1 closed
    brows: np.ndarray = None  # brow raise
    yaw: np.ndarray = None  # degrees, see headshot.motion.pose.rotation_matrix
    pitch: np.ndarray = None
    roll: np.ndarray = None
    shift: np.ndarray = field(default=None)  # (N, 2) head translation, canonical units

    def __post_init__(self):
        for name in ("jaw", "round", "stretch", "smile", "blink", "brows", "yaw", "pitch", "roll"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.frames))
        if self.shift is None:
            self.shift = np.zeros((self.frames, 2))


class _FaceRig:
    """The source's canonical face and the deformation fields that move it."""

    def __init__(self, source_landmarks: np.ndarray):
        self.source = np.asarray(source_landmarks, dtype=np.float64)
        self.pose, self.canonical = decompose(self.source)
        self.weights = _weights()
        corners = self.canonical[topology.MOUTH_CORNERS, :]
        self.mouth_centre = corners.mean(axis=0)
        self.mouth_half_width = 0.5 * np.linalg.norm(corners[0] - corners[1])

    def deform(self, jaw: float, round_: float, stretch: float, smile: float, blink: float,
               brows: float) -> np.ndarray:
        """The canonical face ``(478, 3)`` with the given coefficients applied."""
        face = self.canonical.copy()
        w = self.weights
        # Eyelids first (they depend on the rest geometry of the lids only).
        if blink:
            share, lids = _lid_spread()
            upper, lower = self.canonical[_LID_PAIRS[:, 0]], self.canonical[_LID_PAIRS[:, 1]]
            meet = upper + 0.8 * (lower - upper)  # lids meet low, as the upper lid does most of the work
            lid_motion = np.empty((len(lids), 3))
            lid_motion[0::2] = meet - upper
            lid_motion[1::2] = meet - lower
            face += blink * share @ lid_motion
        if brows:
            face[:, 1] -= 0.07 * brows * w["brows"]
        if smile:
            side = np.sign(face[:, 0] - self.mouth_centre[0])
            face[:, 0] += 0.10 * smile * w["corners"] * side * self.mouth_half_width / 0.38
            face[:, 1] -= 0.10 * smile * w["corners"] + 0.035 * smile * w["cheeks"]
            face[:, 2] += 0.03 * smile * w["corners"]
        if round_ or stretch:
            relative_x = face[:, 0] - self.mouth_centre[0]
            face[:, 0] += (0.10 * stretch - 0.28 * round_) * w["mouth"] * relative_x
            face[:, 2] -= 0.07 * round_ * w["mouth"]
        if jaw:
            hinge_y, hinge_z = _JAW_HINGE_YZ
            angle = np.radians(_JAW_MAX_DEGREES * jaw) * w["jaw"]
            dy, dz = face[:, 1] - hinge_y, face[:, 2] - hinge_z
            cosine, sine = np.cos(angle), np.sin(angle)
            face[:, 1] = hinge_y + cosine * dy - sine * dz
            face[:, 2] = hinge_z + sine * dy + cosine * dz
        return face

    def landmarks(self, curves: _Curves) -> np.ndarray:
        """Landmarks ``(N, 478, 3)`` float32 in source pixels for every frame of ``curves``."""
        rest = self.pose.apply(self.canonical)
        out = np.empty((curves.frames, 478, 3), np.float32)
        for i in range(curves.frames):
            face = self.deform(curves.jaw[i], curves.round[i], curves.stretch[i], curves.smile[i],
                               curves.blink[i], curves.brows[i])
            turn = rotation_matrix(curves.yaw[i], curves.pitch[i], curves.roll[i])
            shift = np.array([curves.shift[i, 0], curves.shift[i, 1], 0.0]) * self.pose.scale
            pose = HeadPose(turn @ self.pose.rotation, self.pose.scale, self.pose.translation + shift)
            # As an offset from the source, so that a frame at rest is the source bit for bit.
            out[i] = self.source + (pose.apply(face) - rest)
        return out


# -- time curves -------------------------------------------------------------------------------------------
def _blink_curve(times: np.ndarray, onsets: list[float]) -> np.ndarray:
    """Blinks starting at ``onsets`` (s): closing 0.08 s, closed 0.04 s, opening 0.15 s."""
    curve = np.zeros_like(times)
    for onset in onsets:
        u = times - onset
        closing = _smoothstep(u / 0.08)
        opening = 1.0 - _smoothstep((u - 0.12) / 0.15)
        curve = np.maximum(curve, np.where(u < 0.12, closing, opening) * (u >= 0))
    return curve


def _blink_onsets(rng: np.random.Generator, seconds: float, first: tuple[float, float],
                  interval: tuple[float, float]) -> list[float]:
    onsets, t = [], rng.uniform(*first)
    while t < seconds - 0.3:
        onsets.append(t)
        t += rng.uniform(*interval)
    return onsets


def _sway(rng: np.random.Generator, times: np.ndarray, amplitude: float,
          frequencies: tuple[float, float] = (0.12, 0.5)) -> np.ndarray:
    """Slow random head drift starting at 0: a sum of three sinusoids, eased in over the first 0.6 s."""
    curve = np.zeros_like(times)
    for _ in range(3):
        frequency, phase = rng.uniform(*frequencies), rng.uniform(0, 2 * math.pi)
        curve += np.sin(2 * math.pi * frequency * times + phase) - math.sin(phase)
    curve *= amplitude / 3.0
    return curve * _smoothstep(times / 0.6)


def _bump(times: np.ndarray, start: float, duration: float) -> np.ndarray:
    """A raised-cosine pulse (0 -> 1 -> 0) over ``[start, start + duration]``."""
    u = (times - start) / duration
    return np.where((u > 0) & (u < 1), np.sin(np.pi * np.clip(u, 0, 1)) ** 2, 0.0)


def _talk(rng: np.random.Generator, times: np.ndarray, seconds: float) -> _Curves:
    curves = _Curves(len(times))
    # Vowel classes: (share, jaw, round, stretch). "m" closes the lips (bilabials) between vowels.
    vowels = [(0.35, 1.0, 0.0, 0.2), (0.25, 0.55, 0.0, 0.8), (0.25, 0.7, 0.8, 0.0), (0.15, 0.12, 0.2, 0.0)]
    shares = np.array([v[0] for v in vowels])
    t = rng.uniform(0.25, 0.45)  # a breath before the first word
    while t < seconds - 0.3:
        phrase_end = min(t + rng.uniform(1.2, 3.0), seconds - 0.2)
        loudness = rng.uniform(0.6, 1.0)
        if rng.random() < 0.4:  # brows go up at some phrase starts
            curves.brows += rng.uniform(0.3, 0.8) * _bump(times, t - 0.1, rng.uniform(0.5, 0.9))
        while t < phrase_end:
            interval = rng.uniform(0.19, 0.32)  # 3.1 to 5.3 syllables per second
            _, jaw, round_, stretch = vowels[rng.choice(len(vowels), p=shares)]
            amplitude = loudness * rng.uniform(0.45, 1.0)
            if rng.random() < 0.25:  # stressed syllable: wider, with a small nod
                amplitude = min(1.0, amplitude * 1.35)
                curves.pitch += 1.2 * _bump(times, t, 0.45)
            pulse = _bump(times, t, interval * 1.15)
            curves.jaw = np.maximum(curves.jaw, amplitude * jaw * pulse)
            curves.round = np.maximum(curves.round, amplitude * round_ * pulse)
            curves.stretch = np.maximum(curves.stretch, amplitude * stretch * pulse)
            t += interval
        t = phrase_end + rng.uniform(0.3, 0.8)  # pause between phrases
    curves.blink = _blink_curve(times, _blink_onsets(rng, seconds, (0.8, 2.5), (2.0, 5.0)))
    curves.yaw += _sway(rng, times, 3.0)
    curves.pitch += _sway(rng, times, 1.5)
    curves.roll += _sway(rng, times, 1.5)
    curves.shift[:, 0] = _sway(rng, times, 0.02)
    curves.shift[:, 1] = _sway(rng, times, 0.01)
    return curves


def _nod(rng: np.random.Generator, times: np.ndarray, seconds: float) -> _Curves:
    curves = _Curves(len(times))
    frequency = 0.9  # nods per second
    envelope = _smoothstep(times / 0.25) * _smoothstep((seconds - times) / 0.4)
    curves.pitch = 9.0 * np.sin(2 * math.pi * frequency * times) * envelope
    curves.yaw = _sway(rng, times, 1.0)
    curves.shift[:, 1] = 0.02 * np.sin(2 * math.pi * frequency * times) * envelope
    curves.blink = _blink_curve(times, _blink_onsets(rng, seconds, (1.0, 2.0), (2.0, 4.0)))
    return curves


def _smile(rng: np.random.Generator, times: np.ndarray, seconds: float) -> _Curves:
    curves = _Curves(len(times))
    start = min(0.4, 0.2 * seconds)
    curves.smile = _smoothstep((times - start) / 1.0)
    curves.jaw = 0.12 * curves.smile  # lips part slightly
    curves.brows = 0.2 * curves.smile
    curves.blink = _blink_curve(times, _blink_onsets(rng, seconds, (1.8, 2.5), (2.5, 4.5)))
    curves.yaw = _sway(rng, times, 1.5)
    curves.roll = _sway(rng, times, 1.0) + 2.0 * curves.smile  # a slight head tilt
    curves.pitch = _sway(rng, times, 1.0)
    return curves


def _blink(rng: np.random.Generator, times: np.ndarray, seconds: float) -> _Curves:
    curves = _Curves(len(times))
    curves.blink = _blink_curve(times, _blink_onsets(rng, seconds, (0.5, 0.7), (1.1, 1.6)))
    curves.yaw = _sway(rng, times, 0.8)
    curves.pitch = _sway(rng, times, 0.5)
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
    landmarks = _FaceRig(source).landmarks(curves)

    blendshapes = np.zeros((frames, 52), np.float32)
    b = _BLENDSHAPE
    blendshapes[:, b["jawOpen"]] = curves.jaw
    blendshapes[:, b["mouthPucker"]] = curves.round
    blendshapes[:, b["mouthStretchLeft"]] = blendshapes[:, b["mouthStretchRight"]] = 0.5 * curves.stretch
    blendshapes[:, b["mouthSmileLeft"]] = blendshapes[:, b["mouthSmileRight"]] = curves.smile
    blendshapes[:, b["eyeBlinkLeft"]] = blendshapes[:, b["eyeBlinkRight"]] = curves.blink
    blendshapes[:, b["browInnerUp"]] = curves.brows
    blendshapes[:, b["browOuterUpLeft"]] = blendshapes[:, b["browOuterUpRight"]] = curves.brows
    return MotionTemplate(fps=fps, frame_size=tuple(frame_size), landmarks=landmarks,
                          blendshapes=np.clip(blendshapes, 0, 1), present=np.ones(frames, bool),
                          metadata={"preset": name, "seed": int(seed), "creator": "headshot preset"})
