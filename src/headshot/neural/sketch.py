"""Landmark sketches: the image y that G, E and D see (Zakharov et al. 2019, Sec. 3.1).

The paper rasterises the 68 classic landmarks as line segments in a fixed colour per face part on a black
image. ``kind="68"`` does exactly that with the iBUG-68 points derived from MediaPipe's 478
(``face/topology.to_68``). ``kind="478"`` is a richer variant: MediaPipe's face mesh drawn faintly, its
contours (oval, brows, eyes, lips, nose) in per-part colours, and the irises, which the 68 points lack.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ..face import topology

# One RGB colour per part (fixed: networks learn them). Left/right parts differ so G can tell them apart.
PART_COLOURS_68 = {
    "jaw": (230, 230, 230),
    "right_brow": (255, 140, 0),
    "left_brow": (255, 215, 0),
    "nose_bridge": (0, 200, 255),
    "nose_lower": (0, 120, 255),
    "right_eye": (0, 255, 0),
    "left_eye": (120, 255, 120),
    "outer_lips": (255, 0, 0),
    "inner_lips": (255, 0, 200),
}

_SUBPIXEL_BITS = 4  # cv2 fixed-point: coordinates drawn with 1/16 px precision


def line_thickness(size: int) -> int:
    """Stroke width in pixels for a ``size``-pixel sketch: 1 px per 128 px of side, at least 1."""
    return max(1, int(round(size / 128)))


def _scaled_xy(landmarks: np.ndarray, size: int, image_size) -> np.ndarray:
    landmarks = np.asarray(landmarks, dtype=np.float32)
    if landmarks.ndim != 2 or landmarks.shape[0] != 478 or landmarks.shape[1] < 2:
        raise ValueError(f"landmarks must be (478, 2 or 3), got {landmarks.shape}")
    xy = landmarks[:, :2].astype(np.float64)
    if image_size is not None:
        height, width = (image_size, image_size) if np.isscalar(image_size) else image_size[:2]
        xy = xy * np.array([size / width, size / height])
    return xy


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(points * (1 << _SUBPIXEL_BITS)).astype(np.int32)


@functools.lru_cache(maxsize=None)
def _mesh_parts() -> tuple[np.ndarray, list[tuple[np.ndarray, tuple[int, int, int]]]]:
    # mediapipe here, not at the top: it takes a second to import and only the "478" sketch needs it.
    from mediapipe.tasks.python.vision import FaceLandmarksConnections as C

    def pairs(connections) -> np.ndarray:
        return np.array([(c.start, c.end) for c in connections], dtype=np.int64)

    contours = [
        (pairs(C.FACE_LANDMARKS_FACE_OVAL), (230, 230, 230)),
        (pairs(C.FACE_LANDMARKS_NOSE), (0, 160, 255)),
        (pairs(C.FACE_LANDMARKS_RIGHT_EYEBROW), (255, 140, 0)),
        (pairs(C.FACE_LANDMARKS_LEFT_EYEBROW), (255, 215, 0)),
        (pairs(C.FACE_LANDMARKS_RIGHT_EYE), (0, 255, 0)),
        (pairs(C.FACE_LANDMARKS_LEFT_EYE), (120, 255, 120)),
        (pairs(C.FACE_LANDMARKS_RIGHT_IRIS), (0, 255, 255)),
        (pairs(C.FACE_LANDMARKS_LEFT_IRIS), (160, 255, 255)),
        (pairs(C.FACE_LANDMARKS_LIPS), (255, 0, 0)),
    ]
    return pairs(C.FACE_LANDMARKS_TESSELATION), contours


def draw_sketch(landmarks: np.ndarray, size: int, kind: str = "68", image_size=None) -> np.ndarray:
    """Rasterise a landmark sketch.

    Args:
        landmarks: MediaPipe landmarks ``(478, 3)`` (or ``(478, 2)``) in pixels. If ``image_size`` is None
            they are pixels of the ``size x size`` sketch itself; otherwise pixels of an image of
            ``image_size`` (an int side, or ``(height, width)``), rescaled to the sketch.
        size: side of the square sketch, pixels.
        kind: ``"68"`` (the paper's coloured iBUG-68 polylines) or ``"478"`` (mesh + contours + irises).

    Returns:
        RGB uint8 ``(size, size, 3)``, black background.
    """
    xy = _scaled_xy(landmarks, size, image_size)
    canvas = np.zeros((size, size, 3), np.uint8)
    thickness = line_thickness(size)
    if str(kind) == "68":
        points = _fixed(topology.to_68(xy))
        for part, (indices, closed) in topology.PARTS_68.items():
            cv2.polylines(canvas, [points[list(indices)]], closed, PART_COLOURS_68[part], thickness,
                          cv2.LINE_AA, _SUBPIXEL_BITS)
    elif str(kind) == "478":
        mesh, contours = _mesh_parts()
        points = _fixed(xy)
        cv2.polylines(canvas, list(points[mesh]), False, (70, 70, 70), 1, cv2.LINE_AA, _SUBPIXEL_BITS)
        for edges, colour in contours:
            cv2.polylines(canvas, list(points[edges]), False, colour, thickness, cv2.LINE_AA, _SUBPIXEL_BITS)
    else:
        raise ValueError(f"unknown sketch kind {kind!r}; use '68' or '478'")
    return canvas


def to_tensor(image: np.ndarray):
    """RGB uint8 HWC -> float32 torch tensor CHW in [-1, 1]."""
    import torch  # here, not at the top: drawing sketches needs no torch

    return torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div_(127.5).sub_(1.0)


def sketch_tensor(landmarks: np.ndarray, size: int, kind: str = "68", image_size=None):
    """:func:`draw_sketch` as a float32 torch tensor ``(3, size, size)`` in [-1, 1] (black = -1)."""
    return to_tensor(draw_sketch(landmarks, size, kind, image_size))
