"""Still drivers: one photo whose expression and head pose the source takes on."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

from ..face.landmarker import FaceAnalyzer
from .base import Driver, DriverFrame


class ImageDriver(Driver):
    """A single photo as the driver: one output frame."""

    kind = "image"
    has_pixels = True
    still = True
    fps = 25.0
    frame_count = 1

    def __init__(self, path: Path):
        from ..io.images import read_image

        self.path = Path(path)
        self.image = read_image(self.path)
        self.frame_size = (self.image.shape[1], self.image.shape[0])
        with FaceAnalyzer() as analyzer:
            self.landmarks = analyzer.detect_one(self.image, what=f"driver image {self.path.name}").landmarks

    def __iter__(self) -> Iterator[DriverFrame]:
        yield DriverFrame(0, 0.0, self.image, self.landmarks)
