"""The learned jaw in the speech motion (``animate --audio``): phones keep the lip gestures, the model
gives the opening; a mouth open in the photo shuts in pauses."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.speech.coarticulation import mouth_curves
from headshot.speech.learned_mouth import combine_mouth, learned_jaw
from headshot.speech.timeline import Phone

FPS = 25.0
HELD_OUT_CLIP = "vox2_7312_man_beard__Talking-Face_PC-AVS__731200067.mp4"  # never seen by the shipped model


def _phones() -> list[Phone]:
    spec = [("_", 0.3), ("b", 0.08), ("ˈɑ", 0.2), ("m", 0.09), ("u", 0.2), ("_", 0.6), ("p", 0.08), ("ˈɑ", 0.25),
            ("_", 0.3)]
    phones, t = [], 0.0
    for symbol, duration in spec:
        phones.append(Phone(symbol, t, t + duration))
        t += duration
    return phones


def test_combine_keeps_the_phone_gestures_and_takes_the_jaw():
    mouth = mouth_curves(_phones(), FPS)
    jaw = np.linspace(0.0, 1.0, mouth.frames - 3)  # shorter: padded at rest
    combined = combine_mouth(mouth, jaw)
    np.testing.assert_array_equal(combined.close, mouth.close)
    np.testing.assert_array_equal(combined.round, mouth.round)
    np.testing.assert_array_equal(combined.tuck, mouth.tuck)
    np.testing.assert_array_equal(combined.jaw[:len(jaw)], jaw)
    assert (combined.jaw[len(jaw):] == 0).all() and combined.close.max() == 1.0


def test_speech_curves_use_the_given_jaw_and_close_on_bilabials(analyzer, astronaut):
    from headshot.motion.retarget import mouth_openness
    from headshot.motion.rig import FaceRig
    from headshot.speech.motion import speech_curves, speech_motion

    source = analyzer.detect_one(astronaut).landmarks
    shut = FaceRig(source).posed(FaceRig(source).deform(close=1.0))  # a mouth shut at rest
    phones = _phones()
    frames = int(np.ceil(phones[-1].end * FPS))
    jaw = np.full(frames, 0.8)
    curves = speech_curves(phones, shut, FPS, head=False, eyes=False, jaw=jaw)
    gain = FaceRig(shut).jaw_for_opening(0.30)
    np.testing.assert_allclose(curves.jaw[1:], 0.8 * gain)
    gaps = mouth_openness(speech_motion(phones, shut, (512, 512), FPS, head=False, eyes=False, jaw=jaw).landmarks)
    for phone in phones:
        if phone.symbol in ("b", "m", "p"):  # the phones' closure wins over a jaw held open
            assert gaps[int(round((phone.start + phone.end) / 2 * FPS))] < 0.02, phone


@pytest.mark.slow
def test_a_recording_gets_the_learned_jaw(dev_data, analyzer, astronaut):
    """``animate --audio``'s driver: the jaw follows the model's opening for the recording."""
    from headshot.drivers.speech import SpeechDriver, recording_track
    from headshot.io.audio import read_audio

    path = dev_data / "videos" / HELD_OUT_CLIP
    source = analyzer.detect_one(astronaut).landmarks
    track = recording_track(path)
    assert track.learned_jaw and track.provenance["speech"]["mouth"].startswith("audio2mouth")
    driver = SpeechDriver.from_track(track, source, (512, 512), FPS)
    expected = learned_jaw(path, FPS, driver.curves.frames)
    from_samples = learned_jaw(read_audio(path), FPS, driver.curves.frames, sample_rate=16000)
    np.testing.assert_allclose(expected, from_samples, atol=1e-4)
    assert expected.max() > 0.3
    speaking = driver.curves.close < 0.01  # away from closures (and the pauses' shut mouth)
    speaking[0] = False
    assert np.corrcoef(driver.curves.jaw[speaking], expected[speaking])[0, 1] > 0.95
