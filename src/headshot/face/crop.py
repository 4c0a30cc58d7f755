"""Square face crops: where to cut, how to cut, and how to map landmarks in and out.

A :class:`CropBox` is a square in image pixels; it may extend past the image, which keeps faces near
the border centred. There the crop continues the photo's edge, blurred more and more with the distance
from it (see :func:`crop`).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Margins as multiples of the landmark box size: room for hair above, chin and neck below.
DEFAULT_SCALE = 2.0
DEFAULT_SHIFT_UP = 0.12
# Outside the photo: Gaussian blurs (sigma as a fraction of the padded square's side) of the replicated
# edge, each reached in full at twice its sigma from the photo's edge. Plain replication draws the edge
# pixels out into stripes (a dark band off a collar, hair pulled up to the top); a mirror draws a second,
# upside-down chin or head.
_FILL_BLURS = (0.01, 0.03, 0.08)


@dataclass(frozen=True)
class CropBox:
    """Square crop: top-left corner ``(x0, y0)`` and side ``side``, all in image pixels (floats)."""

    x0: float
    y0: float
    side: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x0 + self.side / 2, self.y0 + self.side / 2

    def to_crop(self, points: np.ndarray, size: int) -> np.ndarray:
        """Map image-pixel points ``(..., 2+)`` into a ``size``×``size`` crop (z scales like x, y)."""
        scale = size / self.side
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = (out[..., 0] - self.x0) * scale
        out[..., 1] = (out[..., 1] - self.y0) * scale
        if out.shape[-1] > 2:
            out[..., 2:] *= scale
        return out

    def to_image(self, points: np.ndarray, size: int) -> np.ndarray:
        """Inverse of :meth:`to_crop` (divides by the same scale, so a round trip is exact to float32)."""
        scale = size / self.side
        out = np.array(points, dtype=np.float32, copy=True)
        out[..., 0] = out[..., 0] / scale + self.x0
        out[..., 1] = out[..., 1] / scale + self.y0
        if out.shape[-1] > 2:
            out[..., 2:] /= scale
        return out

    def matrix(self, size: int) -> np.ndarray:
        """2x3 affine matrix (float64) from image pixels to the pixels of a ``size``×``size`` crop."""
        scale = size / self.side
        return np.array([[scale, 0.0, -self.x0 * scale], [0.0, scale, -self.y0 * scale]], np.float64)

    def clipped(self, width: int, height: int) -> tuple[int, int, int, int]:
        """Integer ``(x0, y0, x1, y1)`` of the part of the box inside a ``width``×``height`` image."""
        x0 = int(np.clip(np.floor(self.x0), 0, width))
        y0 = int(np.clip(np.floor(self.y0), 0, height))
        x1 = int(np.clip(np.ceil(self.x0 + self.side), 0, width))
        y1 = int(np.clip(np.ceil(self.y0 + self.side), 0, height))
        return x0, y0, x1, y1


def crop_box(landmarks: np.ndarray, scale: float = DEFAULT_SCALE, shift_up: float = DEFAULT_SHIFT_UP,
             snap: bool = True) -> CropBox:
    """Square box around a face: ``scale`` × the landmark box, centre moved up by ``shift_up`` × its size.

    ``landmarks``: ``(478, 2+)`` image pixels. The result is not clipped to the image. ``snap``: round the
    side and corner to whole pixels (what :func:`crop` expects); ``False`` keeps the exact box, computed in
    float64, for :func:`crop_resampled` (the evaluation's fixed boxes).
    """
    xy = np.asarray(landmarks, np.float32 if snap else np.float64)[:, :2]
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    size = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - shift_up * size
    if not snap:
        side = scale * size
        return CropBox(float(cx - side / 2), float(cy - side / 2), float(side))
    side = max(8, int(round(size * scale)))
    return CropBox(float(round(cx - side / 2)), float(round(cy - side / 2)), float(side))


def crop(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut ``box`` out of ``image`` (HWC) and resize it to ``size``×``size``.

    Parts of the box outside the image continue its edge, smoothed more and more with the distance from
    it (:func:`pad`); pixels inside the image are copied unchanged. Boxes from :func:`crop_box` have
    integer corners, so the mapping of :meth:`CropBox.to_crop` is exact.
    """
    height, width = image.shape[:2]
    x0, y0, side = int(round(box.x0)), int(round(box.y0)), int(round(box.side))
    pad_left, pad_top = max(0, -x0), max(0, -y0)
    pad_right, pad_bottom = max(0, x0 + side - width), max(0, y0 + side - height)
    region = image[max(0, y0):min(height, y0 + side), max(0, x0):min(width, x0 + side)]
    if pad_left or pad_top or pad_right or pad_bottom:
        region = pad(region, pad_top, pad_bottom, pad_left, pad_right)
    if side == size:
        return np.ascontiguousarray(region)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interpolation)


