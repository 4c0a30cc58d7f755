"""Index sets on MediaPipe's 478-point face mesh, and the 68 classic (iBUG 300-W) points derived from it.

Indices 0-467 are the face mesh, 468-472 the right iris (subject's right: image left), 473-477 the left
iris. Loops are ordered polygons (first point not repeated).
"""

from __future__ import annotations

import functools

import numpy as np

from .canonical import canonical_face_model

# The 68 iBUG points approximated by mesh vertices, in iBUG order:
# jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67.
LANDMARKS_68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,  # jaw
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,                                      # brows
    168, 197, 5, 4, 75, 97, 2, 326, 305,                                                # nose
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,                          # eyes
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,                                # outer lips
    78, 82, 13, 312, 308, 317, 14, 87,                                                  # inner lips
], dtype=np.int64)

# iBUG-68 parts as index ranges into LANDMARKS_68, with whether each polyline is closed.
PARTS_68 = {
    "jaw": (range(0, 17), False),
    "right_brow": (range(17, 22), False),
    "left_brow": (range(22, 27), False),
    "nose_bridge": (range(27, 31), False),
    "nose_lower": (range(31, 36), False),
    "right_eye": (range(36, 42), True),
    "left_eye": (range(42, 48), True),
    "outer_lips": (range(48, 60), True),
    "inner_lips": (range(60, 68), True),
}

# Ordered loops (clockwise in the image for a frontal face).
OUTER_LIPS = np.array([61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
                       375, 321, 405, 314, 17, 84, 181, 91, 146], dtype=np.int64)
INNER_LIPS = np.array([78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308,
                       324, 318, 402, 317, 14, 87, 178, 88, 95], dtype=np.int64)
RIGHT_EYE = np.array([33, 246, 161, 160, 159, 158, 157, 173, 133,
                      155, 154, 153, 145, 144, 163, 7], dtype=np.int64)
LEFT_EYE = np.array([362, 398, 384, 385, 386, 387, 388, 466, 263,
                     249, 390, 373, 374, 380, 381, 382], dtype=np.int64)
RIGHT_IRIS = np.arange(468, 473)
LEFT_IRIS = np.arange(473, 478)
FACE_OVAL = np.array([10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                      400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                      54, 103, 67, 109], dtype=np.int64)

# Upper / lower inner-lip midpoints and eye-lid midpoints: openness measures.
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_CORNERS = (61, 291)
RIGHT_EYE_LIDS = (159, 145)
LEFT_EYE_LIDS = (386, 374)
RIGHT_EYE_CORNERS = (33, 133)
LEFT_EYE_CORNERS = (362, 263)

# Points that move little with expression: used to estimate rigid head pose.
RIGID = np.array([1, 4, 5, 6, 168, 197, 195, 33, 133, 362, 263, 127, 356, 10, 151, 9, 8,
                  234, 454, 93, 323, 21, 251, 54, 284], dtype=np.int64)


@functools.lru_cache(maxsize=None)
def tesselation_triangles() -> np.ndarray:
    """Triangles ``(T, 3)`` of MediaPipe's face-mesh tesselation (468 vertices), from its edge list."""
    # mediapipe here, not at the top: it takes a second to import and only these two tables need it.
    from mediapipe.tasks.python.vision import FaceLandmarksConnections

    edges = {(min(c.start, c.end), max(c.start, c.end))
             for c in FaceLandmarksConnections.FACE_LANDMARKS_TESSELATION}
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    triangles = set()
    for a, b in edges:
        for c in neighbours[a] & neighbours[b]:
            triangles.add(tuple(sorted((a, b, c))))
    return np.array(sorted(triangles), dtype=np.int64)


@functools.lru_cache(maxsize=None)
def frontal_tesselation() -> np.ndarray:
    """:func:`tesselation_triangles` ordered so that every triangle has positive signed area (clockwise on
    screen, y down) in the frontal view of the canonical face: a triangle whose area turns negative in an
    image faces away from the camera there."""
    triangles = tesselation_triangles().copy()
    xy = canonical_face_model()[:, :2]
    a, b, c = xy[triangles[:, 0]], xy[triangles[:, 1]], xy[triangles[:, 2]]
    area = (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])
    triangles[area < 0] = triangles[area < 0][:, [0, 2, 1]]
    return triangles


def region_indices(name: str) -> np.ndarray:
    """Vertices of a named region: ``lips``, ``eyes``, ``brows``, ``irises``, ``oval``."""
    # mediapipe imported here for the same reason as in tesselation_triangles().
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    def vertices(*sets):
        return np.array(sorted({v for s in sets for c in s for v in (c.start, c.end)}), dtype=np.int64)

    table = {
        "lips": lambda: vertices(C.FACE_LANDMARKS_LIPS),
        "eyes": lambda: vertices(C.FACE_LANDMARKS_LEFT_EYE, C.FACE_LANDMARKS_RIGHT_EYE),
        "brows": lambda: vertices(C.FACE_LANDMARKS_LEFT_EYEBROW, C.FACE_LANDMARKS_RIGHT_EYEBROW),
        "irises": lambda: np.arange(468, 478),
        "oval": lambda: FACE_OVAL.copy(),
    }
    if name not in table:
        raise KeyError(f"unknown region {name!r}; known: {', '.join(table)}")
    return table[name]()


def to_68(landmarks: np.ndarray) -> np.ndarray:
    """The 68 iBUG points ``(68, D)`` from MediaPipe landmarks ``(478, D)`` (or ``(..., 478, D)``)."""
    return landmarks[..., LANDMARKS_68, :]
