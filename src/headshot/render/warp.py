"""The real-time geometric renderer: a dense warp of the source photo driven by moved face landmarks.

In the spirit of Averbuch-Elor et al., "Bringing Portraits to Life" (SIGGRAPH Asia 2017): the source's
478 MediaPipe landmarks plus rings of control points around the face (hair, ears, neck) and fixed frame
border points form a triangle mesh; moving its vertices to the target landmarks defines a piecewise
affine backward map, rasterised at reduced resolution (far-to-near, so turned-away triangles are hidden
instead of folding), upsampled and applied with one ``cv2.remap``. The mouth cavity that opens beyond
the source's is filled from the driver's mouth or synthesised (:mod:`.mouth`); lips closing over a mouth
open in the source are rebuilt from its lip texture (:mod:`.lips`); closing eyes get lid skin
(:mod:`.eyes`).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..face import topology
from .base import EngineInfo
from .eyes import EyeLids
from .lips import ClosedLips
from .mesh import ControlMesh, build_control_mesh, signed_areas
from .mouth import MouthInterior, mouth_opening
from .raster import FlowRasteriser, backward_affines
from .silhouette import head_mask

N_LANDMARKS = 478
# Margin of the full-resolution mouth box around the outer lips, in mouth widths.
MOUTH_BOX_MARGIN = 0.1
# How much less open (inner-lip gap / mouth width) than the source's a target mouth must be for its lips to
# be drawn at full resolution (below that the lips on either side of the seam sample neighbouring pixels).
REFINE_CLOSING = 0.01


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
    """

    # uses_driver_pixels: an opening mouth is filled from the driver's mouth when the driver has pixels.
    info = EngineInfo(name="warp", description="geometric warp of the source photo (real time, no model)",
                      uses_driver_pixels=True)

    def __init__(self, map_scale: float = 0.5, mouth: bool = True, eyes: bool = True,
                 min_twice_area: float = 0.05, head: bool = True, rigidity: float = 0.5,
                 lips: bool = True, **options):
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
        self.source: np.ndarray | None = None
        self.source_landmarks: np.ndarray | None = None
        self.mesh: ControlMesh | None = None
        self.last_flow: np.ndarray | None = None

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
        self.mesh = build_control_mesh(landmarks, size, head, self.rigidity)
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
        self.rasteriser = FlowRasteriser(size, self.map_scale)
        self._source_opening = mouth_opening(landmarks)
        self.mouth = MouthInterior(self.source, landmarks) if self.use_mouth else None
        self.eyes = EyeLids(self.source, landmarks) if self.use_eyes else None
        self.lips = ClosedLips(self.source, landmarks) if self.use_lips else None

    def draw_order(self, target_z: np.ndarray, twice_area: np.ndarray) -> np.ndarray:
        """Triangle indices far to near: background, mouth/eye interiors, then the face sorted by
        decreasing mean depth. Flipped (turned-away) and degenerate triangles, and face triangles hidden
        in the source, are culled, except the lips' folds (see :meth:`prepare`): what they leave
        uncovered takes the flow of its surroundings (see :class:`FlowRasteriser`)."""
        area = np.where(self._lip_triangles, np.abs(twice_area), twice_area)
        front = (area >= self.min_twice_area) & ~self._hidden
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
        order = self.draw_order(depth, twice_area)
        index = self.rasteriser.index_map(target_points, self._triangles, order)
        flow = self.rasteriser.flow(index, coefficients)
        # The lips at full resolution when they are closer than the source's: closed over an open source
        # mouth, an upsampled flow would sample the source's teeth along the seam.
        if mouth_opening(target_landmarks) < self._source_opening - REFINE_CLOSING:
            box = mouth_box(target_points[topology.OUTER_LIPS], self.source.shape[0])
            self.rasteriser.refine(flow, box, target_points, self._triangles, order, coefficients)
        return flow

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
        flow = self.flow(target)
        self.last_flow = flow
        image = self.rasteriser.remap(self.source, flow)
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
