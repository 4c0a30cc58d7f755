"""Head pose vs expression: decompose/compose round trip, known rotations recovered, frontal reference."""

from __future__ import annotations


import numpy as np
import pytest

from headshot.face import FaceAnalyzer
from headshot.face.topology import RIGID
from headshot.motion.pose import (HeadPose, canonical_face_model, compose, decompose, frontal_reference,
                                  rotation_angle, rotation_matrix)


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut) -> np.ndarray:
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut).landmarks


def _rotate(landmarks: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    centre = landmarks[RIGID].mean(axis=0)
    return ((landmarks - centre) @ rotation.T + centre).astype(np.float32)


def test_round_trip_is_exact(astronaut_landmarks):
    pose, canonical = decompose(astronaut_landmarks)
    assert canonical.shape == (478, 3)
    back = compose(pose, canonical)
    assert back.dtype == np.float32
    assert np.abs(back - astronaut_landmarks).max() < 1e-3
    # canonical: centred, unit scale on the rigid points
    assert np.abs(canonical[RIGID].mean(axis=0)).max() < 1e-9
    assert abs(np.sqrt((canonical[RIGID] ** 2).sum(axis=1).mean()) - 1.0) < 0.05
    # the astronaut faces the camera: small angles
    assert all(abs(angle) < 15 for angle in pose.yaw_pitch_roll())


@pytest.mark.parametrize("yaw, pitch, roll", [(20, 0, 0), (0, -15, 0), (0, 0, 25), (-30, 10, -5),
                                              (12, 18, 8)])
def test_known_rotation_is_recovered(astronaut_landmarks, yaw, pitch, roll):
    rest_pose, rest_canonical = decompose(astronaut_landmarks)
    turn = rotation_matrix(yaw, pitch, roll)
    pose, canonical = decompose(_rotate(astronaut_landmarks, turn))
    # recovered relative rotation equals the applied one within 1 degree
    assert rotation_angle(pose.rotation @ rest_pose.rotation.T @ turn.T) < 1.0
    # from a frontalised start, the Euler angles come back within 1 degree
    frontal = compose(HeadPose(np.eye(3), rest_pose.scale, rest_pose.translation), rest_canonical)
    angles = decompose(_rotate(frontal, turn))[0].yaw_pitch_roll()
    np.testing.assert_allclose(angles, (yaw, pitch, roll), atol=1.0)
    # the canonical (pose-free) face is unchanged by a rigid head turn
    assert np.abs(canonical - rest_canonical).max() < 1e-3


def test_angle_signs(astronaut_landmarks):
    pose, canonical = decompose(astronaut_landmarks)
    frontal = compose(HeadPose(np.eye(3), pose.scale, pose.translation), canonical)
    nose_tip = 1
    turned = _rotate(frontal, rotation_matrix(yaw=20))
    assert turned[nose_tip, 0] < frontal[nose_tip, 0]  # yaw > 0: nose to the image left
    down = _rotate(frontal, rotation_matrix(pitch=20))
    assert down[nose_tip, 1] > frontal[nose_tip, 1]  # pitch > 0: looking down
    tilted = _rotate(frontal, rotation_matrix(roll=20))
    right_eye, left_eye = 33, 263  # image left, image right
    assert tilted[left_eye, 1] > tilted[right_eye, 1]  # roll > 0: clockwise, image-right eye lower


def test_scale_and_translation(astronaut_landmarks):
    pose, canonical = decompose(astronaut_landmarks)
    moved = astronaut_landmarks * 1.5 + np.array([30.0, -12.0, 4.0], np.float32)
    pose_moved, canonical_moved = decompose(moved)
    assert pose_moved.scale == pytest.approx(1.5 * pose.scale, rel=1e-6)
    assert np.abs(canonical_moved - canonical).max() < 1e-4


def test_reference_is_symmetric_and_frontal():
    model = canonical_face_model()
    assert model.shape == (468, 3)
    mirrored = model * np.array([-1.0, 1.0, 1.0])
    # every vertex has a mirror twin: the model is exactly left/right symmetric
    distances = np.linalg.norm(model[:, None] - mirrored[None], axis=-1).min(axis=1)
    assert distances.max() < 1e-4
    reference = frontal_reference()
    assert np.abs(reference.mean(axis=0)).max() < 1e-12
    assert np.sqrt((reference ** 2).sum(axis=1).mean()) == pytest.approx(1.0)
    # landmark axes: nose tip towards the camera (negative z), chin below the eyes (larger y)
    assert model[1, 2] < model[33, 2] and model[152, 1] > model[33, 1]
    landmarks = np.concatenate([model * 20 + 250, np.full((10, 3), 250.0)])  # irises unused by the pose
    pose, _ = decompose(landmarks)
    assert rotation_angle(pose.rotation) < 1e-6


def test_bad_shape_raises():
    with pytest.raises(ValueError):
        decompose(np.zeros((68, 2)))


def test_rotation_angle_is_accurate_near_zero_and_180():
    # acos((trace - 1) / 2) turns a last-bit error of the trace into ~1e-6 degrees near the identity
    assert rotation_angle(np.eye(3)) == 0.0
    for angle in (1e-7, 1e-4, 0.5, 30.0, 90.0, 179.0, 180.0):
        assert rotation_angle(rotation_matrix(yaw=angle)) == pytest.approx(angle, rel=1e-9)
        assert rotation_angle(rotation_matrix(12, -7, 3).T @ rotation_matrix(roll=angle) @ rotation_matrix(12, -7, 3)) \
            == pytest.approx(angle, rel=1e-6, abs=1e-9)
    rounding = np.eye(3) + np.array([[0, 2e-16, 0], [-2e-16, 0, 0], [0, 0, 2e-16]])  # identity, last bits off
    assert rotation_angle(rounding) < 1e-12
