"""Relative / absolute motion transfer, on synthetic head turns and on real clips of different people."""

from __future__ import annotations

import av
import numpy as np
import pytest

from headshot.errors import HeadshotError
from headshot.face import FaceAnalyzer
from headshot.face.topology import LEFT_EYE, LEFT_IRIS, RIGHT_EYE, RIGHT_IRIS, RIGID, region_indices
from headshot.motion.pose import decompose, rotation_angle, rotation_matrix
from headshot.motion.retarget import (RetargetOptions, Retargeter, best_reference, eye_openness, face_size,
                                      mouth_openness, region_weights)

EYES = np.concatenate([RIGHT_EYE, LEFT_EYE, RIGHT_IRIS, LEFT_IRIS])
LIPS = region_indices("lips")


def _video_landmarks(path, max_frames: int | None = None) -> np.ndarray:
    """VIDEO-mode landmarks ``(N, 478, 3)`` of a clip, NaN where no face was found."""
    out = []
    with FaceAnalyzer(video=True, max_faces=1) as analyzer, av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if max_frames is not None and index >= max_frames:
                break
            faces = analyzer.detect(frame.to_ndarray(format="rgb24"), timestamp_ms=index * 40)
            out.append(faces[0].landmarks if faces else np.full((478, 3), np.nan, np.float32))
    return np.stack(out)


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut) -> np.ndarray:
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut).landmarks


@pytest.fixture(scope="module")
def driver_landmarks(talking_clip) -> np.ndarray:
    """200 frames of AOC talking (the driver)."""
    landmarks = _video_landmarks(talking_clip)
    assert np.isfinite(landmarks).all(axis=(1, 2)).mean() > 0.95
    return landmarks


@pytest.fixture(scope="module")
def other_person_landmarks(dev_data) -> np.ndarray:
    """A different person (a man in front of a green screen): first frames, used as another source."""
    return _video_landmarks(dev_data / "videos" / "lp_d0_man_greenscreen__LivePortrait__d0.mp4", 10)


