"""Texture for the side of the face a turned photo does not show, taken from the side it does.

MediaPipe's face mesh is left-right symmetric (its canonical face is exactly so), so every landmark has a
mirror landmark and every face triangle a mirror triangle. Where the source hides a triangle (turned away)
or shows it so foreshortened that the target stretches it more than :data:`STRETCH_START`, the engine
samples the mirror triangle instead (an affine map from the target triangle onto the mirror triangle in the
source: a reflection of the visible side's skin). The mirror's texture is multiplied by a per-landmark
brightness ratio, so the far cheek keeps its own shading (darker in the shade, say): the ratio of the far
side's colour to the near side's where both are seen, spread over the mesh where the far side is not.
Blend weights are per landmark and interpolated over the triangles, so the two textures meet without seam.

Only sources that hide something pay for this: on a frontal photo no triangle needs the mirror and the
render is unchanged.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..face import topology
from ..face.canonical import canonical_face_model

# A triangle whose visibility (cosine between its normal and the view direction, from the source's 3-D
# landmarks) is below HIDDEN is not seen at all; the mirror is used only when it sees the triangle better
# than the source by MIRROR_MARGIN and at least MIRROR_MIN.
HIDDEN = 0.12
MIRROR_MIN = 0.3
MIRROR_MARGIN = 0.2
# Target area / source area at which a seen triangle starts to take the mirror's texture, and is fully
# mirrored (foreshortened skin stretched this much is a smear).
STRETCH_START = 2.2
STRETCH_FULL = 4.0
# Colour ratios far side / near side are kept in this range.
RATIO_RANGE = (0.55, 1.6)


@lru_cache(maxsize=1)
def mirror_landmarks() -> np.ndarray:
    """``(478,)`` int: the index of each landmark's mirror image (left-right) in MediaPipe's topology;
    landmarks on the midline map to themselves, the iris centres 468 and 473 to each other."""
    canonical = canonical_face_model()
    flipped = canonical * np.array([-1.0, 1.0, 1.0])
    distance = ((canonical[:, None, :] - flipped[None, :, :]) ** 2).sum(-1)
    mirror = np.arange(478)
    mirror[:468] = distance.argmin(1)
    mirror[topology.RIGHT_IRIS] = topology.LEFT_IRIS
    mirror[topology.LEFT_IRIS] = topology.RIGHT_IRIS
    return mirror


def triangle_visibility(landmarks: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per triangle, the cosine ``(T,)`` between its normal and the view direction: 1 facing the camera,
    0 edge-on, negative turned away (orientation as in :func:`headshot.render.mesh.signed_areas`)."""
    xyz = np.asarray(landmarks, np.float64)
    a, b, c = xyz[triangles[:, 0]], xyz[triangles[:, 1]], xyz[triangles[:, 2]]
    normal = np.cross(b - a, c - a)
    return normal[:, 2] / np.maximum(np.linalg.norm(normal, axis=1), 1e-9)


def _vertex_mean(values: np.ndarray, triangles: np.ndarray, count: int) -> np.ndarray:
    total = np.zeros(count)
    hits = np.zeros(count)
    for k in range(3):
        np.add.at(total, triangles[:, k], values)
        np.add.at(hits, triangles[:, k], 1.0)
    return np.where(hits > 0, total / np.maximum(hits, 1.0), 0.0)


