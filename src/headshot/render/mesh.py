"""The warp engine's control mesh: MediaPipe's face mesh plus points that carry hair, ears, neck and background.

Vertex layout (rows of every vertex array):

* ``0 .. 477``: the 478 MediaPipe landmarks (only the 468 mesh vertices and the two iris centres 468/473
  are used by triangles),
* then ``len(RING_SCALES)`` rings of points around the face oval, each ``len(FACE_OVAL)`` long (points
  that fell outside the frame are dropped, so the count depends on the source crop),
* then fixed points along the frame border.

Triangles come in groups drawn in this order (painter's algorithm, far to near): ``background`` (rings and
border, Delaunay), ``interior`` (eyeballs fanned from the iris centre, mouth cavity as a strip between the
inner lips) and ``face`` (MediaPipe's 854-triangle tesselation, sorted per frame by depth). Face
triangles keep the orientation of the frontal canonical face, so a negative area in the source marks a
part hidden there (turned away) and a negative area in a target one to cull. All coordinates are pixels
of the source crop (x right, y down).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import Delaunay

from ..face import topology
from ..motion.pose import umeyama

# Rings around the face oval: scale about the oval's centre, and how much of the head's motion each
# follows (of the head turned rigidly in 3-D; of what the jaw does beyond that, the 1.5th power of it).
RING_SCALES = (1.07, 1.25, 1.55, 1.95)
RING_FOLLOW = (0.95, 0.75, 0.45, 0.18)
# Ring points on the head (see ``build_control_mesh``'s head mask) follow it at least this much; the outer
# rings less than fully, or the band between them and the fixed border is stretched into streaks (on the
# dev set, full following cost 0.5 FID (MobileNetV2) for 0.0002 CSIM). Measured again over the still plate
# (layers; official eval, 98 self-reenactment clips and 14 turned sources, template rows): all four rings
# following fully kept long hair with a head that moves far (a 3/4 portrait driven by a leaning speaker) and
# raised SFace a little (self >= 20 px of motion 0.767 -> 0.770, turned 0.764 -> 0.767), but L1 0.0292 ->
# 0.0296, SSIM 0.863 -> 0.861, FID 16.6 -> 17.1 (turned 46.6 -> 51.5: a padded crop's edge dragged into a
# streak above the head); the third ring alone fully: L1 0.0294, FID 16.8 (turned 48.1). Not adopted.
HEAD_FOLLOW = (1.0, 1.0, 0.8, 0.4)
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


@dataclass
class ControlMesh:
    """The extended mesh built from the source landmarks (see module docstring).

    Attributes:
        source_points: ``(V, 2)`` float64 vertex positions in the source crop.
        background, interior, face: ``(T, 3)`` int64 triangle groups; background and interiors
            oriented positively (see :func:`signed_areas`) in the source, the face as in the frontal
            canonical face (:func:`headshot.face.topology.frontal_tesselation`).
        ring_oval: ``(R,)`` index into ``FACE_OVAL`` of each kept ring point, ``ring_follow``: how much of
            the head's motion it follows (``RING_FOLLOW`` of its ring, raised to ``HEAD_FOLLOW`` where a head
            mask says it lies on the head: hair, ears).
        ring_start, border_start: first vertex row of the rings and of the border points.
        size: the crop's side in pixels.
        source_landmarks: ``(478, 3)`` float64, the source's landmarks.
        freedom, jaw: see :func:`expressive_freedom`.
        ring_xyz: ``(R, 3)`` ring points with the depth of their face-oval vertex (turned with the head).
    """

    source_points: np.ndarray
    background: np.ndarray
    interior: np.ndarray
    face: np.ndarray
    ring_oval: np.ndarray
    ring_follow: np.ndarray
    ring_start: int
    border_start: int
    size: int
    source_landmarks: np.ndarray
    freedom: np.ndarray
    jaw: np.ndarray
    ring_xyz: np.ndarray

    @property
    def triangles(self) -> np.ndarray:
        """All triangles, groups concatenated (background, interior, face)."""
        return np.concatenate([self.background, self.interior, self.face])

    def target_points(self, target_landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertex positions ``(V, 2)`` for a target, and the depths ``(478,)`` of its landmarks (for the
        draw order).

        The source face is first turned rigidly in 3-D onto the target (Umeyama fit on the RIGID
        points); landmarks then move the rest of the way to the target by their ``freedom``. Rings follow
        the turned head by their ``ring_follow``, plus, near the jaw, what the jaw does beyond it; the
        border stays.
        """
        target = np.asarray(target_landmarks, np.float64)
        rotation, scale, shift = umeyama(self.source_landmarks[topology.RIGID], target[topology.RIGID])
        turned = scale * self.source_landmarks @ rotation.T + shift
        landmarks = turned + self.freedom[:, None] * (target - turned)
        oval = topology.FACE_OVAL
        # What the face outline does beyond the rigid turn (jaw opening), smoothed around the loop so
        # that rings do not copy landmark jitter.
        residual = (landmarks[oval, :2] - turned[oval, :2]) * self.jaw[:, None]
        for _ in range(2):
            residual = 0.5 * residual + 0.25 * (np.roll(residual, 1, 0) + np.roll(residual, -1, 0))

        points = self.source_points.copy()
        points[:len(landmarks)] = landmarks[:, :2]
        ring = slice(self.ring_start, self.border_start)
        ring_source = self.source_points[ring]
        ring_turned = (scale * self.ring_xyz @ rotation.T + shift)[:, :2]
        follow = self.ring_follow[:, None]
        moved = ring_source + follow * (ring_turned - ring_source) + follow ** 1.5 * residual[self.ring_oval]
        margin = 0.02 * self.size
        points[ring] = np.clip(moved, margin, self.size - 1 - margin)
        return points, landmarks[:, 2]


