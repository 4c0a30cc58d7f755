"""Several photos of one person for the warp engine: each part of the face from the shot that sees it best.

The first shot is the *reference*: its crop is the output's frame, its hair, neck and background are the
output's. Every other shot is prepared once with its own :class:`~.warp.WarpEngine` (same options, no head
silhouette: only its face is used), its colours matched to the reference's skin (mean and spread per
channel in Lab, :func:`match_colours`). Per frame:

- each shot is scored against the target: the angle between the target's head rotation and the shot's,
  plus how differently open its mouth and eyes are (:func:`shot_costs`, in degrees);
- the reference and the best other shot are rendered at the target landmarks (so the cost of many shots
  is one extra render; a frame where the reference alone is clearly best renders only it);
- inside the face the two renders are blended per pixel, weighted by how squarely each shot saw that
  patch of skin (the cosine between its mesh triangle's normal and the view direction, a source-space map
  carried to the output by the render's own flow) times a pose weight ``exp(-cost / POSE_SCALE_DEG)``;
  outside the face the reference is kept. A driver turned left thus takes the left cheek from the
  left-facing shot, whose view of it is square, rather than from a frontal photo that sees it edge-on.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from ..errors import InputError
from ..face import topology
from ..motion.measures import eye_openness, mouth_openness
from ..motion.pose import decompose, rotation_angle
from .mesh import signed_areas
from .warp import WarpEngine

# Pose weight of a shot: exp(-cost / POSE_SCALE_DEG), cost in degrees (see shot_costs).
POSE_SCALE_DEG = 3.0
# Degrees of cost per unit of mouth openness (gap / inter-ocular) and of eye openness (gap / width):
# a mouth 0.1 more open than the target's counts as 10 degrees of head turn.
MOUTH_DEG = 100.0
EYES_DEG = 50.0
# The reference is rendered alone when every other shot costs at least ALONE_MARGIN_DEG more than it (one
# render instead of two: few-shot dev clips lose nothing at 3 against 30); the other shot's weight fades in
# over RAMP_DEG below that margin, so that it never appears or vanishes at once.
ALONE_MARGIN_DEG = 3.0
RAMP_DEG = 3.0
# A new best shot must beat the current one by this much (degrees): no flicker between near-equal shots.
SWITCH_MARGIN_DEG = 2.0
# Per-pixel weight = pose weight * visibility ** VISIBILITY_POWER (visibility: |cos| of the triangle's
# normal against the view direction, 0 for triangles turned away in the shot). Measured on the dev set:
# with a left and a right turned source, CSIM +0.012 over pose weights alone (power 0); on the near-frontal
# few-shot clips, -0.002.
VISIBILITY_POWER = 2.0
# Standard-deviation ratios of the colour match are clipped to this range (a shot in deep shadow is not
# amplified into noise).
COLOUR_RATIO = (0.7, 1.4)
# The blended region: the face oval grown by this many face widths (negative: shrunk), feathered over
# FACE_MASK_FEATHER face widths (Gaussian sigma). Grown, the jaw line and the cheeks' edge come from the
# shot that sees them (on turned dev sources: CSIM +0.02 over a shrunk oval).
FACE_MASK_GROW = 0.04
FACE_MASK_FEATHER = 0.04
_FLOOR = 1e-4


def _power(visibility: np.ndarray) -> np.ndarray:
    """``visibility ** VISIBILITY_POWER`` (float32), by products for the usual whole powers."""
    if VISIBILITY_POWER == 2:
        return visibility * visibility
    if VISIBILITY_POWER == 1:
        return visibility
    return np.power(visibility, np.float32(VISIBILITY_POWER))


def _check_shot(crop: np.ndarray, landmarks: np.ndarray, size: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    crop = np.asarray(crop)
    if crop.dtype != np.uint8 or crop.shape != (size, size, 3):
        raise InputError(f"{what} must be an RGB uint8 image of the reference's size {size}x{size}, got "
                         f"{crop.dtype} {crop.shape}")
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.shape != (478, 3) or not np.all(np.isfinite(landmarks)):
        raise InputError(f"{what}'s landmarks must be a finite (478, 3) array, got shape {landmarks.shape}")
    return crop, landmarks


def skin_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Boolean ``(size, size)`` mask of the face oval without the eyes and the mouth (for colour statistics)."""
    mask = np.zeros((size, size), np.uint8)
    cv2.fillConvexPoly(mask, np.round(landmarks[topology.FACE_OVAL, :2]).astype(np.int32), 1)
    for region in (topology.RIGHT_EYE, topology.LEFT_EYE, topology.OUTER_LIPS):
        hull = cv2.convexHull(np.round(landmarks[region, :2]).astype(np.int32))
        cv2.fillConvexPoly(mask, cv2.convexHull(hull), 0)
    return mask.astype(bool)


