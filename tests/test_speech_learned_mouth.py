"""The learned jaw in the speech motion (``animate --audio``): phones keep the lip gestures, the model's
opening is fused with theirs; a recording's mouth leads its recognised phones; a mouth open in the photo
shuts in long pauses only."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.speech.coarticulation import mouth_curves
from headshot.speech.learned_mouth import REST_PERCENTILE, combine_mouth, fuse_jaw, learned_jaw
from headshot.speech.timeline import Phone, led

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


def test_combine_keeps_the_phone_gestures_and_fuses_the_jaw():
    mouth = mouth_curves(_phones(), FPS)
    jaw = np.linspace(0.0, 1.0, mouth.frames - 3)  # shorter: padded at rest
    combined = combine_mouth(mouth, jaw)
    np.testing.assert_array_equal(combined.close, mouth.close)
    np.testing.assert_array_equal(combined.round, mouth.round)
    np.testing.assert_array_equal(combined.tuck, mouth.tuck)
    np.testing.assert_array_equal(combined.jaw, fuse_jaw(mouth.jaw, jaw))
    assert combined.close.max() == 1.0


def test_fused_jaw_follows_both_and_rests_a_quarter_of_the_time():
    rng = np.random.default_rng(0)
    phones = mouth_curves(_phones(), FPS).jaw
    learned = np.clip(phones + rng.normal(0.0, 0.2, len(phones)), 0.0, None)  # a noisy opinion of its own
    fused = fuse_jaw(phones, learned)
    assert np.corrcoef(fused, phones)[0, 1] > 0.5 and np.corrcoef(fused, learned)[0, 1] > 0.8
    assert np.mean(fused == 0.0) == pytest.approx(REST_PERCENTILE / 100, abs=0.05)
    scale = np.clip(np.percentile(phones, 95), 0.5, 1.0)  # opens as widely as the phones' targets
    assert np.percentile(fused, 95) == pytest.approx(scale, rel=1e-6)
    # One side flat (no phones recognised, or a model that hears nothing): the other one alone, in shape.
    alone = fuse_jaw(np.zeros(len(learned)), learned)
    moving = alone > 0
    assert np.corrcoef(alone[moving], learned[moving])[0, 1] > 0.999
    assert np.corrcoef(fuse_jaw(phones, np.zeros(3))[phones > 0.3], phones[phones > 0.3])[0, 1] > 0.99
    np.testing.assert_array_equal(fuse_jaw(np.zeros(40), np.full(40, 0.7)), np.zeros(40))  # nothing moves
    assert fuse_jaw(np.zeros(0), learned).shape == (0,)


def test_led_timeline_moves_every_phone_earlier_and_stays_at_or_after_zero():
    phones = _phones()
    earlier = led(phones, 0.08)
    assert [p.symbol for p in earlier] == [p.symbol for p in phones]
    for before, after in zip(phones, earlier):
        assert after.start == pytest.approx(max(before.start - 0.08, 0.0))
        assert after.end == pytest.approx(max(before.end - 0.08, 0.0))
    assert led(phones, 0.0) == phones


def test_speech_curves_fuse_the_given_jaw_and_close_on_bilabials(analyzer, astronaut):
    from headshot.motion.retarget import mouth_openness
    from headshot.motion.rig import FaceRig
    from headshot.speech.motion import speech_curves, speech_motion

    source = analyzer.detect_one(astronaut).landmarks
    shut = FaceRig(source).posed(FaceRig(source).deform(close=1.0))  # a mouth shut at rest
    phones = _phones()
    frames = int(np.ceil(phones[-1].end * FPS))
    jaw = np.full(frames, 0.8)  # a model that holds the mouth open throughout
    curves = speech_curves(phones, shut, FPS, head=False, eyes=False, jaw=jaw)
    gain = FaceRig(shut).jaw_for_opening(0.30)
    expected = fuse_jaw(mouth_curves(phones, FPS, frames=frames).jaw, jaw) * gain
    np.testing.assert_allclose(curves.jaw[1:], expected[1:])
    gaps = mouth_openness(speech_motion(phones, shut, (512, 512), FPS, head=False, eyes=False, jaw=jaw).landmarks)
    for phone in phones:
        if phone.symbol in ("b", "m", "p"):  # the phones' closure wins over a jaw held open
            assert gaps[int(round((phone.start + phone.end) / 2 * FPS))] < 0.02, phone


def test_a_mouth_open_in_the_photo_shuts_in_long_pauses_only(analyzer, astronaut):
    from headshot.motion.retarget import mouth_openness
    from headshot.speech.motion import REST_PAUSE, speech_motion

    source = analyzer.detect_one(astronaut).landmarks  # the astronaut's mouth is open at rest
    short, long = 0.3, REST_PAUSE + 0.5
    spec = [("_", 0.2), ("ˈɑ", 0.25), ("_", short), ("ˈɑ", 0.25), ("_", long), ("ˈɑ", 0.25), ("_", 0.3)]
    phones, t = [], 0.0
    for symbol, duration in spec:
        phones.append(Phone(symbol, t, t + duration))
        t += duration
    gaps = mouth_openness(speech_motion(phones, source, (512, 512), FPS, head=False, eyes=False).landmarks)
    in_short = round((0.45 + short / 2) * FPS)
    in_long = round((0.45 + short + 0.25 + long / 2) * FPS)
    assert mouth_openness(source) > 0.1
    assert gaps[in_long] < 0.02 and gaps[in_short] > 0.08


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
    assert track.lead > 0  # the mouth leads the recognised phones
    speaking = driver.curves.close < 0.01  # away from closures (and the pauses' shut mouth)
    speaking[0] = False
    # The fused jaw: mostly the model's opening (measured 0.82 on this clip), some of the phones'.
    assert np.corrcoef(driver.curves.jaw[speaking], expected[speaking])[0, 1] > 0.7