def _turned(landmarks: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    centre = landmarks[RIGID].mean(axis=0)
    return ((landmarks - centre) @ rotation_matrix(yaw, pitch, roll).T + centre).astype(np.float32)


def test_driver_equal_to_reference_returns_the_source_exactly(astronaut_landmarks, driver_landmarks):
    for mode in ("relative", "absolute"):
        retarget = Retargeter(astronaut_landmarks, RetargetOptions(mode=mode))
        retarget.set_reference(driver_landmarks[0])
        target = retarget(driver_landmarks[0])
        assert target.dtype == np.float32 and target.shape == (478, 3)
        if mode == "relative":
            np.testing.assert_array_equal(target, astronaut_landmarks)
        else:  # absolute: the driver's own face shape, placed where the source's face is
            assert np.abs(face_size(target) / face_size(astronaut_landmarks) - 1) < 0.15


def test_yaw_transfers_while_shape_stays_the_source(astronaut_landmarks, driver_landmarks):
    reference = driver_landmarks[0]
    retarget = Retargeter(astronaut_landmarks)
    retarget.set_reference(reference)
    target = retarget(_turned(reference, yaw=15.0))
    source_pose, source_canonical = decompose(astronaut_landmarks)
    target_pose, target_canonical = decompose(target)
    yaw_change = target_pose.yaw_pitch_roll()[0] - source_pose.yaw_pitch_roll()[0]
    assert abs(yaw_change - 15.0) < 1.0, yaw_change
    assert rotation_angle(target_pose.rotation @ source_pose.rotation.T) == pytest.approx(15.0, abs=1.0)
    assert np.abs(target_canonical - source_canonical).max() < 1e-3  # no driver shape leaks in
    assert target_pose.scale == pytest.approx(source_pose.scale, rel=1e-3)


def test_pose_scale_and_translation_switches(astronaut_landmarks, driver_landmarks):
    reference = driver_landmarks[0]
    moved = _turned(reference, yaw=20.0) + np.array([25.0, 10.0, 0.0], np.float32)
    source_pose, _ = decompose(astronaut_landmarks)
    half = Retargeter(astronaut_landmarks, RetargetOptions(pose_scale=0.5))
    half.set_reference(reference)
    pose = decompose(half(moved))[0]
    assert rotation_angle(pose.rotation @ source_pose.rotation.T) == pytest.approx(10.0, abs=0.5)
    still = Retargeter(astronaut_landmarks, RetargetOptions(translation=False))
    still.set_reference(reference)
    pose = decompose(still(moved))[0]
    np.testing.assert_allclose(pose.translation, source_pose.translation, atol=1e-3)
    free = Retargeter(astronaut_landmarks)
    free.set_reference(reference)
    pose = decompose(free(moved))[0]
    shift = (pose.translation - source_pose.translation)[:2]
    expected = np.array([25.0, 10.0]) * source_pose.scale / decompose(reference)[0].scale
    np.testing.assert_allclose(shift, expected, atol=1.0)


def test_lips_only_leaves_eyes_and_pose(astronaut_landmarks, driver_landmarks):
    mouths = mouth_openness(driver_landmarks)
    eyes = eye_openness(driver_landmarks)
    reference = int(np.nanargmin(mouths))
    # a frame with the mouth open and the eyes changed, and a head turn on top
    frame = int(np.nanargmax(mouths + np.abs(eyes - eyes[reference])))
    driver = _turned(driver_landmarks[frame], yaw=10.0)
    retarget = Retargeter(astronaut_landmarks, RetargetOptions(regions=["lips"]))
    retarget.set_reference(driver_landmarks[reference])
    target = retarget(driver)
    assert np.abs(target[EYES] - astronaut_landmarks[EYES]).max() < 0.05
    assert np.abs(target[RIGID] - astronaut_landmarks[RIGID]).max() < 0.05
    assert mouth_openness(target) > mouth_openness(astronaut_landmarks) + 0.1
    assert np.abs(target[LIPS] - astronaut_landmarks[LIPS]).max() > 3.0


def test_expression_scale_zero_keeps_the_expression(astronaut_landmarks, driver_landmarks):
    reference = int(np.nanargmin(mouth_openness(driver_landmarks)))
    frame = int(np.nanargmax(mouth_openness(driver_landmarks)))
    retarget = Retargeter(astronaut_landmarks, RetargetOptions(expression_scale=0.0))
    retarget.set_reference(driver_landmarks[reference])
    target = retarget(_turned(driver_landmarks[frame], pitch=10.0))
    _, source_canonical = decompose(astronaut_landmarks)
    target_pose, target_canonical = decompose(target)
    assert np.abs(target_canonical - source_canonical).max() < 1e-3
    assert rotation_angle(target_pose.rotation @ decompose(astronaut_landmarks)[0].rotation.T) > 5.0
    nothing = Retargeter(astronaut_landmarks, RetargetOptions(regions=[]))
    nothing.set_reference(driver_landmarks[reference])
    np.testing.assert_array_equal(nothing(driver_landmarks[frame]), astronaut_landmarks)


@pytest.mark.parametrize("source_name", ["astronaut", "other_person"])
def test_real_clip_transfers_mouth_and_keeps_identity(source_name, astronaut_landmarks, other_person_landmarks,
                                                      driver_landmarks):
    source = astronaut_landmarks if source_name == "astronaut" else other_person_landmarks[0]
    valid = np.isfinite(driver_landmarks).all(axis=(1, 2))
    driver = driver_landmarks[valid]
    retarget = Retargeter(source)
    retarget.set_reference(driver[best_reference(source, driver)])
    targets = np.stack([retarget(frame) for frame in driver])
    correlation = np.corrcoef(mouth_openness(targets), mouth_openness(driver))[0, 1]
    assert correlation > 0.9, correlation
    eye_correlation = np.corrcoef(eye_openness(targets), eye_openness(driver))[0, 1]
    assert eye_correlation > 0.9, eye_correlation
    ratio = face_size(targets) / face_size(source)
    assert np.abs(ratio - 1).max() < 0.05, (ratio.min(), ratio.max())


def test_absolute_mode_reproduces_same_person_motion(driver_landmarks):
    """Same person: source = driver frame 0 moved in the image; absolute output = driver moved alike."""
    source_frame, frame = driver_landmarks[0], driver_landmarks[120]
    offset = np.array([40.0, -20.0, 0.0], np.float32)
    retarget = Retargeter(source_frame * 0.8 + offset, RetargetOptions(mode="absolute"))
    retarget.set_reference(source_frame)
    target = retarget(frame)
    np.testing.assert_allclose(target, frame * 0.8 + offset, atol=0.05)


def test_best_reference_picks_a_matching_frame(astronaut_landmarks, driver_landmarks):
    frames = list(driver_landmarks[:60])
    target = 37
    frames[target] = astronaut_landmarks.copy()
    frames[5] = None  # no face
    assert best_reference(astronaut_landmarks, frames) == target
    with pytest.raises(HeadshotError):
        best_reference(astronaut_landmarks, [None, np.full((478, 3), np.nan)])


def test_options_and_helpers(astronaut_landmarks):
    with pytest.raises(HeadshotError, match="relative"):
        RetargetOptions(mode="sideways")
    with pytest.raises(HeadshotError, match="lips"):
        RetargetOptions(regions=["mouth"])
    weights = region_weights()
    total = weights["expression"] + weights["eyes"] + weights["lips"]
    non_rigid = np.setdiff1d(np.arange(478), RIGID)
    np.testing.assert_allclose(total[non_rigid], 1.0, atol=1e-9)
    assert np.all(total[RIGID] == 0.0)
    assert weights["eyes"][RIGHT_IRIS].min() == 1.0 and weights["lips"][LIPS].min() == 1.0
    assert 0.2 < eye_openness(astronaut_landmarks) < 0.5
    assert mouth_openness(astronaut_landmarks) < 0.2
    batch = np.stack([astronaut_landmarks] * 3)
    assert mouth_openness(batch).shape == (3,) and eye_openness(batch).shape == (3,)


def test_rotation_scaling_is_precise_at_small_and_large_angles():
    """``scale_rotation`` reads the angle in atan2 form: a 1e-9 rad turn is kept, not rounded to none."""
    from headshot.motion.retarget import scale_rotation

    axis = np.array([0.3, -0.5, 0.81])
    axis /= np.linalg.norm(axis)
    for degrees in (1e-7, 1e-3, 1.0, 30.0, 179.9):
        angle = np.radians(degrees)
        cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
        rotation = np.eye(3) + np.sin(angle) * cross + (1 - np.cos(angle)) * cross @ cross
        assert rotation_angle(scale_rotation(rotation, 0.5)) == pytest.approx(degrees / 2, rel=1e-6)