def match_colours(crop: np.ndarray, landmarks: np.ndarray, reference: np.ndarray,
                  reference_landmarks: np.ndarray) -> np.ndarray:
    """``crop`` (RGB uint8) with its skin's mean and spread per Lab channel moved to the reference's."""
    size = crop.shape[0]
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    reference_lab = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    own, target = skin_mask(landmarks, size), skin_mask(reference_landmarks, reference.shape[0])
    if own.sum() < 50 or target.sum() < 50:
        return crop
    mean, spread = lab[own].mean(0), lab[own].std(0) + 1e-3
    target_mean, target_spread = reference_lab[target].mean(0), reference_lab[target].std(0) + 1e-3
    ratio = np.clip(target_spread / spread, *COLOUR_RATIO)
    matched = (lab - mean) * ratio + target_mean
    return cv2.cvtColor(np.clip(matched, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def visibility_map(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Float32 ``(size, size)`` map in the shot's own pixels: per face-mesh triangle, how squarely the
    camera saw it (|normal_z| / |normal|: 1 facing the camera, 0 edge-on or turned away), 0 off the face;
    lightly blurred so that weights do not step at triangle edges."""
    triangles = topology.frontal_tesselation()
    points = landmarks[:468].astype(np.float64)
    a, b, c = (points[triangles[:, i]] for i in range(3))
    normals = np.cross(b - a, c - a)
    cosine = np.abs(normals[:, 2]) / np.maximum(np.linalg.norm(normals, axis=1), 1e-9)
    cosine[signed_areas(points[:, :2], triangles) <= 0] = 0.0
    vis = np.zeros((size, size), np.float32)
    # The mesh has holes at the eyes and the mouth: they take the mean of the triangles around them, so
    # that a shot's eyes count as seen as well as the skin around them.
    for region in (topology.RIGHT_EYE, topology.LEFT_EYE, topology.INNER_LIPS):
        around = np.isin(triangles, region).any(axis=1)
        value = float(cosine[around].mean()) if around.any() else 0.0
        cv2.fillPoly(vis, [np.round(points[region, :2] * 16).astype(np.int32)], value, cv2.LINE_8, 4)
    corners = np.round(points[:, :2][triangles] * 16).astype(np.int32)
    for polygon, value in zip(corners, cosine.tolist()):
        cv2.fillConvexPoly(vis, polygon, value, cv2.LINE_8, 4)
    sigma = max(1.0, size / 256)
    return cv2.GaussianBlur(vis, (0, 0), sigma)


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Float32 ``(size, size)`` mask of the face oval grown by :data:`FACE_MASK_GROW` face widths and
    feathered over :data:`FACE_MASK_FEATHER`, so that a blend inside it meets the reference's hair and
    background without a seam."""
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, np.round(landmarks[topology.FACE_OVAL, :2]).astype(np.int32), 1.0)
    width = float(np.ptp(landmarks[topology.FACE_OVAL, 0]))
    grow = int(round(FACE_MASK_GROW * width))
    if grow:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * abs(grow) + 1, 2 * abs(grow) + 1))
        mask = (cv2.dilate if grow > 0 else cv2.erode)(mask, kernel)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, FACE_MASK_FEATHER * width))


