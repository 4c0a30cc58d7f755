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


def match_colors(image: np.ndarray, reference: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Shift ``image``'s per-channel mean and spread (in Lab) to ``reference``'s, inside ``mask``.

    Both RGB uint8 of one size; ``mask`` bool/float HxW selects the pixels that define the statistics.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    ref = cv2.cvtColor(reference, cv2.COLOR_RGB2LAB).astype(np.float32)
    select = np.ones(image.shape[:2], bool) if mask is None else np.asarray(mask) > 0.5
    if select.sum() < 16:
        return image
    mean, std = lab[select].mean(0), lab[select].std(0) + 1e-3
    ref_mean, ref_std = ref[select].mean(0), ref[select].std(0) + 1e-3
    gain = np.clip(ref_std / std, 0.5, 2.0)
    lab = (lab - mean) * gain + ref_mean
    return cv2.cvtColor(np.clip(lab, 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


class Paster:
    """Blend rendered crops into the source photo.

    Args:
        source_image: the full source photo, RGB uint8 HWC.
        box: where the crop was cut from (image pixels).
        crop_size: side of the rendered crops in pixels.
        mode: ``"box"`` blends the whole crop with feathered edges (for engines that keep the crop's
            border and colours, like the warp engine); ``"hull"`` blends only a feathered region
            around the face and matches its colours to the source (for generative engines).
        feather: width of the soft edge as a fraction of the crop side.
    """

    def __init__(self, source_image: np.ndarray, box: CropBox, crop_size: int, mode: str = "box",
                 feather: float = 0.1, source_crop: np.ndarray | None = None):
        if mode not in ("box", "hull"):
            raise ValueError(f"unknown paste mode {mode!r}")
        self.source = np.ascontiguousarray(source_image)
        self.box, self.crop_size, self.mode, self.feather = box, crop_size, mode, feather
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
        self.source_crop = source_crop

    def _inner(self, array: np.ndarray) -> np.ndarray:
        ix0, iy0, ix1, iy1 = self.inner
        return array[iy0:iy1, ix0:ix1]

    def hull_mask(self, landmarks_crop: np.ndarray) -> np.ndarray:
        """Feathered face-region mask at box scale from crop-pixel landmarks ``(478, 2+)``."""
        scale = self.side / self.crop_size
        points = (landmarks_crop[:468, :2] * scale).astype(np.int32)
        mask = np.zeros((self.side, self.side), np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(points), 255)
        grow = max(3, int(0.04 * self.side)) | 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow)))
        blur = max(3, int(self.feather * self.side)) | 1
        mask = cv2.GaussianBlur(mask, (blur, blur), 0).astype(np.float32) / 255.0
        return np.minimum(mask, _ramp_mask(self.side, max(2, blur // 4)))

    def __call__(self, rendered_crop: np.ndarray, landmarks_crop: np.ndarray | None = None) -> np.ndarray:
        """Full-size frame: ``rendered_crop`` (RGB uint8, ``crop_size`` square) blended into the photo.

        ``landmarks_crop`` (crop pixels) is needed in ``"hull"`` mode.
        """
        out = self.source.copy()
        x0, y0, x1, y1 = self.roi
        if self.mode == "hull":
            if self.source_crop is not None:
                rendered_crop = match_colors(rendered_crop, self.source_crop)
            mask = self._inner(self.hull_mask(landmarks_crop))
        else:
            mask = self.box_mask
        scaled = rendered_crop
        if rendered_crop.shape[0] != self.side:
            interpolation = cv2.INTER_LINEAR if self.side > rendered_crop.shape[0] else cv2.INTER_AREA
            scaled = cv2.resize(rendered_crop, (self.side, self.side), interpolation=interpolation)
        face = np.ascontiguousarray(self._inner(scaled))
        out[y0:y1, x0:x1] = cv2.blendLinear(face, out[y0:y1, x0:x1], mask, 1.0 - mask)
        return out
