"""The visible "AI-generated" label (``--label``): small white text on a translucent dark box in a corner."""

from __future__ import annotations

import functools

import cv2
import numpy as np

TEXT = "AI-generated"


@functools.lru_cache(maxsize=8)
def _stamp(height: int, width: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """(RGB stamp, alpha HxW float32 in [0, 1], top-left (y, x)) for a frame size, cached per size."""
    scale = max(0.35, min(height, width) / 900)  # text about 2.5 % of the short side tall
    thickness = max(1, round(scale * 1.6))
    (text_w, text_h), baseline = cv2.getTextSize(TEXT, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = max(3, round(text_h * 0.35))
    box_h, box_w = text_h + baseline + 2 * pad, text_w + 2 * pad
    margin = max(4, round(min(height, width) * 0.015))
    stamp = np.zeros((box_h, box_w, 3), np.uint8)
    text_mask = np.zeros((box_h, box_w), np.uint8)
    cv2.putText(text_mask, TEXT, (pad, pad + text_h), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    alpha = 0.45 + 0.5 * text_mask.astype(np.float32) / 255  # box at 45 %, text nearly opaque
    stamp[:] = 20
    stamp[text_mask > 0] = 255
    stamp = np.where(text_mask[:, :, None] > 0,
                     (text_mask[:, :, None].astype(np.float32) / 255 * 235 + 20).astype(np.uint8), stamp)
    return stamp, alpha, (height - margin - box_h, width - margin - box_w)


def burn_label(rgb: np.ndarray) -> np.ndarray:
    """Return a copy of ``rgb`` (RGB uint8 HWC) with "AI-generated" in the bottom-right corner."""
    height, width = rgb.shape[:2]
    stamp, alpha, (top, left) = _stamp(height, width)
    out = rgb.copy()
    if top < 0 or left < 0:
        return out  # frame smaller than the label: leave it untouched rather than cover it
    region = out[top:top + stamp.shape[0], left:left + stamp.shape[1]].astype(np.float32)
    blended = region * (1 - alpha[:, :, None]) + stamp.astype(np.float32) * alpha[:, :, None]
    out[top:top + stamp.shape[0], left:left + stamp.shape[1]] = np.rint(blended).astype(np.uint8)
    return out
