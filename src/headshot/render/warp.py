"""The real-time geometric renderer: a dense warp of the source photo driven by moved face landmarks.

In the spirit of Averbuch-Elor et al., "Bringing Portraits to Life" (SIGGRAPH Asia 2017): the source's
478 MediaPipe landmarks plus rings of control points around the face (hair, ears, neck) and fixed frame
border points form a triangle mesh; moving its vertices to the target landmarks defines a piecewise
affine backward map, rasterised at reduced resolution (far-to-near, so turned-away triangles are hidden
instead of folding), upsampled and applied with one ``cv2.remap``. The mouth cavity that opens beyond
the source's is filled from the driver's mouth or synthesised (:mod:`.mouth`); lips closing over a mouth
open in the source are rebuilt from its lip texture (:mod:`.lips`); closing eyes get lid skin
(:mod:`.eyes`). What a turned photo hides is filled from the face's other side (:mod:`.mirror`), the
person is laid over a still background (:mod:`.layers`), and turns past what can be filled are eased
(:mod:`.ease`); a profile's background inside MediaPipe's outline is refilled for the face (:mod:`.outline`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import InputError
from ..face import topology
from .base import EngineInfo
from .ease import TurnEaser
from .eyes import EyeLids
from .layers import Layers
from .lips import ClosedLips
from .mesh import ControlMesh, build_control_mesh, signed_areas
from .mirror import MirrorTexture
from .mouth import MouthInterior, mouth_opening
from .outline import FaceTexture
from .raster import FlowRasteriser, backward_affines, vertex_affines
from .silhouette import head_mask

N_LANDMARKS = 478
# Margin of the full-resolution mouth box around the outer lips, in mouth widths.
MOUTH_BOX_MARGIN = 0.1
# How much less open (inner-lip gap / mouth width) than the source's a target mouth must be for its lips to
# be drawn at full resolution (below that the lips on either side of the seam sample neighbouring pixels).
REFINE_CLOSING = 0.01
# The mirror texture is used in targets where the parts the source hides (and the mirror fills) make at least
# this fraction of the visible face: a large hole is a tear, a thin strip at the far cheek's edge is better
# left to its surroundings (on turned dev sources, mirroring every hidden sliver cost 0.04 CSIM; a 0.04 gate
# costs 0.009 against no mirror at all, a 0.10 gate none, both keeping the landmark error at 1.7 px instead
# of 2.2: see the issue-12 report before raising it, multishot's likeness test was tuned with 0.04).
MIRROR_AREA_MIN = 0.04


def mouth_box(outer_lips: np.ndarray, size: int) -> tuple[int, int, int, int]:
    """Integer box ``(x0, y0, x1, y1)`` around the outer-lip points ``(20, 2)`` grown by
    :data:`MOUTH_BOX_MARGIN` mouth widths, inside the frame's one-pixel border."""
    low, high = outer_lips.min(0), outer_lips.max(0)
    pad = MOUTH_BOX_MARGIN * float(high[0] - low[0]) + 2.0
    x0, y0 = np.floor(low - pad).astype(int)
    x1, y1 = np.ceil(high + pad).astype(int) + 1
    return max(x0, 1), max(y0, 1), min(x1, size - 1), min(y1, size - 1)


def _check_landmarks(landmarks: np.ndarray, what: str) -> np.ndarray:
    landmarks = np.asarray(landmarks, np.float32)
    if landmarks.shape != (N_LANDMARKS, 3) or not np.all(np.isfinite(landmarks)):
        raise InputError(f"{what} must be a finite (478, 3) array, got shape {landmarks.shape}")
    return landmarks


