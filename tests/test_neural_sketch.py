"""Landmark sketches drawn from the astronaut's real MediaPipe landmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from headshot.face import topology
from headshot.neural.sketch import PART_COLOURS_68, draw_sketch, sketch_tensor


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut) -> np.ndarray:
    from headshot.face.landmarker import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut, what="astronaut").landmarks


def _colour_near(sketch: np.ndarray, xy: np.ndarray, radius: int = 1) -> np.ndarray:
    x, y = int(round(xy[0])), int(round(xy[1]))
    patch = sketch[y - radius:y + radius + 1, x - radius:x + radius + 1].reshape(-1, 3).astype(int)
    return patch[patch.sum(1).argmax()]


def test_68_sketch_colours_mouth_and_eyes(astronaut_landmarks):
    size = 512
    sketch = draw_sketch(astronaut_landmarks, size, "68")
    assert sketch.shape == (size, size, 3) and sketch.dtype == np.uint8
    points = topology.to_68(astronaut_landmarks[:, :2])
    for index in range(48, 60):  # outer lips: red
        colour = _colour_near(sketch, points[index])
        assert colour[0] > 150 and colour[1] < 80, (index, colour)
    for index in range(36, 48):  # eyes: green
        colour = _colour_near(sketch, points[index])
        assert colour[1] > 150 and colour[0] < 150, (index, colour)
    # nothing is drawn far from the face
    x0, y0 = points.min(0).astype(int) - 8
    x1, y1 = points.max(0).astype(int) + 8
    outside = sketch.copy()
    outside[max(y0, 0):y1, max(x0, 0):x1] = 0
    assert outside.max() == 0
    drawn_colours = {tuple(_colour_near(sketch, points[i], 0)) for i in (0, 19, 24, 30, 33, 37, 44, 51, 62)}
    assert len(drawn_colours) >= 6  # the face parts have distinct colours


def test_sketch_rescales_from_the_image_pixels(astronaut_landmarks):
    small = draw_sketch(astronaut_landmarks, 128, "68", image_size=512)
    mouth = topology.to_68(astronaut_landmarks[:, :2])[51] * 128 / 512
    colour = _colour_near(small, mouth)
    assert tuple(colour) != (0, 0, 0) and colour[0] >= colour[1]
    # (height, width) form for non-square images: x and y scale separately
    wide = draw_sketch(astronaut_landmarks, 128, "68", image_size=(512, 1024))
    assert wide[:, 70:].max() == 0 and wide[:, :60].max() > 0


def test_478_sketch_adds_irises_and_mesh(astronaut_landmarks):
    rich = draw_sketch(astronaut_landmarks, 512, "478")
    classic = draw_sketch(astronaut_landmarks, 512, "68")
    assert (rich.sum(2) > 0).sum() > 2 * (classic.sum(2) > 0).sum()
    iris_edge = astronaut_landmarks[469, :2]
    colour = _colour_near(rich, iris_edge)
    assert colour[1] > 150 and colour[2] > 150  # cyan iris circle
    with pytest.raises(ValueError):
        draw_sketch(astronaut_landmarks, 64, "106")


def test_sketch_tensor_convention(astronaut_landmarks):
    tensor = sketch_tensor(astronaut_landmarks, 64, "68", image_size=512)
    assert tensor.shape == (3, 64, 64) and tensor.dtype == torch.float32
    assert float(tensor.min()) == -1.0 and -1.0 < float(tensor.max()) <= 1.0
    image = draw_sketch(astronaut_landmarks, 64, "68", image_size=512)
    torch.testing.assert_close(tensor, torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1)
    assert set(PART_COLOURS_68) == set(topology.PARTS_68)
