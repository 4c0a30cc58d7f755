"""Transfer a driver's head motion and expression onto the source face (landmarks only).

Both faces are split by :func:`headshot.motion.pose.decompose` into a head pose (similarity) and a
canonical face (frontal, unit scale). Then:

* **relative** mode (default, any pair of people): the driver's *change* since its reference frame --
  rotation ``R_d @ R_ref.T``, scale ratio, translation in units of face size, and the canonical
  expression offset ``canonical_d - canonical_ref`` -- is applied to the SOURCE's own pose and canonical
  face, so the driver's face shape never leaks into the source;
* **absolute** mode (same person): the driver's canonical face, posed by the driver's pose mapped into
  the source image by the similarity fixed at the reference frame;
* a **still** driver (one photo, ``RetargetOptions.still``) has no frame of its own to measure motion
  against. Its expression is read against a face at rest (:func:`expression_at_rest`: lip gap, smile,
  eye opening, brow height, each in the face's own proportions), the source's own too, and the face rig
  of :mod:`headshot.motion.rig` moves the source's face by the difference; the source's head turns
  towards the driver's pose (:func:`still_turn`, limited). So the output is what a video frame would
  give whose reference frame had the source's pose and expression. The source keeps its place and size
  in the photo, and a photo driving itself leaves it as it is.

Expression offsets are split into soft regions (weights that sum to 1 on every non-rigid point): ``eyes`` (eye
contours, lids, irises), ``lips`` (lips, mouth surroundings, jaw and chin: everything that moves when
the mouth opens) and ``expression`` (the rest: brows, forehead, cheeks, nose). ``pose`` is the head pose.

Beside this module: :mod:`headshot.motion.still` (a still driver's turn and expression),
:mod:`headshot.motion.measures` (mouth and eye opening, face size, expression against rest) and
:mod:`headshot.motion.rotation` (rotation vectors); their public names are re-exported here.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import HeadshotError
from ..face import topology
from .measures import (  # noqa: F401 (re-exported)
    EXPRESSION_FEATURES, expression_at_rest, expression_features, eye_openness, face_size, mouth_openness)
from .pose import HeadPose, canonical_face_model, decompose, rotation_angle
from .rotation import scale_rotation
from .still import STILL_MAX_TURN, STILL_TURN_DEAD_ZONE, StillExpression, still_turn  # noqa: F401 (re-exported)

REGIONS = ("pose", "expression", "eyes", "lips")
MODES = ("relative", "absolute")

# Canonical-space geometry of the soft regions (units: RMS radius of the RIGID points of MediaPipe's
# canonical face, about 6.5 cm; y grows downwards). The subnasale (point 2) sits at y = 0.75 and the
# upper lip (point 13) at y = 1.05: the mouth region ramps in between.
_MOUTH_RAMP_Y = (0.78, 1.0)
_EYE_FALLOFF = 0.12  # Gaussian falloff radius around the eye contours
_N_LANDMARKS = 478

# Facing vertex pairs (upper, lower) of the inner lips and of the eyelids: a relative expression offset
# must not push the lower one above the upper one (lips or lids crossing).
_FACING_PAIRS = np.array([
    (191, 95), (80, 88), (81, 178), (82, 87), (13, 14), (312, 317), (311, 402), (310, 318), (415, 324),
    (246, 7), (161, 163), (160, 144), (159, 145), (158, 153), (157, 154), (173, 155),
    (398, 382), (384, 381), (385, 380), (386, 374), (387, 373), (388, 390), (466, 249),
])


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@functools.lru_cache(maxsize=1)
def region_weights() -> dict[str, np.ndarray]:
    """Soft per-point weights ``(478,)`` of the expression regions ``expression``, ``eyes``, ``lips``.

    Computed once on MediaPipe's canonical face (identity-free); the three weights sum to 1 on every
    point except the RIGID ones, where all are 0 (rigid points carry the pose, not expression).
    Irises belong to ``eyes`` entirely.
    """
    model = canonical_face_model()
    rigid = model[topology.RIGID]
    points = (model - rigid.mean(axis=0)) / math.sqrt(((rigid - rigid.mean(axis=0)) ** 2).sum(1).mean())

    eye_contour = np.concatenate([topology.RIGHT_EYE, topology.LEFT_EYE])
    distance = np.linalg.norm(points[:, None, :] - points[eye_contour][None], axis=-1).min(axis=1)
    eyes = np.exp(-(distance / _EYE_FALLOFF) ** 2)
    eyes[eye_contour] = 1.0

    lips = _smoothstep(*_MOUTH_RAMP_Y, points[:, 1])
    lips[topology.region_indices("lips")] = 1.0
    lips = np.minimum(lips, 1.0 - eyes)

    eyes = np.concatenate([eyes, np.ones(10)])  # 468-477: irises
    lips = np.concatenate([lips, np.zeros(10)])
    expression = np.clip(1.0 - eyes - lips, 0.0, 1.0)
    # The RIGID points define the head pose and carry no expression: what moves them in a driver's
    # canonical face is detector noise (e.g. the driver's eye-corner distance wanders by ~7 % on a dev
    # clip), and transferring it would change the source's proportions.
    for weight in (expression, eyes, lips):
        weight[topology.RIGID] = 0.0
    return {"expression": expression, "eyes": eyes, "lips": lips}


@dataclass
class RetargetOptions:
    """How driver motion is transferred to the source.

    Attributes:
        mode: ``"relative"`` (motion since the reference frame, applied to the source's own face; works
            across people) or ``"absolute"`` (the driver's own face shape, for same-person driving).
        regions: which parts move, a subset of ``("pose", "expression", "eyes", "lips")``.
        expression_scale: multiplier on expression offsets (0 = keep the source's expression).
        pose_scale: multiplier on head motion (rotation angle, log of scale change, translation).
        translation: transfer head translation and scale changes; ``False`` keeps the source's position
            and size (rotation only).
        still: the driver is one photo, not a motion: the source takes on its expression (each read
            against a face at rest) and turns towards its head pose, keeping its position and size; no
            reference frame (``set_reference`` is ignored).
    """

    mode: str = "relative"
    regions: Sequence[str] = field(default_factory=lambda: REGIONS)
    expression_scale: float = 1.0
    pose_scale: float = 1.0
    translation: bool = True
    still: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise HeadshotError(f"unknown retarget mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if isinstance(self.regions, str):
            self.regions = (self.regions,)
        unknown = [r for r in self.regions if r not in REGIONS]
        if unknown:
            raise HeadshotError(f"unknown region(s) {', '.join(map(repr, unknown))}; "
                                f"choose from: {', '.join(REGIONS)}")
        self.regions = tuple(self.regions)


def _checked(landmarks: np.ndarray, what: str) -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.shape != (_N_LANDMARKS, 3):
        raise ValueError(f"{what}: expected landmarks (478, 3), got {landmarks.shape}")
    if not np.isfinite(landmarks).all():
        raise ValueError(f"{what}: landmarks contain NaN or infinity")
    return landmarks


class Retargeter:
    """Map driver landmarks to target landmarks for the source face.

    Args:
        source_landmarks: ``(478, 3)`` source landmarks in source pixels.
        options: :class:`RetargetOptions` (defaults: relative, all regions).

    Call :meth:`set_reference` with the driver's reference frame (e.g. its first frame, or the one from
    :func:`best_reference`), then call the retargeter on each driver frame's landmarks (driver pixels):
    it returns target landmarks ``(478, 3)`` float32 in SOURCE pixels. Without a reference, the first
    driver frame becomes the reference.

    In relative mode the reference frame means "the source's own expression": if the driver's mouth
    is open there and the source's is closed, every later closing of the driver's mouth would close
    the source's beyond shut (lips are kept from crossing, see :func:`uncross`, but lip sync suffers:
    mouth-openness correlation -0.72 instead of 0.999 on a dev clip). Prefer :func:`best_reference`
    for video drivers.
    """

    def __init__(self, source_landmarks: np.ndarray, options: RetargetOptions | None = None):
        self.options = options or RetargetOptions()
        self.source_landmarks = _checked(source_landmarks, "source")
        self.source_pose, self.source_canonical = decompose(self.source_landmarks)
        weights = region_weights()
        enabled = [weights[r] for r in ("expression", "eyes", "lips") if r in self.options.regions]
        weight = sum(enabled) if enabled else np.zeros(_N_LANDMARKS)
        if self.options.mode == "absolute" and "expression" in self.options.regions:
            weight = weight.copy()
            weight[topology.RIGID] = 1.0  # absolute: the driver's whole face shape, rigid points included
        self._expression_weight = weight[:, None]
        self.reference_pose: HeadPose | None = None
        self.reference_canonical: np.ndarray | None = None
        self._still_expression: StillExpression | None = None
        if self.options.still:
            self._still_expression = StillExpression(self.source_landmarks, self.source_canonical)

    def set_reference(self, driver_landmarks: np.ndarray) -> None:
        """Fix the driver frame whose pose and expression map to the source's own (driver pixels)."""
        self.reference_pose, self.reference_canonical = decompose(_checked(driver_landmarks, "driver"))

    def __call__(self, driver_landmarks: np.ndarray) -> np.ndarray:
        """Target landmarks ``(478, 3)`` float32 in source pixels for one driver frame (driver pixels)."""
        driver = _checked(driver_landmarks, "driver")
        if self.options.still:
            return self._still(driver)
        if self.reference_pose is None:
            self.set_reference(driver)
        driver_pose, driver_canonical = decompose(driver)
        reference, source = self.reference_pose, self.source_pose
        options = self.options

        if options.mode == "relative":
            expression = driver_canonical - self.reference_canonical
            rotation = driver_pose.rotation @ reference.rotation.T @ source.rotation
            scale = source.scale * driver_pose.scale / reference.scale
            translation = source.translation + (driver_pose.translation - reference.translation) \
                * source.scale / reference.scale
        else:
            expression = driver_canonical - self.source_canonical
            # Similarity driver pixels -> source pixels that maps the reference pose onto the source's.
            rotation = source.rotation @ reference.rotation.T @ driver_pose.rotation
            scale = source.scale * driver_pose.scale / reference.scale
            translation = source.translation + source.scale / reference.scale * (
                source.rotation @ reference.rotation.T @ (driver_pose.translation - reference.translation))

        if "pose" in options.regions:
            rotation = scale_rotation(rotation @ source.rotation.T, options.pose_scale) @ source.rotation
            if options.translation:
                scale = source.scale * (scale / source.scale) ** options.pose_scale
                translation = source.translation + options.pose_scale * (translation - source.translation)
            else:
                scale, translation = source.scale, source.translation
            target_pose = HeadPose(rotation, scale, translation)
        else:
            target_pose = source
        canonical = self.source_canonical + options.expression_scale * self._expression_weight * expression
        canonical = uncross(canonical)

        # Written as an offset from the source so that "no motion" returns the source bit for bit.
        offset = target_pose.apply(canonical) - source.apply(self.source_canonical)
        return (self.source_landmarks + offset).astype(np.float32)

    def _still(self, driver: np.ndarray) -> np.ndarray:
        """Target landmarks for a still driver (see :attr:`RetargetOptions.still`)."""
        driver_pose, driver_canonical = decompose(driver)
        source, options = self.source_pose, self.options

        turn = np.eye(3)
        if "pose" in options.regions:
            turn = still_turn(source.rotation, driver_pose.rotation, options.pose_scale)
        target_pose = HeadPose(turn @ source.rotation, source.scale, source.translation)

        if options.mode == "absolute":  # same person: the driver's own face shape
            canonical = self.source_canonical + options.expression_scale * self._expression_weight * (
                driver_canonical - self.source_canonical)
            canonical = uncross(canonical)
        else:
            still = self._still_expression
            coefficients = still.coefficients(driver_canonical, options.regions, options.expression_scale)
            canonical = self.source_canonical  # nothing to change (a photo driving itself): lips as detected
            if coefficients:
                canonical = uncross(still.rig.deform(**coefficients))
        offset = target_pose.apply(canonical) - source.apply(self.source_canonical)
        return (self.source_landmarks + offset).astype(np.float32)

