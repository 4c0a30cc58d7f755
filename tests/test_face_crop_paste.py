"""Crops and paste-back on the real astronaut portrait."""

import numpy as np
import pytest

from headshot.face import FaceAnalyzer
from headshot.face.crop import StableCropper, crop, crop_box
from headshot.face.paste import Paster


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut)


def test_crop_box_holds_the_face_with_margin(astronaut_face):
    box = crop_box(astronaut_face.landmarks)
    x0, y0, x1, y1 = astronaut_face.box
    assert box.x0 < x0 and box.y0 < y0 and box.x0 + box.side > x1 and box.y0 + box.side > y1
    # room for hair: more margin above the face than below it
    assert (y0 - box.y0) > (box.y0 + box.side - y1)


def test_landmarks_map_into_the_crop_exactly(astronaut, astronaut_face):
    box = crop_box(astronaut_face.landmarks)
    size = 256
    face_crop = crop(astronaut, box, size)
    points = box.to_crop(astronaut_face.landmarks, size)
    np.testing.assert_allclose(box.to_image(points, size), astronaut_face.landmarks, atol=1e-3)
    # the landmarks found again on the crop agree with the mapped ones (within a few pixels)
    with FaceAnalyzer() as analyzer:
        again = analyzer.detect_one(face_crop).landmarks
    assert np.median(np.linalg.norm(again[:, :2] - points[:, :2], axis=1)) < 3.0


def test_crop_past_the_border_is_padded(astronaut):
    from headshot.face.crop import CropBox

    box = CropBox(-100.0, -50.0, 300.0)
    out = crop(astronaut, box, 300)
    assert out.shape == (300, 300, 3)
    np.testing.assert_array_equal(out[50:, 100:], astronaut[:250, :200])
    # the padding continues the edge without a seam (tests/test_crop_border.py: and without stripes)
    seam = np.abs(out[49, 100:].astype(int) - astronaut[0, :200].astype(int))
    assert seam.mean() < 3


def test_stable_cropper_ignores_jitter_and_follows_cuts(astronaut_face):
    cropper = StableCropper()
    landmarks = astronaut_face.landmarks
    first = cropper.update(landmarks)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert cropper.update(landmarks + rng.normal(0, 2, landmarks.shape).astype(np.float32)) == first
    assert cropper.update(None) == first
    moved = landmarks.copy()
    moved[:, 0] += 200
    assert cropper.update(moved) != first


def test_paste_back_is_seamless(astronaut, astronaut_face):
    box = crop_box(astronaut_face.landmarks)
    size = 256
    source_crop = crop(astronaut, box, size)
    paster = Paster(astronaut, box, size)
    same = paster(source_crop)
    # an unchanged crop pastes back to (nearly) the unchanged photo
    assert np.abs(same.astype(int) - astronaut.astype(int)).mean() < 1.5
    # a changed crop changes the face but nothing outside the box, and the box edge has no seam
    changed = paster(np.clip(source_crop.astype(int) + 40, 0, 255).astype(np.uint8))
    x0, y0, x1, y1 = box.clipped(astronaut.shape[1], astronaut.shape[0])
    outside = np.ones(astronaut.shape[:2], bool)
    outside[y0:y1, x0:x1] = False
    np.testing.assert_array_equal(changed[outside], astronaut[outside])
    centre = (int(box.center[1]), int(box.center[0]))
    assert changed[centre].astype(int).sum() > astronaut[centre].astype(int).sum() + 60
    ring = np.abs(changed[y0 + 1, x0 + 2:x1 - 2].astype(int) - astronaut[y0 + 1, x0 + 2:x1 - 2].astype(int))
    assert ring.mean() < 3  # fully feathered at the box edge
