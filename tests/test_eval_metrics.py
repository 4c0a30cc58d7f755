"""Metrics against known answers: identical images, known shifts, known rotations, known distributions."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from headshot.eval import metrics


@pytest.fixture(scope="module")
def crop(astronaut) -> np.ndarray:
    return cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)


def test_identical_images_give_perfect_scores(crop):
    assert metrics.l1(crop, crop) == 0.0
    assert metrics.psnr(crop, crop) == math.inf
    assert metrics.ssim(crop, crop) == pytest.approx(1.0)


def test_constant_offset_gives_known_l1_and_psnr(crop):
    darker = np.clip(crop.astype(np.int16) - 10, 0, 255).astype(np.uint8)
    bright = crop >= 10  # pixels where the offset is exactly 10
    assert bright.mean() > 0.5
    brighter_only = np.where(bright, darker, crop)
    expected_l1 = 10 / 255 * bright.mean()
    assert metrics.l1(brighter_only, crop) == pytest.approx(expected_l1, rel=1e-5)
    assert metrics.psnr(brighter_only, crop) == pytest.approx(10 * math.log10(255 ** 2 / (100 * bright.mean())), rel=1e-6)
    assert metrics.ssim(brighter_only, crop) < 1.0


def test_ssim_falls_with_noise(crop):
    rng = np.random.default_rng(0)
    light = np.clip(crop + rng.normal(0, 5, crop.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(crop + rng.normal(0, 25, crop.shape), 0, 255).astype(np.uint8)
    assert 1.0 > metrics.ssim(light, crop) > metrics.ssim(heavy, crop)
    assert metrics.psnr(light, crop) > metrics.psnr(heavy, crop)


def test_mismatched_shapes_are_rejected(crop):
    with pytest.raises(ValueError):
        metrics.l1(crop, crop[:128])


def test_known_landmark_shift_gives_known_akd():
    rng = np.random.default_rng(1)
    landmarks = rng.uniform(0, 256, (478, 3)).astype(np.float32)
    shifted = landmarks + np.array([3.0, 4.0, 7.0], np.float32)  # z must not count
    assert metrics.keypoint_distance(shifted, landmarks) == pytest.approx(5.0, abs=1e-4)
    assert metrics.keypoint_distance(landmarks, landmarks) == 0.0


def test_detected_landmarks_follow_an_image_shift(crop, analyzer):
    """The astronaut moved by (6, -3) px: AKD on detected points is close to the true 6.7 px."""
    moved = cv2.warpAffine(crop, np.float32([[1, 0, 6], [0, 1, -3]]), (256, 256), borderMode=cv2.BORDER_REPLICATE)
    before = analyzer.detect(crop)[0].landmarks
    after = analyzer.detect(moved)[0].landmarks
    assert metrics.keypoint_distance(after, before) == pytest.approx(math.hypot(6, 3), abs=1.0)


def test_head_pose_angles_follow_rotation_and_mirroring(crop, analyzer):
    base = metrics.euler_angles(analyzer.detect(crop)[0].pose_matrix)
    rotation = cv2.getRotationMatrix2D((128, 128), 15, 1.0)  # counter-clockwise in the image
    rotated = cv2.warpAffine(crop, rotation, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    turned = metrics.euler_angles(analyzer.detect(rotated)[0].pose_matrix)
    assert abs(turned[2] - base[2]) == pytest.approx(15, abs=3)
    assert abs(turned[0] - base[0]) < 5 and abs(turned[1] - base[1]) < 5
    mirrored = metrics.euler_angles(analyzer.detect(np.ascontiguousarray(crop[:, ::-1]))[0].pose_matrix)
    assert mirrored[0] == pytest.approx(-base[0], abs=3)  # yaw flips
    assert mirrored[1] == pytest.approx(base[1], abs=3)    # pitch does not
    assert metrics.pose_error(base, base) == 0.0
    assert metrics.pose_error(np.array([179.0, 0, 0]), np.array([-179.0, 0, 0])) == pytest.approx(2 / 3)


def test_expression_error():
    assert metrics.expression_error(np.zeros(52), np.zeros(52)) == 0.0
    assert metrics.expression_error(np.full(52, 0.5), np.zeros(52)) == pytest.approx(0.5)


def test_landmark_jitter_measures_shaking_not_steady_motion():
    frames = 30
    base = np.random.default_rng(2).uniform(0, 100, (68, 2))
    steady = np.stack([base + t * np.array([1.5, -0.5]) for t in range(frames)])
    assert metrics.landmark_jitter(steady) == pytest.approx(0.0, abs=1e-12)
    shaky = steady + np.random.default_rng(3).normal(0, 1.0, steady.shape)
    shakier = steady + np.random.default_rng(3).normal(0, 2.0, steady.shape)
    assert metrics.landmark_jitter(shakier) == pytest.approx(4 * metrics.landmark_jitter(shaky), rel=0.1)
    present = np.ones(frames, bool)
    present[::2] = False  # no three consecutive frames
    assert math.isnan(metrics.landmark_jitter(shaky, present))


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(4)
    a = rng.normal(0, 1, (4000, 8))
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-3)
    b = rng.normal(0, 1, (4000, 8)) + np.array([2.0] + [0.0] * 7)
    assert metrics.frechet_distance(a, b) == pytest.approx(4.0, abs=0.3)  # |mean shift|^2
    few = metrics.frechet_distance(a[:20, :], b[:20, :] @ np.eye(8))  # N < D is handled by regularisation
    assert math.isfinite(few) and few > 0


def test_embedding_similarities():
    a = np.array([1.0, 0.0, 0.0])
    assert metrics.cosine_similarity(a, 3 * a) == pytest.approx(1.0)
    assert metrics.cosine_similarity(a, np.array([0.0, 2.0, 0.0])) == pytest.approx(0.0)
    assert metrics.embedding_distance(a, -a) == pytest.approx(2.0)
    assert metrics.embedding_distance(a, 5 * a) == pytest.approx(0.0)