class MirrorTexture:
    """What a source needs to fill its hidden side from its seen side.

    Args:
        source: the source crop, RGB uint8 HWC.
        landmarks: its ``(478, 3)`` landmarks (crop pixels).
        source_points: the control mesh's vertices ``(V, 2)`` (landmarks first).
        face: the mesh's face triangles ``(F, 3)`` (frontal orientation).
        head: the source's head mask (:mod:`.silhouette`), or None: colours are read only where it is sure
            (MediaPipe places the far side's outline on the background of a profile).
        texture: the image the mirror samples (the face texture, :mod:`.outline`), or None: the source.
            The shading ratios are always the source's.

    Attributes:
        active: whether any triangle may ever need the mirror (False on a frontal photo: nothing to do).
        image: the source with the colour ratios applied, sampled through the mirror flow.
        usable: ``(F,)`` bool, triangles whose mirror the source sees well enough.
    """

    def __init__(self, source: np.ndarray, landmarks: np.ndarray, source_points: np.ndarray, face: np.ndarray,
                 head: np.ndarray | None = None, texture: np.ndarray | None = None):
        landmarks = np.asarray(landmarks, np.float64)
        self.face = face
        self.mirror = mirror_landmarks()
        self.mirror_face = self.mirror[face]
        self.edges = _edges(face)
        self.visibility = triangle_visibility(landmarks, face)
        mirror_visibility = triangle_visibility(landmarks, self.mirror_face[:, [0, 2, 1]])
        self.usable = (mirror_visibility >= MIRROR_MIN) & (mirror_visibility >= self.visibility + MIRROR_MARGIN)
        self.hidden = self.visibility < HIDDEN
        a, b, c = (np.asarray(source_points, np.float64)[face[:, k]] for k in range(3))
        self.twice_source_area = np.abs((b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0]))
        self.active = bool(self.usable.any())
        # Per landmark: the mirror may stand in for it (its mirror is seen better, on the head), or it is on
        # the midline. Blend weights are kept to these, so that no seen triangle next to a mirrored one
        # samples its own mirror, which the source does not show (the background beside a profile).
        count = len(landmarks)
        size = source.shape[0]
        seen = _vertex_mean(np.clip(self.visibility, 0.0, 1.0), face, count)
        xy = np.clip(np.round(landmarks[:, :2]).astype(int), 0, size - 1)
        if head is not None:
            seen = seen * (head[xy[:, 1], xy[:, 0]] > 0.5)
        self.seen = seen
        midline = self.mirror == np.arange(count)
        self.vertex_usable = midline | ((seen[self.mirror] >= MIRROR_MIN) & (seen[self.mirror] >= seen + 0.5 * MIRROR_MARGIN))
        self.image = source
        if self.active:
            self.image = self._shaded(source, landmarks, source_points, head, texture)

    def _shaded(self, source: np.ndarray, landmarks: np.ndarray, source_points: np.ndarray,
                head: np.ndarray | None, texture: np.ndarray | None = None) -> np.ndarray:
        """The source multiplied by, at each seen landmark, its mirror's colour over its own (interpolated
        over the source triangles): sampled through the mirror flow, the near side's skin takes the far
        side's shading."""
        size = source.shape[0]
        count = len(landmarks)
        seen = self.seen
        # Brightness only: a ratio per colour channel turned skin blue next to a blue background.
        gray = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY).astype(np.float32)
        blurred = cv2.GaussianBlur(gray, (0, 0), max(1.0, size / 64))
        xy = np.clip(np.round(landmarks[:, :2]).astype(int), 0, size - 1)
        brightness = blurred[xy[:, 1], xy[:, 0]] + 1.0
        on_head = np.ones(count, bool) if head is None else head[xy[:, 1], xy[:, 0]] > 0.9
        mirror = self.mirror
        known = (seen > 0.35) & (seen[mirror] > 0.35) & on_head & on_head[mirror]
        ratio = np.ones((count, 1))
        ratio[known, 0] = brightness[mirror][known] / brightness[known]
        known |= mirror == np.arange(count)
        ratio = np.clip(ratio, *RATIO_RANGE)
        # Spread the known ratios over the mesh (harmonic fill along its edges).
        edges = _edges(self.face)
        degree = np.bincount(edges.ravel(), minlength=count).astype(np.float64)[:, None]
        for _ in range(40):
            total = np.zeros((count, 1))
            np.add.at(total, edges[:, 0], ratio[edges[:, 1]])
            np.add.at(total, edges[:, 1], ratio[edges[:, 0]])
            spread = np.where(degree > 0, total / np.maximum(degree, 1.0), ratio)
            ratio = np.where(known[:, None], ratio, spread)
        # ratio[v]: the gain landmark v's skin takes when it stands in for its mirror.
        field = _interpolate(source_points[:count], self.face[self.visibility > 0], ratio, size)
        shaded = (source if texture is None else texture).astype(np.float32) * field.reshape(size, size, 1)
        return np.clip(shaded + 0.5, 0, 255).astype(np.uint8)

    def weights(self, twice_target_area: np.ndarray) -> np.ndarray:
        """Per-landmark blend weights ``(478,)`` in [0, 1] of the mirror texture for one target, given the
        doubled target areas ``(F,)`` of the face triangles."""
        stretch = twice_target_area / np.maximum(self.twice_source_area, 1e-6)
        want = np.clip((stretch - STRETCH_START) / (STRETCH_FULL - STRETCH_START), 0.0, 1.0)
        want = np.where(self.hidden, 1.0, want) * self.usable
        weights = np.zeros(478)
        for k in range(3):
            np.maximum.at(weights, self.face[:, k], want)
        # One ring wider: the seam then falls where the source's own texture is still sound.
        grown = weights.copy()
        np.maximum.at(grown, self.edges[:, 0], weights[self.edges[:, 1]])
        np.maximum.at(grown, self.edges[:, 1], weights[self.edges[:, 0]])
        return 0.5 * (weights + grown) * self.vertex_usable


def _edges(triangles: np.ndarray) -> np.ndarray:
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    return np.unique(np.sort(edges, axis=1), axis=0)


def _interpolate(points: np.ndarray, triangles: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``(size, size, K)`` float32 image of per-vertex ``values`` ``(V, K)`` interpolated over the
    triangles (barycentric), 1 outside them; at a quarter resolution, then smoothed up."""
    scale = 0.25
    side = max(8, int(round(size * scale)))
    out = np.ones((side, side, values.shape[1]), np.float32)
    low = (points + 0.5) * (side / size) - 0.5
    ys, xs = np.mgrid[0:side, 0:side].astype(np.float64)
    for triangle in triangles:
        corners = low[triangle]
        x0, y0 = np.floor(corners.min(0)).astype(int)
        x1, y1 = np.ceil(corners.max(0)).astype(int) + 1
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, side), min(y1, side)
        if x1 <= x0 or y1 <= y0:
            continue
        px, py = xs[y0:y1, x0:x1], ys[y0:y1, x0:x1]
        (ax, ay), (bx, by), (cx, cy) = corners
        det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        if abs(det) < 1e-9:
            continue
        l0 = ((by - cy) * (px - cx) + (cx - bx) * (py - cy)) / det
        l1 = ((cy - ay) * (px - cx) + (ax - cx) * (py - cy)) / det
        l2 = 1.0 - l0 - l1
        inside = (l0 >= -0.01) & (l1 >= -0.01) & (l2 >= -0.01)
        patch = out[y0:y1, x0:x1]
        blend = (l0[..., None] * values[triangle[0]] + l1[..., None] * values[triangle[1]]
                 + l2[..., None] * values[triangle[2]])
        patch[inside] = blend[inside]
    return cv2.resize(cv2.GaussianBlur(out, (0, 0), 1.0), (size, size), interpolation=cv2.INTER_LINEAR)