class _Shot:
    """One shot: its engine and what the per-frame choice needs (rotation, openness, visibility map)."""

    def __init__(self, engine: WarpEngine, landmarks: np.ndarray):
        self.engine = engine
        # Its turn easing (render/ease.py), taken out of its render: multishot eases each target once, with
        # the easer of the shot that sees the target best, and renders every shot at that one target.
        self.easer, engine.easer = engine.easer, None
        self.rotation = decompose(landmarks)[0].rotation
        self.mouth = mouth_openness(landmarks)
        self.eyes = eye_openness(landmarks)
        self.visibility = visibility_map(landmarks, engine.source.shape[0])


def shot_costs(shots: list[_Shot], target_landmarks: np.ndarray) -> np.ndarray:
    """Per shot, how far it is from the target in degrees: the head-rotation angle between them plus
    :data:`MOUTH_DEG` per unit of mouth-openness difference and :data:`EYES_DEG` per unit of eye-openness
    difference (``(len(shots),)`` float64)."""
    rotation = decompose(target_landmarks)[0].rotation
    mouth, eyes = mouth_openness(target_landmarks), eye_openness(target_landmarks)
    return np.array([rotation_angle(rotation @ shot.rotation.T) + MOUTH_DEG * abs(mouth - shot.mouth)
                     + EYES_DEG * abs(eyes - shot.eyes) for shot in shots])


