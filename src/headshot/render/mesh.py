"""The warp engine's control mesh: MediaPipe's face mesh plus points that carry hair, ears, neck and background.

Vertex layout (rows of every vertex array):

* ``0 .. 477``: the 478 MediaPipe landmarks (only the 468 mesh vertices and the two iris centres 468/473
  are used by triangles),
* then ``len(RING_SCALES)`` rings of points around the face oval, each ``len(FACE_OVAL)`` long (points
  that fell outside the frame are dropped, so the count depends on the source crop),
* then fixed points along the frame border.

Triangles come in groups drawn in this order (painter's algorithm, far to near): ``background`` (rings and
border, Delaunay), ``interior`` (eyeballs fanned from the iris centre, mouth cavity as a strip between the
inner lips) and ``face`` (MediaPipe's 854-triangle tesselation, sorted per frame by depth). All
coordinates are pixels of the source crop (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..face import topology

# Rings around the face oval: scale about the oval's centre, and how much of the head's motion each
# follows (rigid part; the non-rigid residual, e.g. the jaw, follows the square of it).
RING_SCALES = (1.07, 1.25, 1.55, 1.95)
RING_FOLLOW = (0.95, 0.75, 0.45, 0.18)
BORDER_STEPS = 8  # border points per side

IRIS_CENTRES = {"right": 468, "left": 473}


def _strip(upper: list[int], lower: list[int], first: int, last: int) -> list[tuple[int, int, int]]:
    """Triangles between two polylines ``upper`` and ``lower`` (same length, same direction) that share
    end points ``first`` and ``last``."""
    triangles = [(first, upper[0], lower[0])]
    for i in range(len(upper) - 1):
        triangles.append((upper[i], upper[i + 1], lower[i + 1]))
        triangles.append((upper[i], lower[i + 1], lower[i]))
    triangles.append((upper[-1], last, lower[-1]))
    return triangles


def _loop_strip(loop: np.ndarray, corner_b: int) -> list[tuple[int, int, int]]:
    """Strip triangulation of a closed loop whose corners are ``loop[0]`` and ``loop[corner_b]``."""
    loop = [int(v) for v in loop]
    upper = loop[1:corner_b]
    lower = loop[corner_b + 1:][::-1]
    return _strip(upper, lower, loop[0], loop[corner_b])


def mouth_triangles() -> np.ndarray:
    """``(18, 3)`` triangles filling the inner-lip loop (the mouth cavity), upper lip to lower lip."""
    return np.array(_loop_strip(topology.INNER_LIPS, 10), np.int64)


def eye_triangles(side: str, landmarks: np.ndarray) -> np.ndarray:
    """Triangles filling one eye opening.

    A fan from the iris centre when it lies inside the source eye (so that moving the iris moves the
    gaze), else a strip between the lids (closed or half-closed source eyes).
    """
    loop = topology.RIGHT_EYE if side == "right" else topology.LEFT_EYE
    centre = IRIS_CENTRES[side]
    fan = np.array([(centre, int(loop[i]), int(loop[(i + 1) % len(loop)])) for i in range(len(loop))],
                   np.int64)
    areas = signed_areas(landmarks[:, :2], fan)
    if np.all(areas > 0) or np.all(areas < 0):
        return fan
    return np.array(_loop_strip(loop, 8), np.int64)


def signed_areas(points: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Signed areas (pixels²) of ``triangles`` over ``points`` (V, 2); positive = clockwise on screen
    (y down), i.e. counter-clockwise in the usual maths orientation."""
    a, b, c = points[triangles[:, 0]], points[triangles[:, 1]], points[triangles[:, 2]]
    return 0.5 * ((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))