def crop_resampled(image: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut ``box`` (any real corner and side) out of ``image`` (HWC) by one affine resampling to ``size``×``size``.

    Bilinear sampling (OpenCV's area flag when shrinking); outside the image the edge pixels repeat, without
    :func:`crop`'s blur. The evaluation crops this way (issue 14 will move it to :func:`crop`, whose pixels
    differ, together with its margins).
    """
    interpolation = cv2.INTER_AREA if size / box.side < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(image, box.matrix(size), (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_REPLICATE)


def pad(image: np.ndarray, top: int, bottom: int, left: int, right: int) -> np.ndarray:
    """``image`` (HWC or HW, uint8) grown by the given numbers of pixels on each side.

    The new pixels replicate the nearest edge pixel, blended into ever stronger blurs of that with the
    distance from the edge (:data:`_FILL_BLURS`): continuous at the edge, a soft smear of the edge's
    colours farther out, without stripes or mirrored features. The original pixels are unchanged.
    """
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_REPLICATE)
    height, width = padded.shape[:2]
    rows, columns = np.arange(height)[:, None], np.arange(width)[None, :]
    distance = np.maximum(np.maximum(top - rows, rows - (height - 1 - bottom)),
                          np.maximum(left - columns, columns - (width - 1 - right))).astype(np.float32)
    if padded.ndim == 3:
        distance = distance[..., None]
    # The new pixels lie in four bands around the photo (rectangles: cheap to slice).
    middle = slice(top, height - bottom)
    bands = [(slice(0, top), slice(None)), (slice(height - bottom, height), slice(None)),
             (middle, slice(0, left)), (middle, slice(width - right, width))]
    bands = [band for band in bands if padded[band].size]
    values = [padded[band].astype(np.float32) for band in bands]
    for fraction in _FILL_BLURS:
        sigma = fraction * max(height, width)
        blurred = _blurred(padded, sigma)
        for band, value in zip(bands, values):
            value += np.clip(distance[band] / (2.0 * sigma), 0.0, 1.0) * (blurred[band] - value)
    for band, value in zip(bands, values):
        padded[band] = np.clip(np.round(value), 0, 255).astype(padded.dtype)
    return padded


def _blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (float32) of ``image``, computed at a lower resolution when ``sigma`` is large: the
    result holds no detail finer than ``sigma`` anyway, and a full-size 100-pixel kernel is slow."""
    height, width = image.shape[:2]
    factor = max(1, int(sigma // 3))
    small = image if factor == 1 else cv2.resize(
        image, (max(1, width // factor), max(1, height // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small.astype(np.float32), (0, 0), sigma / factor)
    if factor == 1:
        return small
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR)


class StableCropper:
    """One crop box per shot for a stream of frames: no per-frame wobble.

    The box is fixed from the first face seen and re-fixed only at a cut, i.e. when the face's centre
    moves by more than ``cut_move`` of the box side or its size changes by more than ``cut_zoom``.
    """

    def __init__(self, scale: float = DEFAULT_SCALE, shift_up: float = DEFAULT_SHIFT_UP,
                 cut_move: float = 0.25, cut_zoom: float = 0.35):
        self.scale, self.shift_up = scale, shift_up
        self.cut_move, self.cut_zoom = cut_move, cut_zoom
        self.box: CropBox | None = None

    def update(self, landmarks: np.ndarray | None) -> CropBox | None:
        """Feed one frame's landmarks (or ``None`` when the face is lost); return the current box."""
        if landmarks is None:
            return self.box
        candidate = crop_box(landmarks, self.scale, self.shift_up)
        if self.box is None:
            self.box = candidate
        else:
            (cx, cy), (bx, by) = candidate.center, self.box.center
            moved = np.hypot(cx - bx, cy - by) / self.box.side
            zoom = abs(np.log(candidate.side / self.box.side))
            if moved > self.cut_move or zoom > np.log1p(self.cut_zoom):
                self.box = candidate
        return self.box