class WarpEngine:
    """Landmark-driven warp of one source portrait crop.

    Options (keywords of the constructor):
        map_scale: resolution of the triangle map relative to the crop (default 0.5; 0.25 is faster and
            a little blurrier at occlusion edges).
        mouth: fill the opening mouth with an interior (default True).
        lips: rebuild lips that close over a mouth open in the source (:mod:`.lips`; default True).
        eyes: cover closing eyes with lid skin (default True).
        min_twice_area: triangles whose doubled target area (pixels²) is below this are not drawn.
        head: find the head's silhouette in the source (:mod:`.silhouette`) and move hair and ears
            rigidly with the head (default True); else they follow a fixed fall-off around the face.
        rigidity: how much of the target's shape change *outside* the expressive parts (lips, jaw,
            eyes, brows) to drop in favour of the source's own face turned rigidly in 3-D (0: follow
            every landmark as given; 1: only expressions deform the face). Default 0.5: landmark noise
            and another face's proportions bend noses and cheeks, which costs likeness.
        mirror: fill what a turned photo hides, and the skin a turn stretches into a smear, with the
            face's other side mirrored, shading matched (:mod:`.mirror`; default True; frontal photos are
            untouched).
        layers: move the person over a still background plate (:mod:`.layers`; default True): straight
            lines behind the speaker stay straight, what the head reveals is filled from the background.
        ease_turns: ease a turn that would uncover parts nothing can fill, and log it once (:mod:`.ease`).
        clamp_edges: at occlusion edges, map pixels outside their triangle sample the triangle's nearest
            point instead of extrapolating its map (:func:`.raster.clamp_edges`; default True): no specks
            of hair or background in the face's outline.
        face_texture: on a profile (its midline is its silhouette), the face mesh and the mirror sample a
            copy whose silhouette band (background inside MediaPipe's outline) is refilled with skin, where
            the target moves it inside the face (:mod:`.outline`; default True): a frontal face drawn from
            it has no background-coloured stripe down its midline; still frames are the photo.
    """

    # uses_driver_pixels: an opening mouth is filled from the driver's mouth when the driver has pixels.
    info = EngineInfo(name="warp", description="geometric warp of the source photo (real time, no model)",
                      uses_driver_pixels=True)

    def __init__(self, map_scale: float = 0.5, mouth: bool = True, eyes: bool = True,
                 min_twice_area: float = 0.05, head: bool = True, rigidity: float = 0.5,
                 lips: bool = True, mirror: bool = True, layers: bool = True,
                 ease_turns: bool = True, clamp_edges: bool = True, face_texture: bool = True, **options):
        if options:
            raise TypeError(f"unknown warp engine option(s): {', '.join(sorted(options))}")
        if not 0.05 <= map_scale <= 1.0:
            raise ValueError("map_scale must be in [0.05, 1]")
        if not 0.0 <= rigidity <= 1.0:
            raise ValueError("rigidity must be in [0, 1]")
        self.rigidity = float(rigidity)
        self.map_scale = float(map_scale)
        self.use_mouth = bool(mouth)
        self.use_lips = bool(lips)
        self.use_eyes = bool(eyes)
        self.min_twice_area = float(min_twice_area)
        self.use_head = bool(head)
        self.use_mirror = bool(mirror)
        self.use_layers = bool(layers)
        self.use_easing = bool(ease_turns)
        self.clamp_edges = bool(clamp_edges)
        self.use_face_texture = bool(face_texture)
        self.easer: TurnEaser | None = None
        self.layers: Layers | None = None
        self.face_texture: FaceTexture | None = None
        self.mirror: MirrorTexture | None = None
        self._mirror_field: tuple | None = None
        self.source: np.ndarray | None = None
        self.source_landmarks: np.ndarray | None = None
        self.mesh: ControlMesh | None = None
        self.last_flow: np.ndarray | None = None
        # The last target's triangle-index map (reduced resolution; the rasteriser reuses its buffer).
        self.last_index: np.ndarray | None = None
        self.last_mirror_weights: np.ndarray | None = None
        self.last_target: np.ndarray | None = None  # the last target as rendered (eased, see .ease)

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """Precompute the control mesh, the rasteriser and the colour statistics of one source.

        Args:
            source_crop: RGB uint8 HWC, square (typically 256 or 512 px).
            source_landmarks: ``(478, 3)`` float32 in crop pixels (z in x's unit).
        """
        source_crop = np.asarray(source_crop)
        if (source_crop.dtype != np.uint8 or source_crop.ndim != 3 or source_crop.shape[2] != 3
                or source_crop.shape[0] != source_crop.shape[1]):
            raise InputError(f"the source crop must be a square RGB uint8 image, got "
                             f"{source_crop.dtype} {source_crop.shape}")
        landmarks = _check_landmarks(source_landmarks, "the source landmarks")
        size = source_crop.shape[0]
        self.source = np.ascontiguousarray(source_crop)
        self.source_landmarks = landmarks
        head = head_mask(self.source, landmarks) if self.use_head else None
        # Over a still background plate (layers) every ring point above the mouth follows the head as the
        # ones on hair and ears do: what they drag beyond the person is covered by the plate, while a ring
        # held back between the head and the frame border tore the hair of a tilting or turning head (the
        # plate showed through it). Without layers, rings off the head follow less, so the background bends less.
        rings_head = np.ones_like(head) if head is not None and self.use_layers else head
        self.mesh = build_control_mesh(landmarks, size, rings_head, self.rigidity)
        self._triangles = self.mesh.triangles
        n_background, n_interior = len(self.mesh.background), len(self.mesh.interior)
        self._interior_start = n_background
        self._face_start = n_background + n_interior
        self._face_triangles = self._triangles[self._face_start:]
        # Face triangles turned away in the source have no pixels of their own: never drawn, whatever
        # the target shows there takes the flow of its surroundings. Not so the lips': their folds are
        # MediaPipe's (under a wide-open mouth it tucks the lower lip's outer contour below the skin
        # under it, and the upper lip's loops cross near the corners), not turned-away parts. Left as
        # holes they took the mean flow around them, which samples the open mouth's inside (dark
        # notches at the corners, a second mouth under the lower lip when the target closes it); drawn,
        # in either orientation, they stretch the thin strip of lip and skin they fold.
        self._lip_triangles = np.zeros(len(self._triangles), bool)
        self._lip_triangles[self._face_start:] = np.isin(self._face_triangles,
                                                         topology.region_indices("lips")).any(1)
        self._hidden = np.zeros(len(self._triangles), bool)
        self._hidden[self._face_start:] = signed_areas(self.mesh.source_points, self._face_triangles) <= 0.0
        self._hidden &= ~self._lip_triangles
        self.layers = Layers(self.source, landmarks, head) if self.use_layers else None
        self.face_texture = None
        if self.use_face_texture:
            seen = self._face_triangles[~self._hidden[self._face_start:]]
            texture = FaceTexture(self.source, landmarks, self.mesh.source_points, seen,
                                  self._triangles[self._interior_start:self._face_start],
                                  self.layers.plate if self.layers is not None else None,
                                  self.layers.person if self.layers is not None else None)
            self.face_texture = texture if texture.active else None
        face_image = self.source if self.face_texture is None else self.face_texture.image
        self.mirror = None
        self._mirror_drawn = np.zeros(len(self._triangles), bool)
        if self.use_mirror:
            mirror = MirrorTexture(self.source, landmarks, self.mesh.source_points, self._face_triangles, head,
                                   face_image)
            if mirror.active:
                self.mirror = mirror
                # Hidden triangles whose mirror the source sees are drawn, from the mirror's texture, in
                # targets that show enough of them (see MIRROR_AREA_MIN).
                self._mirror_drawn[self._face_start:] = mirror.usable & self._hidden[self._face_start:]
                self._mirror_points = self.mesh.source_points.copy()
                self._mirror_points[:N_LANDMARKS] = self.mesh.source_points[mirror.mirror]
        unfilled = (self._hidden & ~self._mirror_drawn)[self._face_start:]
        self.easer = TurnEaser(self.mesh, unfilled) if self.use_easing else None
        self.rasteriser = FlowRasteriser(size, self.map_scale)
        self._source_opening = mouth_opening(landmarks)
        self.mouth = MouthInterior(self.source, landmarks) if self.use_mouth else None
        self.eyes = EyeLids(self.source, landmarks) if self.use_eyes else None
        self.lips = ClosedLips(self.source, landmarks) if self.use_lips else None

    def draw_order(self, target_z: np.ndarray, twice_area: np.ndarray, hidden: np.ndarray | None = None) -> np.ndarray:
        """Triangle indices far to near: background, mouth/eye interiors, then the face sorted by
        decreasing mean depth. Flipped (turned-away) and degenerate triangles, and face triangles hidden
        in the source, are culled, except the lips' folds (see :meth:`prepare`): what they leave
        uncovered takes the flow of its surroundings (see :class:`FlowRasteriser`). ``hidden``: the triangles
        to cull as hidden in the source (default: all the source hides)."""
        area = np.where(self._lip_triangles, np.abs(twice_area), twice_area)
        front = (area >= self.min_twice_area) & ~(self._hidden if hidden is None else hidden)
        head = np.flatnonzero(front[:self._face_start])
        face_front = np.flatnonzero(front[self._face_start:])
        depth = target_z[self._face_triangles[face_front]].sum(1)
        face_order = face_front[np.argsort(-depth, kind="stable")] + self._face_start
        return np.concatenate([head, face_order])

    def flow(self, target_landmarks: np.ndarray) -> np.ndarray:
        """The backward flow ``(H, W, 2)`` float32 for a target (see :mod:`.raster`)."""
        if self.mesh is None:
            raise RuntimeError("call prepare() before render()")
        target_points, depth = self.mesh.target_points(target_landmarks)
        coefficients, twice_area = backward_affines(self.mesh.source_points, target_points,
                                                    self._triangles)
        hidden = self._hidden
        mirrored = self.mirror is not None and self._shows_hidden(twice_area) >= MIRROR_AREA_MIN
        if mirrored:
            hidden = self._hidden & ~self._mirror_drawn
        order = self.draw_order(depth, twice_area, hidden)
        index = self.rasteriser.index_map(target_points, self._triangles, order)
        self.last_index = index
        mesh = (self.mesh.source_points, target_points, self._triangles) if self.clamp_edges else None
        flow = self.rasteriser.flow(index, coefficients, mesh)
        self._mirror_field = None
        self.last_mirror_weights = None
        if mirrored:
            self._mirror_field = self._mirror_flow(index, target_points, twice_area)
        # The lips at full resolution when they are closer than the source's: closed over an open source
        # mouth, an upsampled flow would sample the source's teeth along the seam.
        if mouth_opening(target_landmarks) < self._source_opening - REFINE_CLOSING:
            box = mouth_box(target_points[topology.OUTER_LIPS], self.source.shape[0])
            self.rasteriser.refine(flow, box, target_points, self._triangles, order, coefficients,
                                   self.mesh.source_points if self.clamp_edges else None)
        return flow

    def _shows_hidden(self, twice_area: np.ndarray) -> float:
        """Fraction of a target's front-facing face area that the source hides but the mirror can fill."""
        area = twice_area[self._face_start:]
        front = area > 0
        total = float(area[front].sum())
        return float(area[front & self._mirror_drawn[self._face_start:]].sum()) / total if total > 0 else 0.0

    def _mirror_flow(self, index: np.ndarray, target_points: np.ndarray, twice_area: np.ndarray):
        """``(flow (H, W, 2), weight (H, W), box)`` of the mirror texture (:mod:`.mirror`) inside ``box``
        ``(x0, y0, x1, y1)``, or None when no pixel of this target takes it."""
        weights = self.mirror.weights(twice_area[self._face_start:])
        self.last_mirror_weights = weights
        if weights.max() <= 0.0:
            return None
        # Face and eye/mouth interiors: the far eye is the near eye mirrored where its skin is.
        drawn = self._triangles[self._interior_start:]
        mirror_coefficients, _ = backward_affines(self._mirror_points, target_points, drawn)
        table = np.zeros((len(self._triangles), 9))
        table[self._interior_start:, :6] = mirror_coefficients
        table[self._interior_start:, 6:] = vertex_affines(target_points, drawn, weights)
        table[self._interior_start:][weights[drawn].max(1) <= 0.0] = 0.0
        field, box = self.rasteriser.affine_field(index, table, self._interior_start, extend=2)
        if field is None:
            return None
        return field[..., :2], np.clip(field[..., 2], 0.0, 1.0), box

    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """The source moved to ``target_landmarks``.

        Args:
            target_landmarks: ``(478, 3)`` in source-crop pixels: where the face should now be.
            driver_frame: the full driver frame, RGB uint8 (any size), or None (motion template /
                preset: no driver pixels).
            driver_landmarks: ``(478, 3)`` in ``driver_frame`` pixels, or None.

        Returns:
            RGB uint8 HWC, the size of the source crop.
        """
        target = _check_landmarks(target_landmarks, "the target landmarks")
        if self.easer is not None:
            target = self.easer(target)
        self.last_target = target
        flow = self.flow(target)
        self.last_flow = flow
        map_x, map_y = self.rasteriser.maps(flow)
        image = cv2.remap(self.source, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if self.face_texture is not None:
            self.face_texture.apply(image, map_x, map_y, self.last_index >= self._interior_start,
                                    self.rasteriser.scale)
        face_weight = None
        if self._mirror_field is not None:
            mirror_flow, weight, box = self._mirror_field
            x0, y0, x1, y1 = box
            patch = self.rasteriser.remap_box(self.mirror.image, mirror_flow, box)
            alpha = weight[..., None]
            region = image[y0:y1, x0:x1]
            region[:] = np.clip(region * (1.0 - alpha) + patch * alpha + 0.5, 0, 255).astype(np.uint8)
            face_weight = (weight, box)
        if self.layers is not None:
            image = self.layers.composite(image, map_x, map_y, flow, target, face_weight)
        if driver_frame is not None and driver_landmarks is not None:
            driver_landmarks = _check_landmarks(driver_landmarks, "the driver landmarks")
        else:
            driver_frame = driver_landmarks = None
        if self.eyes is not None:
            self.eyes.apply(image, target)
        if self.mouth is not None:
            self.mouth.apply(image, target, driver_frame, driver_landmarks)
        if self.lips is not None:
            self.lips.apply(image, target)
        return image
