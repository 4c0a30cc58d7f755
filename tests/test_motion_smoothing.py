"""One-Euro landmark smoothing: jitter removal, no lag on fast mouth motion, behaviour on a real clip."""

from __future__ import annotations

import av
import numpy as np
import pytest

from headshot.face import FaceAnalyzer
from headshot.face.smoothing import OneEuroFilter, smoothing_params
from headshot.face.topology import LOWER_LIP_INNER, OUTER_LIPS, INNER_LIPS
from headshot.motion.retarget import mouth_openness

FPS = 25.0


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut) -> np.ndarray:
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut).landmarks


@pytest.fixture(scope="module")
def clip_landmarks(talking_clip) -> np.ndarray:
    """Raw VIDEO-mode landmarks of the 8 s talking clip (frames without a face dropped)."""
    out = []
    with FaceAnalyzer(video=True, max_faces=1) as analyzer, av.open(str(talking_clip)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            faces = analyzer.detect(frame.to_ndarray(format="rgb24"), timestamp_ms=index * 40)
            if faces:
                out.append(faces[0].landmarks)
    return np.stack(out)


def _run(filter_: OneEuroFilter, sequence: np.ndarray) -> np.ndarray:
    return np.stack([filter_.filter(frame, index / FPS) for index, frame in enumerate(sequence)])


def test_static_jitter_is_reduced_more_than_three_times(astronaut_landmarks):
    rng = np.random.default_rng(1)
    truth = astronaut_landmarks.astype(np.float64)
    noisy = truth[None] + rng.normal(0.0, 1.0, (200, 478, 3))
    smoothed = _run(OneEuroFilter(**smoothing_params(0.5)), noisy)
    raw_std = (noisy[50:] - truth).std()
    smooth_std = (smoothed[50:] - truth).std()
    assert raw_std / smooth_std >= 3.0, (raw_std, smooth_std)


def test_lower_lip_step_is_followed_within_two_frames(astronaut_landmarks):
    lower_lip = np.unique(np.concatenate([OUTER_LIPS[11:20], INNER_LIPS[11:20]]))
    rest = astronaut_landmarks.astype(np.float64)
    opened = rest.copy()
    opened[lower_lip, 1] += 15.0  # a 15 px jaw drop in one frame
    sequence = np.stack([rest] * 10 + [opened] * 5)
    smoothed = _run(OneEuroFilter(), sequence)
    reached = (smoothed[11, LOWER_LIP_INNER, 1] - rest[LOWER_LIP_INNER, 1]) / 15.0
    assert reached >= 0.8, reached
    # points that did not move stay put
    assert np.abs(smoothed[14, 1] - rest[1]).max() < 0.5


def test_steady_head_motion_has_little_lag(astronaut_landmarks):
    start = astronaut_landmarks.astype(np.float64)
    sequence = np.stack([start + [2.0 * i, 0.0, 0.0] for i in range(50)])  # 50 px/s pan
    smoothed = _run(OneEuroFilter(), sequence)
    assert np.abs(smoothed[-1] - sequence[-1])[:, 0].max() < 1.5


def test_real_clip_high_frequency_energy_drops_and_mouth_follows(clip_landmarks):
    raw = clip_landmarks.astype(np.float64)
    smoothed = _run(OneEuroFilter(**smoothing_params(0.5)), raw)

    def high_frequency_energy(sequence):
        second_difference = sequence[2:] - 2 * sequence[1:-1] + sequence[:-2]
        return float(np.mean(second_difference[..., :2] ** 2))

    ratio = high_frequency_energy(smoothed) / high_frequency_energy(raw)
    correlation = np.corrcoef(mouth_openness(raw), mouth_openness(smoothed))[0, 1]
    assert ratio < 0.95, ratio
    assert correlation > 0.95, correlation
    stronger = _run(OneEuroFilter(**smoothing_params(1.0)), raw)
    assert high_frequency_energy(stronger) < high_frequency_energy(smoothed)


def test_params_reset_and_shapes(astronaut_landmarks):
    assert smoothing_params(0.0) is None
    with pytest.raises(ValueError):
        smoothing_params(1.5)
    with pytest.raises(ValueError):
        smoothing_params(float("nan"))
    cutoffs = [smoothing_params(amount)["min_cutoff"] for amount in (1.0, 0.5, 0.1)]
    assert cutoffs[0] < cutoffs[1] < cutoffs[2]
    filter_ = OneEuroFilter()
    first = filter_(astronaut_landmarks, 0.0)
    assert first.dtype == np.float32 and first.shape == (478, 3)
    np.testing.assert_array_equal(first, astronaut_landmarks)
    moved = filter_(astronaut_landmarks + 3.0, 0.04)
    assert 0 < float(np.mean(moved - astronaut_landmarks)) < 3.0
    filter_.reset()
    np.testing.assert_array_equal(filter_(astronaut_landmarks + 3.0, 0.08), astronaut_landmarks + 3.0)
