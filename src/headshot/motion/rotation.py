"""Rotation vectors: a rotation matrix as axis * angle and back, and a rotation scaled by a factor.

Used by motion transfer (:mod:`headshot.motion.retarget`: ``--pose-scale``; :mod:`headshot.motion.still`:
a still driver's limited head turn).
"""

from __future__ import annotations

import math

import numpy as np

from .pose import rotation_angle


def axis_angle(rotation: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle in radians) of a rotation matrix.

    The angle is :func:`~headshot.motion.pose.rotation_angle`'s ``atan2`` form, precise at every angle
    (``acos`` of the trace rounds turns under ~1e-8 rad to 0 and loses half the digits near 0).
    """
    r = np.asarray(rotation, dtype=np.float64)
    skew = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])  # 2 sin(angle) * axis
    angle = math.radians(rotation_angle(r))
    if angle < 1e-6:  # sin(angle) ~ angle: the skew part is the vector (error ~angle^3)
        return skew / 2.0
    if math.pi - angle < 1e-6:  # near 180 degrees: R + I = 2 k k^T, any non-zero column gives the axis
        columns = r + np.eye(3)
        axis = columns[:, int(np.argmax(np.linalg.norm(columns, axis=0)))]
        axis = axis / np.linalg.norm(axis)
        return (-axis if axis @ skew < 0 else axis) * angle  # the sign the skew part still tells
    return skew / (2.0 * math.sin(angle)) * angle


def rotation_from_vector(vector: np.ndarray) -> np.ndarray:
    """Rotation matrix of a rotation vector (Rodrigues)."""
    angle = float(np.linalg.norm(vector))
    if angle < 1e-12:
        return np.eye(3)
    k = vector / angle
    cross = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1.0 - math.cos(angle)) * cross @ cross


def scale_rotation(rotation: np.ndarray, factor: float) -> np.ndarray:
    """The rotation about the same axis by ``factor`` times the angle."""
    if factor == 1.0:
        return rotation
    return rotation_from_vector(axis_angle(rotation) * factor)