def expressive_freedom(landmarks: np.ndarray, rigidity: float) -> tuple[np.ndarray, np.ndarray]:
    """Per landmark, how freely it may leave the rigidly turned source face, ``(478,)`` in [0, 1]: 1 for
    the lips, eyes, brows, irises and everything from the mouth down (the jaw), ``1 - rigidity`` above the
    nose tip, blended in between and smoothed over the mesh. Also the jaw weight of each ``FACE_OVAL``
    vertex (0 above the mouth, 1 at the chin): how much of the outline's own motion the rings copy (ears
    and earrings hang from the skull; the jaw line below them moves with the mouth)."""
    xy = np.asarray(landmarks, np.float64)[:, :2]
    height = xy @ face_up(xy)
    nose, mouth = height[1], height[13]
    low = np.clip((nose - height) / ((nose - mouth) or 1.0), 0.0, 1.0)
    freedom = np.maximum(np.full(len(xy), 1.0 - rigidity), low)
    for region in ("lips", "eyes", "brows", "irises"):
        freedom[topology.region_indices(region)] = 1.0
    edges = _mesh_edges()
    degree = np.bincount(edges.ravel(), minlength=len(xy)).astype(np.float64)
    for _ in range(3):
        total = np.bincount(edges[:, 0], freedom[edges[:, 1]], len(xy)) + np.bincount(edges[:, 1], freedom[edges[:, 0]], len(xy))
        freedom = np.where(degree > 0, 0.5 * freedom + 0.5 * total / np.maximum(degree, 1.0), freedom)
    freedom[topology.region_indices("lips")] = 1.0
    freedom[topology.region_indices("irises")] = 1.0
    chin = height[152]
    jaw = np.clip((mouth - height) / ((mouth - chin) or 1.0), 0.0, 1.0)
    return freedom, jaw[topology.FACE_OVAL]


def face_up(xy: np.ndarray) -> np.ndarray:
    """Unit vector ``(2,)`` from the chin (152) to the top of the forehead (10) in image pixels: heights along
    the face's own vertical axis, whatever its roll."""
    up = xy[topology.FACE_OVAL[0]] - xy[152]
    return up / (np.linalg.norm(up) or 1.0)


def _mesh_edges() -> np.ndarray:
    triangles = topology.tesselation_triangles()
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def build_control_mesh(source_landmarks: np.ndarray, size: int, head: np.ndarray | None = None,
                       rigidity: float = 0.5) -> ControlMesh:
    """The control mesh for a square source crop of side ``size`` px and its landmarks ``(478, 3)``.

    ``head``: optional ``(size, size)`` float mask in [0, 1] of the head (face, hair, ears; see
    :func:`headshot.render.silhouette.head_mask`). Ring points on it move rigidly with the head, down to
    the mouth's height (below, the neck and shoulders keep the ring's default).
    ``rigidity``: see :func:`expressive_freedom`.
    """
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

    face = topology.frontal_tesselation().copy()

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
    ring_oval = np.array(ring_oval, np.int64)
    ring_level = np.array(ring_level, np.int64)
    follow = np.asarray(RING_FOLLOW, np.float64)[ring_level]
    if head is not None and len(ring_points):
        ring_xy = np.array(ring_points)
        inside = head[np.clip(np.round(ring_xy[:, 1]).astype(int), 0, size - 1),
                      np.clip(np.round(ring_xy[:, 0]).astype(int), 0, size - 1)]
        # Height weight: 1 above the mouth, 0 at the chin, along the face's own vertical axis.
        up = face_up(xy)
        mouth = xy[13] @ up
        chin = xy[152] @ up
        height = np.clip((ring_xy @ up - chin) / ((mouth - chin) or 1.0), 0.0, 1.0)
        follow = np.maximum(follow, inside * height * np.asarray(HEAD_FOLLOW)[ring_level])
    freedom, jaw = expressive_freedom(landmarks, rigidity)
    ring_xyz = np.hstack([points[ring_start:border_start], landmarks[oval[ring_oval], 2:3]])
    return ControlMesh(points, oriented(background), interior, face, ring_oval, follow,
                       ring_start, border_start, size, landmarks, freedom, jaw, ring_xyz)
