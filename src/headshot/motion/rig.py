"""A face rig on the SOURCE's own landmarks: hand-built deformation fields driven by a few coefficients.

The rig splits the source's landmarks into a head pose and a canonical face (see
:mod:`headshot.motion.pose`), deforms the canonical face -- jaw rotation about a hinge behind the cheeks,
lip rounding and spreading, lips pressed shut, the lower lip tucked under the upper teeth, the upper lip
raised, mouth corners up and out for a smile, eyelids closing, brows raising -- then poses it with a small
head motion. Built-in presets (:mod:`headshot.motion.presets`) and speech (:mod:`headshot.speech.motion`)
drive it with time curves (:class:`RigCurves`).

Weights are defined once on MediaPipe's identity-free canonical face, by vertex index; the RIGID points
never move, so the head pose found by :func:`~headshot.motion.pose.decompose` stays the one we set.
Every frame is written as an offset from the source, so a frame with all coefficients 0 is the source
bit for bit.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..face import topology
from .pose import HeadPose, canonical_face_model, decompose, rotation_matrix
from .measures import mouth_openness

# Geometry in canonical units (RMS radius of the RIGID points, ~6.5 cm; x right, y down, z away from
# the camera). The jaw hinge (temporomandibular joint) sits below the eyes' level, well behind the face.
JAW_HINGE_YZ = (0.35, 1.0)
JAW_MAX_DEGREES = 13.0  # jaw = 1: a wide-open "a" (mouth openness ~0.35 of the inter-ocular distance)
# The upper lip rises by this much at upper_lip = 1 (~2.5 mm: the upper incisors show, as on "f", "s").
UPPER_LIP_RAISE = 0.04
# With tuck = 1 the lower lip's inner edge stops this far below the upper lip's (where the upper teeth's
# edge is, with the lips at rest) and this far behind it: under the upper incisors, as on "f" and "v".
TUCK_BELOW, TUCK_BEHIND = 0.03, 0.06
# Share of a lip closure done by the upper lip (the lower lip and jaw do most of it: Gracco & Abbs,
# "Variant and invariant characteristics of speech movements", Exp. Brain Res. 1986).
CLOSE_UPPER_SHARE = 0.3
# A source whose mouth is open at rest closes with the jaw raised until the inner lips are this far apart
# (inter-ocular units; a relaxed shut mouth lands near 0.01-0.02), the lips doing the rest.
JAW_CLOSED_GAP = 0.02

# Lip loops split into corners / upper half / lower half (topology's loops start at a corner).
UPPER_LIP = np.concatenate([topology.OUTER_LIPS[1:10], topology.INNER_LIPS[1:10]])
LOWER_LIP = np.concatenate([topology.OUTER_LIPS[11:20], topology.INNER_LIPS[11:20]])
LIP_CORNERS = np.array([topology.OUTER_LIPS[0], topology.OUTER_LIPS[10],
                        topology.INNER_LIPS[0], topology.INNER_LIPS[10]])
# Facing inner-lip points, image left to right: upper (topology order) and the lower one below each.
INNER_UPPER = topology.INNER_LIPS[1:10]
INNER_LOWER = topology.INNER_LIPS[11:20][::-1]
# (upper, lower) eyelid pairs, right eye then left eye (topology's eye loops start at a corner).
LID_PAIRS = np.array([(topology.RIGHT_EYE[i], topology.RIGHT_EYE[16 - i]) for i in range(1, 8)]
                     + [(topology.LEFT_EYE[i], topology.LEFT_EYE[16 - i]) for i in range(1, 8)])

# MediaPipe blendshape indices we fill in so that engines reading blendshapes see the motion.
BLENDSHAPE = {"browInnerUp": 3, "browOuterUpLeft": 4, "browOuterUpRight": 5, "eyeBlinkLeft": 9,
              "eyeBlinkRight": 10, "jawOpen": 25, "mouthClose": 27, "mouthPressLeft": 36,
              "mouthPressRight": 37, "mouthPucker": 38, "mouthRollLower": 40, "mouthSmileLeft": 44,
              "mouthSmileRight": 45, "mouthStretchLeft": 46, "mouthStretchRight": 47,
              "mouthUpperUpLeft": 48, "mouthUpperUpRight": 49}

EXPRESSIONS = ("jaw", "round", "stretch", "smile", "blink", "brows", "close", "tuck", "upper_lip")


def smoothstep(t):
    """Hermite ramp 0 -> 1 on ``[0, 1]`` (clipped outside), for arrays or floats."""
    t = np.clip(t, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@functools.lru_cache(maxsize=1)
def model_points() -> np.ndarray:
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
    points = model_points()
    y = points[:, 1]
    lips = topology.region_indices("lips")

    jaw = smoothstep((y - 0.95) / 0.35)
    jaw[UPPER_LIP] = 0.0
    jaw[LOWER_LIP] = 1.0
    jaw[LIP_CORNERS] = 0.5

    mouth = np.exp(-(_distance_to(points, lips) / 0.15) ** 2)
    mouth[lips] = 1.0

    corners = np.exp(-(_distance_to(points, LIP_CORNERS[:2]) / 0.25) ** 2) * smoothstep((y - 0.55) / 0.3)
    cheeks = np.exp(-((np.abs(points[:, 0]) - 0.6) ** 2 + (y - 0.7) ** 2) / 0.08)

    brows_index = topology.region_indices("brows")
    brows = np.exp(-(_distance_to(points, brows_index) / 0.18) ** 2) * smoothstep((0.0 - y) / 0.15)
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
    points = model_points()
    lids = LID_PAIRS.ravel()  # (28,) upper, lower, upper, lower ...
    distance = np.linalg.norm(points[:, None, :] - points[lids][None], axis=-1)
    gaussian = np.exp(-(distance / 0.07) ** 2)
    share = gaussian / np.maximum(gaussian.sum(axis=1, keepdims=True), 1e-12)
    share *= 0.5 * gaussian.max(axis=1, keepdims=True)
    share[lids] = 0.0
    share[lids, np.arange(len(lids))] = 1.0
    share[topology.RIGID] = 0.0
    share[468:] = 0.0
    return share, lids


@functools.lru_cache(maxsize=1)
def _lip_spread() -> np.ndarray:
    """How displacements of the 18 inner-lip points spread to the lips and skin: ``(478, 18)``.

    Columns are :data:`INNER_UPPER` then :data:`INNER_LOWER`. Each inner-lip point follows itself; the
    rest of its lip half (the outer contour) follows the inner points above / below it (a Gaussian in x),
    and so does the skin above the upper lip / below the lower lip, fading within ~1 cm. Everything fades
    to nothing at the mouth corners, which stay where the other deformations put them.
    """
    points = model_points()
    x, y = points[:, 0], points[:, 1]
    inner = np.concatenate([INNER_UPPER, INNER_LOWER])
    corners = points[list(topology.MOUTH_CORNERS)]
    mouth_line = corners[:, 1].mean()
    upper_side = y < mouth_line
    upper_side[UPPER_LIP], upper_side[LOWER_LIP] = True, False

    across = np.exp(-((x[:, None] - x[inner][None]) / 0.07) ** 2)  # (478, 18)
    across[:, :9] *= upper_side[:, None]
    across[:, 9:] *= ~upper_side[:, None]
    across /= np.maximum(across.sum(axis=1, keepdims=True), 1e-12)

    lips = np.concatenate([UPPER_LIP, LOWER_LIP])
    reach = np.exp(-(_distance_to(points, lips) / 0.1) ** 2)
    reach[lips] = 1.0
    reach *= smoothstep(_distance_to(points, np.array(topology.MOUTH_CORNERS)) / 0.15)
    spread = across * reach[:, None]
    spread[inner] = 0.0
    spread[inner, np.arange(len(inner))] = 1.0
    spread[LIP_CORNERS] = 0.0
    spread[topology.RIGID] = 0.0
    spread[468:] = 0.0
    return spread


@dataclass
class RigCurves:
    """Per-frame coefficients of the rig (0 = rest) and the head motion; ``frames`` long each.

    Expression coefficients (see :meth:`FaceRig.deform`): ``jaw`` (1 = :data:`JAW_MAX_DEGREES`),
    ``round`` (lip rounding), ``stretch`` (lip spreading), ``smile``, ``blink`` (0 open .. 1 closed),
    ``brows`` (raise), ``close`` (lips shut), ``tuck`` (lower lip under the upper teeth), ``upper_lip``
    (raise). Head: ``yaw``, ``pitch``, ``roll`` in degrees (see
    :func:`headshot.motion.pose.rotation_matrix`) and ``shift`` ``(N, 2)`` in canonical units.
    """

    frames: int
    jaw: np.ndarray = None
    round: np.ndarray = None
    stretch: np.ndarray = None
    smile: np.ndarray = None
    blink: np.ndarray = None
    brows: np.ndarray = None
    close: np.ndarray = None
    tuck: np.ndarray = None
    upper_lip: np.ndarray = None
    yaw: np.ndarray = None
    pitch: np.ndarray = None
    roll: np.ndarray = None
    shift: np.ndarray = field(default=None)

    def __post_init__(self):
        for name in EXPRESSIONS + ("yaw", "pitch", "roll"):
            value = getattr(self, name)
            setattr(self, name, np.zeros(self.frames) if value is None else np.asarray(value, np.float64))
            if getattr(self, name).shape != (self.frames,):
                raise ValueError(f"curve {name} must have shape ({self.frames},), got {getattr(self, name).shape}")
        self.shift = np.zeros((self.frames, 2)) if self.shift is None else np.asarray(self.shift, np.float64)

    def expression(self, index: int) -> dict[str, float]:
        """The expression coefficients of one frame, as keyword arguments of :meth:`FaceRig.deform`."""
        return {name: float(getattr(self, name)[index]) for name in EXPRESSIONS}


class FaceRig:
    """The source's canonical face and the deformation fields that move it.

    Args:
        source_landmarks: ``(478, 3)`` source landmarks in pixels.
    """

    def __init__(self, source_landmarks: np.ndarray):
        self.source = np.asarray(source_landmarks, dtype=np.float64)
        self.pose, self.canonical = decompose(self.source)
        self.weights = _weights()
        corners = self.canonical[topology.MOUTH_CORNERS, :]
        self.mouth_centre = corners.mean(axis=0)
        self.mouth_half_width = 0.5 * np.linalg.norm(corners[0] - corners[1])

    def deform(self, jaw: float = 0.0, round: float = 0.0, stretch: float = 0.0, smile: float = 0.0,
               blink: float = 0.0, brows: float = 0.0, close: float = 0.0, tuck: float = 0.0,
               upper_lip: float = 0.0) -> np.ndarray:
        """The canonical face ``(478, 3)`` with the given coefficients applied (all 0: the source's own).

        ``close`` and ``tuck`` act last and whatever the jaw does: ``close = 1`` brings the inner lips
        together (gap 0), ``tuck = 1`` puts the lower lip's inner edge just under and behind the upper lip's
        rest line (on the upper incisors); values in between go part of the way.
        """
        face = self.canonical.copy()
        w = self.weights
        # Eyelids first (they depend on the rest geometry of the lids only).
        if blink:
            share, lids = _lid_spread()
            upper, lower = self.canonical[LID_PAIRS[:, 0]], self.canonical[LID_PAIRS[:, 1]]
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
        if round or stretch:
            relative_x = face[:, 0] - self.mouth_centre[0]
            face[:, 0] += (0.10 * stretch - 0.28 * round) * w["mouth"] * relative_x
            face[:, 2] -= 0.07 * round * w["mouth"]
        teeth_line = face[INNER_UPPER].copy()  # the upper lip's edge before it is raised
        if upper_lip:
            # Raised most in the middle (levator labii superioris), not at all at the corners.
            profile = 1.0 - (teeth_line[:, 0] - self.mouth_centre[0]) ** 2 / self.mouth_half_width ** 2
            motion = np.zeros((18, 3))
            motion[:9, 1] = -UPPER_LIP_RAISE * upper_lip * np.clip(profile, 0.0, 1.0)
            face += _lip_spread() @ motion
        if jaw:
            hinge_y, hinge_z = JAW_HINGE_YZ
            angle = np.radians(JAW_MAX_DEGREES * jaw) * w["jaw"]
            dy, dz = face[:, 1] - hinge_y, face[:, 2] - hinge_z
            cosine, sine = np.cos(angle), np.sin(angle)
            face[:, 1] = hinge_y + cosine * dy - sine * dz
            face[:, 2] = hinge_z + sine * dy + cosine * dz
        if tuck:
            target = teeth_line + np.array([0.0, TUCK_BELOW, TUCK_BEHIND])
            motion = np.zeros((18, 3))
            motion[9:] = tuck * (target - face[INNER_LOWER])
            face += _lip_spread() @ motion
        if close:
            gap = face[INNER_LOWER] - face[INNER_UPPER]
            motion = np.concatenate([CLOSE_UPPER_SHARE * gap, -(1.0 - CLOSE_UPPER_SHARE) * gap]) * close
            face += _lip_spread() @ motion
        return face

    def posed(self, face: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
              shift: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Landmarks ``(478, 3)`` float64 in source pixels: a canonical ``face`` turned by the given angles
        (degrees) and shifted (canonical units) from the source's pose, as an offset from the source."""
        turn = rotation_matrix(yaw, pitch, roll)
        offset = np.array([shift[0], shift[1], 0.0]) * self.pose.scale
        pose = HeadPose(turn @ self.pose.rotation, self.pose.scale, self.pose.translation + offset)
        # As an offset from the source, so that a frame at rest is the source bit for bit.
        return self.source + (pose.apply(face) - self.pose.apply(self.canonical))

    def landmarks(self, curves: RigCurves) -> np.ndarray:
        """Landmarks ``(N, 478, 3)`` float32 in source pixels for every frame of ``curves``."""
        out = np.empty((curves.frames, 478, 3), np.float32)
        for i in range(curves.frames):
            face = self.deform(**curves.expression(i))
            out[i] = self.posed(face, curves.yaw[i], curves.pitch[i], curves.roll[i], curves.shift[i])
        return out

    def opening(self, **coefficients: float) -> float:
        """Mouth openness (inner-lip gap / inter-ocular distance, as
        :func:`headshot.motion.measures.mouth_openness`) of the face deformed by ``coefficients``."""
        return float(mouth_openness(self.deform(**coefficients)))

    def jaw_for_opening(self, opening: float, max_jaw: float = 2.5) -> float:
        """The ``jaw`` coefficient at which the mouth openness is ``opening`` (inter-ocular units), or more
        than the source's own if it is already open that wide (then 0.4 × ``opening`` more, so that an
        open source still visibly opens). At most ``max_jaw``."""
        rest = self.opening()
        wanted = max(opening, rest + 0.4 * opening)
        low, high = 0.0, max_jaw
        if self.opening(jaw=high) <= wanted:
            return high
        for _ in range(30):  # bisection: the opening grows monotonically with the jaw angle
            middle = 0.5 * (low + high)
            low, high = (middle, high) if self.opening(jaw=middle) < wanted else (low, middle)
        return 0.5 * (low + high)

    def jaw_to_close(self, opening: float = JAW_CLOSED_GAP, min_jaw: float = -3.0) -> float:
        """The ``jaw`` coefficient (0 or negative: the jaw raised) that brings a source whose mouth is open
        at rest to an inner-lip gap of ``opening`` (inter-ocular units), or as near as the jaw gets; 0 for
        a source whose mouth is at most that open already (a shut mouth needs no jaw to close).

        Raising the jaw carries the lower lip, the chin and the skin between up with it, so that a lip
        closure on a mouth open in the photo looks like a mouth closing, not a lower lip stretched up."""
        if self.opening() <= opening:
            return 0.0
        low, high = float(min_jaw), 0.0
        for _ in range(40):  # ternary search: the gap shrinks as the jaw rises until the lips cross
            a, b = low + (high - low) / 3.0, high - (high - low) / 3.0
            low, high = (low, b) if self.opening(jaw=a) < self.opening(jaw=b) else (a, high)
        lowest = 0.5 * (low + high)
        if self.opening(jaw=lowest) >= opening:
            return lowest
        low, high = lowest, 0.0
        for _ in range(30):  # bisection on the side before the lips cross: the gap grows with the jaw
            middle = 0.5 * (low + high)
            low, high = (middle, high) if self.opening(jaw=middle) < opening else (low, middle)
        return 0.5 * (low + high)


def blendshapes(curves: RigCurves) -> np.ndarray:
    """MediaPipe blendshape coefficients ``(N, 52)`` float32 in [0, 1] that match the rig's curves."""
    values = np.zeros((curves.frames, 52), np.float32)
    b = BLENDSHAPE
    values[:, b["jawOpen"]] = curves.jaw
    values[:, b["mouthPucker"]] = curves.round
    values[:, b["mouthStretchLeft"]] = values[:, b["mouthStretchRight"]] = 0.5 * curves.stretch
    values[:, b["mouthSmileLeft"]] = values[:, b["mouthSmileRight"]] = curves.smile
    values[:, b["eyeBlinkLeft"]] = values[:, b["eyeBlinkRight"]] = curves.blink
    values[:, b["browInnerUp"]] = curves.brows
    values[:, b["browOuterUpLeft"]] = values[:, b["browOuterUpRight"]] = curves.brows
    values[:, b["mouthClose"]] = curves.close
    values[:, b["mouthPressLeft"]] = values[:, b["mouthPressRight"]] = curves.close
    values[:, b["mouthRollLower"]] = curves.tuck
    values[:, b["mouthUpperUpLeft"]] = values[:, b["mouthUpperUpRight"]] = curves.upper_lip
    return np.clip(values, 0.0, 1.0)
