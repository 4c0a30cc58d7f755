"""Procedural presets: speech-like talk, nods in range, smile, blinks; identity kept; deterministic."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import find_peaks

from headshot.errors import HeadshotError
from headshot.face import FaceAnalyzer
from headshot.face.topology import RIGID, region_indices
from headshot.motion.pose import decompose
from headshot.motion.presets import DEFAULT_SECONDS, PRESETS, preset
from headshot.motion.retarget import RetargetOptions, Retargeter, eye_openness, mouth_openness, region_weights


@pytest.fixture(scope="module")
def source(astronaut) -> np.ndarray:
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut).landmarks


@pytest.fixture(scope="module")
def motions(source) -> dict:
    return {name: preset(name, source, (512, 512)) for name in PRESETS}


def _angles(landmarks: np.ndarray) -> np.ndarray:
    return np.array([decompose(frame)[0].yaw_pitch_roll() for frame in landmarks])


def test_frame_zero_is_the_source_and_durations(source, motions):
    for name, motion in motions.items():
        np.testing.assert_array_equal(motion.landmarks[0], source)
        assert len(motion) == round(DEFAULT_SECONDS[name] * 25) and motion.fps == 25.0
        assert motion.present.all() and motion.metadata["preset"] == name
        assert 4.0 <= motion.seconds <= 8.0
    short = preset("nod", source, (512, 512), fps=30, seconds=1.5)
    assert len(short) == 45 and short.fps == 30.0


def test_talk_looks_like_speech(motions):
    talk = motions["talk"]
    mouth = mouth_openness(talk.landmarks)
    rest = mouth[0]
    peaks, _ = find_peaks(mouth, height=rest + 0.01, prominence=0.01)
    speaking_seconds = np.count_nonzero(mouth > rest + 0.005) / talk.fps
    rate = len(peaks) / speaking_seconds
    assert len(peaks) >= 15 and 2.5 <= rate <= 6.0, (len(peaks), rate)  # syllables at 3-5 Hz
    heights = mouth[peaks] - rest
    assert heights.std() > 0.2 * heights.mean()  # varying amplitude
    # pauses: stretches of >= 0.3 s with the mouth at rest
    quiet = mouth < rest + 0.01
    runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], quiet.astype(int), [0]]))))[::2]
    assert (runs >= 0.3 * talk.fps).any()
    eyes = eye_openness(talk.landmarks)
    closed = eyes < 0.3 * eyes[0]
    blinks = np.count_nonzero(np.diff(closed.astype(int)) == 1)
    assert 1 <= blinks <= 4, blinks
    angles = _angles(talk.landmarks) - _angles(talk.landmarks[:1])
    assert 0.5 < np.abs(angles).max() < 6.0  # subtle head motion
    assert talk.blendshapes[:, 25].max() > 0.5  # jawOpen filled in


def test_nod_pitch_amplitude(motions):
    angles = _angles(motions["nod"].landmarks)
    pitch = angles[:, 1] - angles[0, 1]
    assert 8.0 <= pitch.max() <= 10.0 and -10.0 <= pitch.min() <= -8.0, (pitch.min(), pitch.max())
    assert np.abs(angles[:, 2] - angles[0, 2]).max() < 2.0


def test_smile_eases_in_and_holds(motions):
    smile = motions["smile"]
    corners = smile.landmarks[:, [61, 291], 1].mean(axis=1) - smile.landmarks[:, [0, 17], 1].mean(axis=1)
    lift = corners[0] - corners  # mouth corners rise relative to the lip centre
    assert lift[-1] > 3.0 and np.abs(lift[-25:] - lift[-1]).max() < 0.5
    assert np.all(np.diff(lift[:25]) > -0.2)  # eases in, no jumps
    width = np.linalg.norm(smile.landmarks[:, 61] - smile.landmarks[:, 291], axis=1)
    assert width[-1] > width[0] * 1.03


def test_blink_preset_blinks_periodically(motions):
    eyes = eye_openness(motions["blink"].landmarks)
    closed = eyes < 0.2 * eyes[0]
    onsets = np.flatnonzero(np.diff(closed.astype(int)) == 1)
    assert len(onsets) >= 2
    assert np.all(np.diff(onsets) >= 1.0 * 25)
    assert mouth_openness(motions["blink"].landmarks).std() < 1e-3


def test_identity_shape_is_kept(source, motions):
    _, rest = decompose(source)
    weights = region_weights()
    moving = np.unique(np.concatenate([region_indices("lips"), region_indices("eyes"), region_indices("brows")]))
    still = np.flatnonzero((weights["expression"] > 0.99) & (weights["lips"] == 0))
    still = np.setdiff1d(still, moving)
    assert len(still) > 50
    for name, motion in motions.items():
        distances = []
        for frame in motion.landmarks:
            _, canonical = decompose(frame)
            assert np.abs(canonical[RIGID] - rest[RIGID]).max() < 1e-3
            distances.append(np.abs(canonical[still] - rest[still]).max())
        assert max(distances) < 0.08, (name, max(distances))  # brows/forehead may rise a little


def test_relative_transfer_of_a_preset_to_itself(source, motions):
    talk = motions["talk"]
    retarget = Retargeter(source, RetargetOptions())
    retarget.set_reference(talk.landmarks[0])
    for frame in talk.landmarks[::17]:
        np.testing.assert_allclose(retarget(frame), frame, atol=1e-2)


def test_deterministic_and_unknown_names(source):
    first = preset("talk", source, (512, 512), seconds=3.0, seed=3)
    again = preset("talk", source, (512, 512), seconds=3.0, seed=3)
    other = preset("talk", source, (512, 512), seconds=3.0, seed=4)
    np.testing.assert_array_equal(first.landmarks, again.landmarks)
    assert not np.array_equal(first.landmarks, other.landmarks)
    with pytest.raises(HeadshotError, match="talk, nod, smile, blink"):
        preset("dance", source, (512, 512))
    with pytest.raises(HeadshotError):
        preset("talk", source, (512, 512), seconds=0)