def similarity_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares 2-D similarity ``(2, 3)`` taking ``source`` points (N, 2) to ``target`` (N, 2)."""
    ms, mt = source.mean(0), target.mean(0)
    s, t = source - ms, target - mt
    denom = float((s ** 2).sum()) or 1.0
    a = float((s * t).sum()) / denom
    b = float((s[:, 0] * t[:, 1] - s[:, 1] * t[:, 0]).sum()) / denom
    rotation = np.array([[a, -b], [b, a]])
    return np.hstack([rotation, (mt - rotation @ ms)[:, None]])


@dataclass
class ControlMesh:
    """The extended mesh built from the source landmarks (see module docstring).

    Attributes:
        source_points: ``(V, 2)`` float64 vertex positions in the source crop.
        background, interior, face: ``(T, 3)`` int64 triangle groups, each oriented positively
            (see :func:`signed_areas`) in the source.
        ring_oval: ``(R,)`` index into ``FACE_OVAL`` of each kept ring point, ``ring_level``: its ring.
        ring_start, border_start: first vertex row of the rings and of the border points.
        size: the crop's side in pixels.
        oval_centre: ``(2,)`` centre of the source face oval, about which the rings are scaled.
    """

    source_points: np.ndarray
    background: np.ndarray
    interior: np.ndarray
    face: np.ndarray
    ring_oval: np.ndarray
    ring_level: np.ndarray
    ring_start: int
    border_start: int
    size: int
    oval_centre: np.ndarray

    @property
    def triangles(self) -> np.ndarray:
        """All triangles, groups concatenated (background, interior, face)."""
        return np.concatenate([self.background, self.interior, self.face])

    def target_points(self, target_landmarks: np.ndarray) -> np.ndarray:
        """Vertex positions ``(V, 2)`` for a target: landmarks as given, rings following the head's
        motion with decaying weight, border fixed."""
        target_xy = target_landmarks[:, :2].astype(np.float64)
        # The head's 2-D motion (similarity on points that move little with expression) ...
        rigid = similarity_fit(self.source_points[topology.RIGID], target_xy[topology.RIGID])
        oval = topology.FACE_OVAL
        oval_source = self.source_points[oval]
        # ... and what the face outline does beyond it (jaw opening, turned cheeks).
        residual = target_xy[oval] - (oval_source @ rigid[:, :2].T + rigid[:, 2])
        # Smooth the residual around the loop so that rings do not copy landmark jitter.
        for _ in range(2):
            residual = 0.5 * residual + 0.25 * (np.roll(residual, 1, 0) + np.roll(residual, -1, 0))

        points = self.source_points.copy()
        points[:len(target_xy)] = target_xy
        ring = slice(self.ring_start, self.border_start)
        ring_source = self.source_points[ring]
        follow = np.asarray(RING_FOLLOW)[self.ring_level][:, None]
        rigid_motion = ring_source @ rigid[:, :2].T + rigid[:, 2] - ring_source
        moved = ring_source + follow * rigid_motion + follow ** 1.5 * residual[self.ring_oval]
        margin = 0.02 * self.size
        points[ring] = np.clip(moved, margin, self.size - 1 - margin)
        return points


def build_control_mesh(source_landmarks: np.ndarray, size: int) -> ControlMesh:
    """The control mesh for a square source crop of side ``size`` px and its landmarks ``(478, 3)``."""
    landmarks = np.asarray(source_landmarks, np.float64)
    xy = landmarks[:, :2]
    oval = topology.FACE_OVAL
    centre = xy[oval].mean(0)

    margin = 0.03 * size
    ring_points, ring_oval, ring_level = [], [], []
    for level, scale in enumerate(RING_SCALES):
        for i, vertex in enumerate(oval):
            p = centre + (xy[vertex] - centre) * scale
            if margin <= p[0] <= size - 1 - margin and margin <= p[1] <= size - 1 - margin:
                ring_points.append(p)
                ring_oval.append(i)
                ring_level.append(level)
    steps = np.linspace(0.0, size - 1.0, BORDER_STEPS + 1)
    border = ([(s, 0.0) for s in steps[:-1]] + [(size - 1.0, s) for s in steps[:-1]]
              + [(s, size - 1.0) for s in steps[::-1][:-1]] + [(0.0, s) for s in steps[::-1][:-1]])

    ring_start = len(xy)
    border_start = ring_start + len(ring_points)
    points = np.vstack([xy, np.array(ring_points).reshape(-1, 2), np.array(border)])

    # Background: Delaunay over oval + rings + border, minus what lies inside the face oval.
    outer = np.concatenate([oval, np.arange(ring_start, len(points))])
    delaunay = Delaunay(points[outer])
    background = outer[delaunay.simplices]
    contour = xy[oval].astype(np.float32).reshape(-1, 1, 2)
    centroids = points[background].mean(1)
    inside = np.array([cv2.pointPolygonTest(contour, (float(x), float(y)), False) > 0
                       for x, y in centroids])
    background = background[~inside]

    face = topology.tesselation_triangles().copy()

    def oriented(triangles: np.ndarray) -> np.ndarray:
        flip = signed_areas(points, triangles) < 0
        triangles = triangles.copy()
        triangles[flip] = triangles[flip][:, [0, 2, 1]]
        return triangles

    def oriented_as_group(triangles: np.ndarray) -> np.ndarray:
        # A closed source mouth/eye has near-zero, random-sign areas: orient the group as a whole
        # (the loops are built with one consistent orientation).
        if signed_areas(points, triangles).sum() < 0:
            return triangles[:, [0, 2, 1]].copy()
        return triangles.copy()

    interior = np.vstack([oriented_as_group(eye_triangles("right", landmarks)),
                          oriented_as_group(eye_triangles("left", landmarks)),
                          oriented_as_group(mouth_triangles())])
    return ControlMesh(points, oriented(background), interior, oriented(face),
                       np.array(ring_oval, np.int64), np.array(ring_level, np.int64),
                       ring_start, border_start, size, centre)
