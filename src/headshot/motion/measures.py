"""Measures of a face from its landmarks: size, mouth and eye opening, and expression against rest.

Each takes MediaPipe's 478 landmarks ``(478, 3)`` (or a stack ``(..., 478, 3)`` where said), in pixels
or in canonical units (:func:`headshot.motion.pose.decompose`): the measures are ratios, so the unit
cancels out.
"""

from __future__ import annotations

import functools

import numpy as np

from ..face import topology

# Vertical pairs (upper, lower) of the inner lips whose gap measures mouth opening.
_LIP_GAP_PAIRS = ((82, 87), (13, 14), (312, 317))

# Expression measures of a face at rest (see expression_features) and how much they vary between
# people at rest: medians and robust standard deviations over the 38 dev portraits whose MediaPipe
# blendshapes say "at rest" (mouthSmile < 0.1, jawOpen < 0.1, eyeBlink < 0.5); the lip gap at rest is 0
# by definition. A deviation within one spread of rest is taken for identity, not expression (a dead
# zone); real expressions stand well outside it: smile lift is 0.08 +- 0.02 on the 32 smiling portraits,
# the lip gap 0.47 on a scream, the eye opening ~0 in a blink. (The mouth's width is left out: smiles
# widen it by amounts that differ between people by +-0.06, as much as a pout narrows it.)
EXPRESSION_FEATURES = ("lip_gap", "smile_lift", "eye_opening", "brow_height")
_REST = np.array([0.0, -0.0095, 0.32, 0.20])
_REST_SPREAD = np.array([0.02, 0.017, 0.045, 0.024])


def face_size(landmarks: np.ndarray) -> np.ndarray:
    """Inter-ocular distance (outer eye corners, 3-D, pixels) of ``(..., 478, 3)`` landmarks: ``(...)``."""
    landmarks = np.asarray(landmarks, dtype=np.float64)
    right, left = topology.RIGHT_EYE_CORNERS[0], topology.LEFT_EYE_CORNERS[1]
    return np.linalg.norm(landmarks[..., right, :] - landmarks[..., left, :], axis=-1)


def mouth_openness(landmarks: np.ndarray) -> np.ndarray | float:
    """Gap between the inner lips (mean of three vertical pairs) over the inter-ocular distance.

    ``landmarks``: ``(478, 3)`` or ``(..., 478, 3)`` pixels. About 0 closed, 0.3-0.5 wide open.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    gap = np.mean([np.linalg.norm(landmarks[..., a, :] - landmarks[..., b, :], axis=-1)
                   for a, b in _LIP_GAP_PAIRS], axis=0)
    value = gap / face_size(landmarks)
    return float(value) if np.ndim(value) == 0 else value


def eye_openness(landmarks: np.ndarray) -> np.ndarray | float:
    """Mean over both eyes of eyelid gap / eye width (corner to corner); ``(478, 3)`` or ``(..., 478, 3)``.

    About 0.25-0.35 for open eyes, under 0.1 when closed.
    """
    landmarks = np.asarray(landmarks, dtype=np.float64)
    values = []
    for (upper, lower), (inner, outer) in ((topology.RIGHT_EYE_LIDS, topology.RIGHT_EYE_CORNERS),
                                           (topology.LEFT_EYE_LIDS, topology.LEFT_EYE_CORNERS)):
        gap = np.linalg.norm(landmarks[..., upper, :] - landmarks[..., lower, :], axis=-1)
        width = np.linalg.norm(landmarks[..., inner, :] - landmarks[..., outer, :], axis=-1)
        values.append(gap / width)
    value = np.mean(values, axis=0)
    return float(value) if np.ndim(value) == 0 else value


def expression_features(canonical: np.ndarray) -> np.ndarray:
    """Expression measures ``(4,)`` of a canonical face ``(478, 3)``, named by :data:`EXPRESSION_FEATURES`.

    ``lip_gap`` is :func:`mouth_openness` (0 closed, ~0.45 screaming) and ``eye_opening``
    :func:`eye_openness`; ``smile_lift`` (how far the mouth corners sit above the lips' midline) and
    ``brow_height`` (the brows above the eye corners) are heights over the inter-ocular distance (outer
    eye corners, in the image plane).
    """
    canonical = np.asarray(canonical, dtype=np.float64)
    y = canonical[:, 1]
    corners = (topology.RIGHT_EYE_CORNERS[0], topology.LEFT_EYE_CORNERS[1])
    interocular = np.linalg.norm(canonical[corners[0], :2] - canonical[corners[1], :2])
    midline = (y[topology.UPPER_LIP_INNER] + y[topology.LOWER_LIP_INNER]) / 2.0
    smile_lift = midline - y[list(topology.MOUTH_CORNERS)].mean()
    eye_corners = list(topology.RIGHT_EYE_CORNERS + topology.LEFT_EYE_CORNERS)
    brow_height = y[eye_corners].mean() - y[_brows()].mean()
    return np.array([mouth_openness(canonical), smile_lift / interocular, eye_openness(canonical),
                     brow_height / interocular])


@functools.lru_cache(maxsize=1)
def _brows() -> np.ndarray:
    return topology.region_indices("brows")


def expression_at_rest(canonical: np.ndarray) -> np.ndarray:
    """How far a canonical face ``(478, 3)`` is from a face at rest: its :func:`expression_features`
    less their rest values, shrunk towards 0 by the spread between people at rest (deviations within it
    are taken for identity and give 0). Same units as :func:`expression_features`."""
    excess = expression_features(canonical) - _REST
    return np.sign(excess) * np.maximum(np.abs(excess) - _REST_SPREAD, 0.0)
