"""Baseline engines for ``headshot eval``: the engine contract of ``render/base.py``, registered in
:mod:`headshot.engines` as ``source`` and ``similarity``.

- :class:`SourceEngine` — the unmoved source: every output is the source crop itself.
- :class:`SimilarityWarpEngine` — the source crop moved by one similarity transform (rotation, uniform
  scale, translation) fitted from 5 landmarks (eye centres, nose tip, mouth corners) of the source to the
  target: head motion without any expression.

Both take ``prepare(source_crop, source_landmarks)`` once, then ``render(target_landmarks,
driver_frame=None, driver_landmarks=None) -> RGB uint8`` per frame; ``target_landmarks`` are MediaPipe
``(478, 3)`` landmarks in source-crop pixels. They never look at driver pixels (``uses_driver_pixels``
false in their ``info``).
"""

from __future__ import annotations

import numpy as np

from ..render.base import EngineInfo
from .identity import five_points

BASELINE_LABELS = {
    "source": "source (unmoved)",
    "similarity": "similarity warp (5 points)",
}


class SourceEngine:
    """Returns the source crop unchanged for every target."""

    info = EngineInfo(name="source", description="evaluation baseline: the source crop, unmoved")

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """Keep the source crop (RGB uint8 HWC); ``source_landmarks`` are unused."""
        self.source_crop = np.ascontiguousarray(source_crop)

    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """A copy of the source crop (RGB uint8 HWC)."""
        return self.source_crop.copy()


class SimilarityWarpEngine:
    """Warps the whole source crop by the similarity transform that maps its 5 points onto the target's."""

    info = EngineInfo(name="similarity",
                      description="evaluation baseline: the source crop moved by one 5-point similarity")

    def prepare(self, source_crop: np.ndarray, source_landmarks: np.ndarray) -> None:
        """Keep the source crop (RGB uint8 HWC) and its 5 alignment points (from ``(478, 3)`` pixels)."""
        self.source_crop = np.ascontiguousarray(source_crop)
        self.source_points = five_points(source_landmarks)

    def render(self, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
               driver_landmarks: np.ndarray | None = None) -> np.ndarray:
        """The warped source crop (RGB uint8 HWC, same size as the source crop)."""
        import cv2

        matrix, _ = cv2.estimateAffinePartial2D(self.source_points, five_points(target_landmarks),
                                                method=cv2.LMEDS)
        if matrix is None:
            return self.source_crop.copy()
        height, width = self.source_crop.shape[:2]
        return cv2.warpAffine(self.source_crop, matrix, (width, height), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_REPLICATE)
