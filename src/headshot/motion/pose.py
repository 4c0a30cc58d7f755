"""Head pose versus expression: split landmarks into a similarity transform and a frontal face.

Model: ``landmarks = scale * canonical @ rotation.T + translation`` where ``canonical`` ``(478, 3)`` is
the face seen from the front, centred and at unit scale, in the landmark axes (x right, y down, z away
from the camera; see :mod:`headshot.face.landmarker`).

The pose is the Umeyama similarity (Umeyama, "Least-squares estimation of transformation parameters
between two point patterns", TPAMI 1991) that maps a *frontal reference* onto the face's RIGID points
(``headshot.face.topology.RIGID``, points that move little with expression).

The frontal reference is MediaPipe's own canonical face model (:func:`headshot.face.canonical.canonical_face_model`,
the mesh MediaPipe uses for its facial transformation matrix): it is exactly left/right symmetric
and frontal by construction. It is turned into the landmark axes (y and z flipped: a 180-degree rotation
about x), restricted to the RIGID points, centred on their centroid and scaled to unit RMS radius. So
the canonical face of any person has its RIGID points at RMS radius ~1, centred at the origin, and
``HeadPose.scale`` is that RMS radius in pixels.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..face.canonical import canonical_face_model
from ..face.topology import RIGID

@functools.lru_cache(maxsize=1)
def frontal_reference() -> np.ndarray:
    """The frontal reference for the RIGID points, ``(len(RIGID), 3)`` float64: centred, RMS radius 1."""
    points = canonical_face_model()[RIGID]
    points = points - points.mean(axis=0)
    return points / math.sqrt((points ** 2).sum(axis=1).mean())


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Least-squares similarity ``target ~ scale * source @ rotation.T + translation`` (Umeyama 1991).

    ``source``, ``target``: ``(N, D)`` corresponding points (D = 3 for landmarks, 2 for image points).
    Returns ``(rotation (D, D), scale, translation (D,))`` with ``det(rotation) = +1``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    source_centred, target_centred = source - source_mean, target - target_mean
    covariance = target_centred.T @ source_centred / len(source)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(source.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    source_variance = (source_centred ** 2).sum() / len(source)
    scale = float((singular * sign).sum() / source_variance)
    translation = target_mean - scale * rotation @ source_mean
    return rotation, scale, translation


def rotation_matrix(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Rotation ``(3, 3)`` from angles in degrees, ``Rz(roll) @ Ry(yaw) @ Rx(pitch)`` in the landmark axes.

    Signs (as seen in the image): yaw > 0 turns the nose to the image LEFT (the subject turns to their
    right); pitch > 0 moves the nose DOWN (looking down); roll > 0 turns the face CLOCKWISE in the image.
    """
    y, p, r = np.radians([yaw, pitch, roll])
    rx = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    ry = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return rz @ ry @ rx


@dataclass
class HeadPose:
    """Similarity from the canonical (frontal, unit-scale, centred) face to image pixels.

    Attributes:
        rotation: ``(3, 3)`` float64, proper rotation, canonical axes -> landmark axes.
        scale: pixels per canonical unit (the RMS radius of the RIGID points, in pixels).
        translation: ``(3,)`` float64, pixels: where the canonical origin lands.
    """

    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    scale: float = 1.0
    translation: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def yaw_pitch_roll(self) -> tuple[float, float, float]:
        """Angles in degrees with ``rotation = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` (see :func:`rotation_matrix`).

        yaw > 0: the nose points to the image left (the subject turns to their right); pitch > 0: the
        face looks down; roll > 0: the face is turned clockwise in the image. 0, 0, 0 is frontal.
        """
        r = self.rotation
        yaw = math.asin(max(-1.0, min(1.0, -r[2, 0])))
        pitch = math.atan2(r[2, 1], r[2, 2])
        roll = math.atan2(r[1, 0], r[0, 0])
        return math.degrees(yaw), math.degrees(pitch), math.degrees(roll)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Canonical points ``(..., 3)`` -> pixels, float64."""
        return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def invert(self, points: np.ndarray) -> np.ndarray:
        """Pixels ``(..., 3)`` -> canonical points, float64."""
        return (np.asarray(points, np.float64) - self.translation) @ self.rotation / self.scale


def decompose(landmarks: np.ndarray) -> tuple[HeadPose, np.ndarray]:
    """Split landmarks ``(478, 3)`` (pixels) into a :class:`HeadPose` and the canonical face.

    Returns ``(pose, canonical)``, ``canonical`` float64 ``(478, 3)``: the same face with the head pose
    removed (frontal, RIGID points centred with unit RMS radius). ``compose(pose, canonical)`` gives the
    landmarks back (to float precision).
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    if landmarks.ndim != 2 or landmarks.shape[1] != 3 or landmarks.shape[0] <= RIGID.max():
        raise ValueError(f"expected landmarks (478, 3), got {landmarks.shape}")
    rotation, scale, translation = umeyama(frontal_reference(), landmarks[RIGID])
    pose = HeadPose(rotation, scale, translation)
    return pose, pose.invert(landmarks)


def compose(pose: HeadPose, canonical: np.ndarray) -> np.ndarray:
    """Landmarks ``(478, 3)`` float32 in pixels from a pose and a canonical face (inverse of :func:`decompose`)."""
    return pose.apply(canonical).astype(np.float32)


def rotation_angle(rotation: np.ndarray) -> float:
    """Angle (degrees, 0..180) of a rotation matrix ``(3, 3)``: how far it turns about its axis.

    ``atan2(2 sin, 2 cos)`` from the skew part (``2 sin(angle) * axis``) and the trace
    (``1 + 2 cos(angle)``): ``acos`` of the trace alone loses half the digits near 0 (an identity
    that is off by 1e-16 reads as 1e-6 degrees) and depends on rounding in the last bit.
    """
    r = np.asarray(rotation, dtype=np.float64)
    twice_sine = math.hypot(r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1])
    twice_cosine = float(np.trace(r)) - 1.0
    return math.degrees(math.atan2(twice_sine, twice_cosine))
