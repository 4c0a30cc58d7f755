"""A still driver (one photo): the head turn and the expression it asks of the source.

A photo has no frame of its own to measure motion against. Its expression is read against a face at
rest (:func:`~headshot.motion.measures.expression_at_rest`), the source's own too, and the face rig of
:mod:`headshot.motion.rig` moves the source's face by the difference (:class:`StillExpression`); the
source's head turns towards the driver's pose, limited (:func:`still_turn`). Used by
:class:`headshot.motion.retarget.Retargeter` when ``RetargetOptions.still`` is set.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .measures import EXPRESSION_FEATURES, expression_at_rest, expression_features, mouth_openness
from .rig import FaceRig
from .rotation import axis_angle, rotation_from_vector

# A still driver (one photo) turns the source's head towards its own pose, less a dead zone (the rigid
# fit of two people looking the same way differs by a few degrees: the pitch of the 112 dev portraits,
# nearly all facing the camera, spreads by 5 degrees) and at most by a limit (the warp's comfort zone).
STILL_TURN_DEAD_ZONE = 2.0  # degrees
STILL_MAX_TURN = 15.0  # degrees

# The --regions region each of EXPRESSION_FEATURES belongs to.
FEATURE_REGIONS = ("lips", "lips", "eyes", "expression")
# Range of the rig coefficients a still driver sets (jaw 1 = a wide "a", close 1 = lips shut, smile 1 =
# a full smile, negative: corners down; blink 1 = lids shut, brows 1 = raised; see headshot.motion.rig).
_STILL_LIMITS = {"jaw": (0.0, 2.5), "close": (0.0, 1.0), "smile": (-1.5, 1.5), "blink": (-0.6, 1.0),
                 "brows": (-1.5, 1.5)}


def still_turn(source_rotation: np.ndarray, driver_rotation: np.ndarray,
               pose_scale: float = 1.0) -> np.ndarray:
    """Head turn ``(3, 3)`` a still driver asks of the source: the rotation from the source's head pose to
    the driver's (``(3, 3)`` each, see :class:`~headshot.motion.pose.HeadPose`), less a dead zone of
    :data:`STILL_TURN_DEAD_ZONE` degrees, times ``pose_scale``, at most :data:`STILL_MAX_TURN` degrees,
    about the same axis. Apply it on the left of the source's rotation.
    """
    vector = axis_angle(driver_rotation @ source_rotation.T)
    angle = math.degrees(float(np.linalg.norm(vector)))
    kept = min(max(angle - STILL_TURN_DEAD_ZONE, 0.0) * pose_scale, STILL_MAX_TURN)
    if kept <= 0.0:
        return np.eye(3)
    return rotation_from_vector(vector * (kept / angle))


class StillExpression:
    """The source's face rig and expression, set up once, to take on still drivers' expressions.

    Args:
        source_landmarks: ``(478, 3)`` source landmarks in source pixels.
        source_canonical: the source's canonical face ``(478, 3)`` (:func:`~headshot.motion.pose.decompose`).

    ``rig`` is the source's :class:`~headshot.motion.rig.FaceRig`; :meth:`coefficients` gives the rig
    coefficients for a driver's canonical face.
    """

    def __init__(self, source_landmarks: np.ndarray, source_canonical: np.ndarray):
        self.rig = FaceRig(source_landmarks)
        self._source_at_rest = expression_at_rest(source_canonical)
        self._source_features = expression_features(source_canonical)
        # How one unit of each rig coefficient changes the features, on the source's own face.
        self._source_gains = {name: expression_features(self.rig.deform(**{name: 1.0}))
                              - self._source_features for name in ("smile", "brows")}

    def coefficients(self, driver_canonical: np.ndarray, regions: Sequence[str],
                     expression_scale: float) -> dict[str, float]:
        """Rig coefficients (only the non-zero ones) that give the source a still driver's expression:
        each feature of :func:`expression_at_rest` moves by the driver's value less the source's own,
        times ``expression_scale``, for the features of the enabled ``regions``."""
        enabled = np.array([region in regions for region in FEATURE_REGIONS], dtype=np.float64)
        change = expression_scale * enabled * (
            expression_at_rest(driver_canonical) - self._source_at_rest)
        gap, lift, eyes, brows = range(len(EXPRESSION_FEATURES))
        gains, features = self._source_gains, self._source_features

        def limited(name: str, value: float) -> float:
            return float(np.clip(value, *_STILL_LIMITS[name]))

        coefficients = {"smile": limited("smile", change[lift] / gains["smile"][lift]),
                        "blink": limited("blink", -change[eyes] / max(features[eyes], 1e-6)),  # gap * (1 - c)
                        "brows": limited("brows", change[brows] / gains["brows"][brows])}
        coefficients = {name: value for name, value in coefficients.items() if value}
        if change[gap] > 0:  # open: the jaw drops
            coefficients["jaw"] = self._jaw_for_gap(features[gap] + change[gap], coefficients)
        elif change[gap] < 0:  # shut: the lips close the gap (a smile's parted lips have no jaw to raise)
            coefficients["close"] = limited("close", -change[gap] / max(features[gap], 1e-6))
        return coefficients

    def _jaw_for_gap(self, gap: float, coefficients: dict[str, float]) -> float:
        """The rig's ``jaw`` at which the source's lip gap (:func:`mouth_openness` of its canonical face)
        is ``gap``, the other ``coefficients`` applied too; bisection, at most the ``jaw`` limit."""
        def opening(jaw: float) -> float:
            return mouth_openness(self.rig.deform(**coefficients, jaw=jaw))

        low, high = _STILL_LIMITS["jaw"]
        if opening(high) <= gap:
            return high
        for _ in range(20):  # the gap grows monotonically with the jaw angle
            middle = 0.5 * (low + high)
            low, high = (middle, high) if opening(middle) < gap else (low, middle)
        return 0.5 * (low + high)
