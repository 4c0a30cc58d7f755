"""Paste an animated face crop back into the full source photo without a visible seam."""

from __future__ import annotations

import cv2
import numpy as np

from .crop import CropBox


def _ramp_mask(side: int, feather: int) -> np.ndarray:
    """``side``×``side`` float32 mask: 1 inside, smooth (cosine) fall to 0 over ``feather`` px at the edges."""
    ramp = np.ones(side, np.float32)
    if feather > 0:
        t = np.arange(feather, dtype=np.float32) / feather
        edge = 0.5 - 0.5 * np.cos(np.pi * t)
        ramp[:feather] = edge
        ramp[-feather:] = edge[::-1]
    return np.minimum.outer(ramp, ramp)


class Paster:
    """Blend rendered crops into the source photo: the whole crop, feathered at its edges.

    Engines render the whole crop, hair, ears and neck moved with the head, so all of it is pasted. (A mask
    over the face's landmark hull alone, once meant for generative engines, left the source's own hair and
    jaw line standing where the head had been as soon as the head turned: removed in issue 10.)

    Args:
        source_image: the full source photo, RGB uint8 HWC.
        box: where the crop was cut from (image pixels).
        crop_size: side of the rendered crops in pixels.
        feather: width of the soft edge as a fraction of the crop side.
    """

    def __init__(self, source_image: np.ndarray, box: CropBox, crop_size: int, feather: float = 0.1):
        self.source = np.ascontiguousarray(source_image)
        self.box, self.crop_size, self.feather = box, crop_size, feather
        height, width = self.source.shape[:2]
        self.side = int(round(box.side))
        bx, by = int(round(box.x0)), int(round(box.y0))
        self.roi = (max(0, bx), max(0, by), min(width, bx + self.side), min(height, by + self.side))
        x0, y0, x1, y1 = self.roi
        self.inner = (x0 - bx, y0 - by, x1 - bx, y1 - by)  # the ROI in crop-at-box-scale pixels
        if x1 <= x0 or y1 <= y0:
            raise ValueError("the crop box does not overlap the image")
        box_mask = _ramp_mask(self.side, int(round(feather * self.side)))
        # Crop edges that lie outside the image need no feathering: the region there is replicated.
        self.box_mask = self._inner(box_mask)

    def _inner(self, array: np.ndarray) -> np.ndarray:
        ix0, iy0, ix1, iy1 = self.inner
        return array[iy0:iy1, ix0:ix1]

    def __call__(self, rendered_crop: np.ndarray) -> np.ndarray:
        """Full-size frame: ``rendered_crop`` (RGB uint8, ``crop_size`` square) blended into the photo."""
        out = self.source.copy()
        x0, y0, x1, y1 = self.roi
        scaled = rendered_crop
        if rendered_crop.shape[0] != self.side:
            interpolation = cv2.INTER_LINEAR if self.side > rendered_crop.shape[0] else cv2.INTER_AREA
            scaled = cv2.resize(rendered_crop, (self.side, self.side), interpolation=interpolation)
        face = np.ascontiguousarray(self._inner(scaled))
        out[y0:y1, x0:x1] = cv2.blendLinear(face, out[y0:y1, x0:x1], self.box_mask, 1.0 - self.box_mask)
        return out