class MultiShotWarpEngine(WarpEngine):
    """The warp engine taking one photo (:meth:`prepare`) or several of one person (:meth:`prepare_shots`).

    With one shot it is exactly :class:`~.warp.WarpEngine`. Constructor options are the warp engine's; the
    extra shots are prepared with the same options, less what only the reference needs (head silhouette,
    background layer); with extra shots a turn is eased (render/ease.py) only as far as the shot that sees
    it best needs.
    ``last_choice`` holds, after each render, ``(shot index, its blend weight)`` of the shots used;
    ``blended_frames`` counts the renders that drew two shots (the others cost one render).
    """

    info = replace(WarpEngine.info, takes_shots=True)

    def __init__(self, **options):
        super().__init__(**options)
        # Extra shots supply only their face: no head silhouette or background layer (hair and background
        # are the reference's). Turn easing: see render.
        self._options = {**options, "head": False, "layers": False}
        self.shots: list[_Shot] = []
        self._reference_mask: np.ndarray | None = None
        self._current: int | None = None
        self.last_choice: list[tuple[int, float]] = []
        self.blended_frames = 0
        self._last_weights: tuple | None = None  # (box, reference weights, other weights) of the last blend

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """The reference shot (see :meth:`WarpEngine.prepare`); forgets earlier extra shots."""
        super().prepare(source_crop, source_landmarks)
        self.shots = []
        self._reference_mask = None
        self._current = None

    def prepare_shots(self, shots: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Add shots ``[(crop RGB uint8, landmarks (478, 3) in its pixels), ...]`` of the same person, each
        cropped like the reference (same size, face framed the same way). Call after :meth:`prepare`."""
        if self.source is None:
            raise InputError("call prepare() before prepare_shots()")
        if not shots:
            return
        size = self.source.shape[0]
        if not self.shots:
            self.shots = [_Shot(self, self.source_landmarks)]
            self._reference_mask = np.dstack([self.shots[0].visibility,
                                              face_mask(self.source_landmarks, size)])
        for index, (crop, landmarks) in enumerate(shots, start=len(self.shots)):
            crop, landmarks = _check_shot(crop, landmarks, size, f"shot {index}")
            engine = WarpEngine(**self._options)
            engine.prepare(match_colours(crop, landmarks, self.source, self.source_landmarks), landmarks)
            self.shots.append(_Shot(engine, landmarks))

    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """The person at ``target_landmarks`` (see :meth:`WarpEngine.render`), drawn from the shots."""
        self._last_weights = None
        if len(self.shots) < 2:
            self.last_choice = [(0, 1.0)]
            return super().render(target_landmarks, driver_frame, driver_landmarks)
        target = np.asarray(target_landmarks, np.float32)
        costs = shot_costs(self.shots, target)
        best = self._choose(costs)
        # One target for both renders (two poses would show two faces): eased as far as the better-placed of
        # the two shots needs, since it draws most of the face.
        leading = self.shots[0 if best is None or costs[0] <= costs[best] else best]
        if leading.easer is not None:
            target = leading.easer(target)
        reference = super().render(target, driver_frame, driver_landmarks)
        if best is None:
            self.last_choice = [(0, 1.0)]
            return reference
        reference_flow = self.last_flow
        self.blended_frames += 1
        other = self.shots[best].engine
        image = other.render(target, driver_frame, driver_landmarks)
        self.last_flow = reference_flow
        pose = np.exp(-(costs[[0, best]] - costs.min()) / POSE_SCALE_DEG).astype(np.float32)
        pose[1] *= np.clip((costs[0] + ALONE_MARGIN_DEG - costs[best]) / RAMP_DEG, 0.0, 1.0)
        # Only the face's box is blended (the rest is the reference's): a third of the work at 512 px.
        x0, y0, x1, y1 = self._face_box(target)
        box = np.s_[y0:y1, x0:x1]
        grid_x, grid_y = self.rasteriser.grid_x[box], self.rasteriser.grid_y[box]

        def carried(source_map, flow):  # a source-space map seen through a flow, inside the box
            return cv2.remap(source_map, grid_x + flow[box][..., 0], grid_y + flow[box][..., 1], cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT)

        maps = carried(self._reference_mask, reference_flow)
        seen_reference, face = maps[..., 0], maps[..., 1]
        seen_other = carried(self.shots[best].visibility, other.last_flow)
        weight_reference = face * (pose[0] * _power(seen_reference) + _FLOOR) + (1.0 - face)
        weight_other = face * pose[1] * _power(seen_other)
        self._last_weights = (box, weight_reference, weight_other)
        share = float((weight_other * face).sum() / max((face * (weight_reference + weight_other)).sum(), 1e-6))
        self.last_choice = [(0, 1.0 - share), (best, share)]
        reference[box] = cv2.blendLinear(reference[box], image[box], weight_reference, weight_other)
        return reference

    def _face_box(self, target: np.ndarray) -> tuple[int, int, int, int]:
        """``(x0, y0, x1, y1)`` around the target's face oval, grown by the blend mask's reach."""
        oval = target[topology.FACE_OVAL, :2]
        low, high = oval.min(0), oval.max(0)
        pad = (max(FACE_MASK_GROW, 0.0) + 3 * FACE_MASK_FEATHER) * float(high[0] - low[0]) + 2
        size = self.source.shape[0]
        x0, y0 = np.clip(np.floor(low - pad), 0, size - 1).astype(int)
        x1, y1 = np.clip(np.ceil(high + pad) + 1, 1, size).astype(int)
        return int(x0), int(y0), max(int(x1), int(x0) + 1), max(int(y1), int(y0) + 1)

    def shot_share(self) -> np.ndarray:
        """Per output pixel of the last render, the share ``(H, W)`` float32 in [0, 1] of the other shot
        (``last_choice[1]``) in the blend; zeros when the reference was rendered alone."""
        share = np.zeros(self.source.shape[:2], np.float32)
        if self._last_weights is not None:
            box, reference, other = self._last_weights
            share[box] = other / np.maximum(reference + other, 1e-6)
        return share

    def _choose(self, costs: np.ndarray) -> int | None:
        """The other shot to render with the reference this frame, or None (the reference alone)."""
        others = costs[1:]
        best = int(np.argmin(others)) + 1
        if self._current is not None and costs[self._current] <= costs[best] + SWITCH_MARGIN_DEG:
            best = self._current
        if costs[best] >= costs[0] + ALONE_MARGIN_DEG:
            self._current = None
            return None
        self._current = best
        return best
