"""The visible "AI-generated" label (``--label``): small white text on a translucent dark box in a corner.

The text is about 2.5 % of the frame's short side tall. On a frame too narrow for that (a 64 px crop, a
tall thin photo) it is drawn smaller, down to :data:`MIN_SCALE`, then as just "AI"; a frame too small even
for that (under about 20 px) keeps no label, and a warning says so once per frame size.
"""

from __future__ import annotations

import functools
import logging

import cv2
import numpy as np

TEXT = "AI-generated"
SHORT_TEXT = "AI"  # on frames too narrow for TEXT at MIN_SCALE
MIN_SCALE = 0.2  # OpenCV font scale: text about 5 px tall; smaller is a smudge
_FONT = cv2.FONT_HERSHEY_SIMPLEX

log = logging.getLogger("headshot")


def _layout(text: str, scale: float) -> tuple[int, int, int, int, int]:
    """``(box height, box width, text height, padding, thickness)`` of ``text`` at font ``scale``."""
    thickness = max(1, round(scale * 1.6))
    (text_w, text_h), baseline = cv2.getTextSize(text, _FONT, scale, thickness)
    pad = max(3, round(text_h * 0.35))
    return text_h + baseline + 2 * pad, text_w + 2 * pad, text_h, pad, thickness


@functools.lru_cache(maxsize=8)
def _stamp(height: int, width: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]] | None:
    """(RGB stamp, alpha HxW float32 in [0, 1], top-left (y, x)) for a frame size, cached per size;
    ``None`` (and a warning) when no label fits the frame."""
    margin = max(4, round(min(height, width) * 0.015))
    for text in (TEXT, SHORT_TEXT):
        scale = max(0.35, min(height, width) / 900)
        while True:  # 5 % smaller each time, MIN_SCALE last
            box_h, box_w, text_h, pad, thickness = _layout(text, scale)
            if box_h + 2 * margin <= height and box_w + 2 * margin <= width:
                return _draw(text, scale, box_h, box_w, text_h, pad, thickness) + (
                    (height - margin - box_h, width - margin - box_w),)
            if scale <= MIN_SCALE:
                break
            scale = max(MIN_SCALE, scale * 0.95)
    log.warning("--label: a %dx%d frame is too small for the 'AI-generated' label; frames this size carry none",
                width, height)
    return None


def _draw(text: str, scale: float, box_h: int, box_w: int, text_h: int, pad: int,
          thickness: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB stamp, alpha) of ``text`` on its box."""
    text_mask = np.zeros((box_h, box_w), np.uint8)
    cv2.putText(text_mask, text, (pad, pad + text_h), _FONT, scale, 255, thickness, cv2.LINE_AA)
    alpha = 0.45 + 0.5 * text_mask.astype(np.float32) / 255  # box at 45 %, text nearly opaque
    stamp = np.full((box_h, box_w, 3), 20, np.uint8)
    stamp = np.where(text_mask[:, :, None] > 0,
                     (text_mask[:, :, None].astype(np.float32) / 255 * 235 + 20).astype(np.uint8), stamp)
    return stamp, alpha


def burn_label(rgb: np.ndarray) -> np.ndarray:
    """Return a copy of ``rgb`` (RGB uint8 HWC) with "AI-generated" in the bottom-right corner (smaller
    on small frames, "AI" on very narrow ones; none on frames under about 20 px, with a warning)."""
    height, width = rgb.shape[:2]
    out = rgb.copy()
    found = _stamp(height, width)
    if found is None:
        return out
    stamp, alpha, (top, left) = found
    region = out[top:top + stamp.shape[0], left:left + stamp.shape[1]].astype(np.float32)
    blended = region * (1 - alpha[:, :, None]) + stamp.astype(np.float32) * alpha[:, :, None]
    out[top:top + stamp.shape[0], left:left + stamp.shape[1]] = np.rint(blended).astype(np.uint8)
    return out
