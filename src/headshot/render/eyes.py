"""Eye handling for the warp engine: lid skin over closing eyes."""

from __future__ import annotations

import numpy as np


class EyeLids:
    def __init__(self, source: np.ndarray, source_landmarks: np.ndarray):
        pass

    def apply(self, image: np.ndarray, target_landmarks: np.ndarray) -> None:
        pass