def uncross(canonical: np.ndarray) -> np.ndarray:
    """Canonical face with crossed lips / eyelids (lower point above the upper one) closed at their middle."""
    upper, lower = _FACING_PAIRS[:, 0], _FACING_PAIRS[:, 1]
    crossed = canonical[lower, 1] < canonical[upper, 1]
    if not crossed.any():
        return canonical
    canonical = canonical.copy()
    middle = (canonical[upper[crossed], 1] + canonical[lower[crossed], 1]) / 2.0
    canonical[upper[crossed], 1] = middle
    canonical[lower[crossed], 1] = middle
    return canonical


def best_reference(source_landmarks: np.ndarray, driver_landmarks_seq: Iterable[np.ndarray | None]) -> int:
    """Index of the driver frame closest to the source in head pose and expression.

    Cost (smaller is closer) = head-rotation difference in degrees / 10
    + |mouth openness difference| / 0.03 + |eye openness difference| / 0.05
    + RMS canonical-face distance over the non-rigid points / 0.1.
    The openness terms dominate on purpose: between different people the canonical distance is mostly
    identity (0.08-0.15 between the astronaut and a dev clip) rather than expression, while starting
    from a frame whose mouth is as open as the source's is what keeps relative transfer right.
    Frames that are ``None`` or contain NaN (no face) are skipped; ``HeadshotError`` if none is left.
    """
    source = _checked(source_landmarks, "source")
    source_pose, source_canonical = decompose(source)
    source_mouth, source_eyes = mouth_openness(source), eye_openness(source)
    moving = np.setdiff1d(np.arange(_N_LANDMARKS), topology.RIGID)
    best, best_cost = -1, math.inf
    for index, landmarks in enumerate(driver_landmarks_seq):
        if landmarks is None:
            continue
        landmarks = np.asarray(landmarks, dtype=np.float64)
        if landmarks.shape != (_N_LANDMARKS, 3) or not np.isfinite(landmarks).all():
            continue
        pose, canonical = decompose(landmarks)
        angle = rotation_angle(pose.rotation @ source_pose.rotation.T)
        shape = math.sqrt(((canonical[moving] - source_canonical[moving]) ** 2).sum(axis=1).mean())
        cost = (angle / 10.0 + abs(mouth_openness(landmarks) - source_mouth) / 0.03
                + abs(eye_openness(landmarks) - source_eyes) / 0.05 + shape / 0.1)
        if cost < best_cost:
            best, best_cost = index, cost
    if best < 0:
        raise HeadshotError("no face found in any driver frame")
    return best
