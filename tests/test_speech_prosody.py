"""Prosody features (headshot.speech.tracker, headshot.speech.prosody): synthetic signals with known answers,
then real speech from the dev clips."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.io.audio import read_audio
from headshot.speech.prosody import Prosody, analyze_prosody, energy_phones
from headshot.speech.tracker import FrameFeatures, ProsodyTracker, silence_threshold

RATE = 16000


def voice(seconds: float, f0: float, amplitude: float = 0.3) -> np.ndarray:
    """A buzzy periodic sound: the first 8 harmonics of ``f0`` with falling amplitudes."""
    t = np.arange(round(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 9))
    return (amplitude * wave / np.abs(wave).max()).astype(np.float32)


def syllables(count: int, rate_hz: float, f0: float = 140.0) -> np.ndarray:
    """``count`` voiced syllables: the voice modulated to silence ``rate_hz`` times a second."""
    seconds = count / rate_hz
    t = np.arange(round(seconds * RATE)) / RATE
    envelope = np.sin(np.pi * rate_hz * t) ** 2
    return (voice(seconds, f0) * envelope).astype(np.float32)


def test_chunking_does_not_change_the_features():
    rng = np.random.default_rng(1)
    audio = np.concatenate([voice(0.7, 180), 0.05 * rng.standard_normal(5000).astype(np.float32), voice(0.4, 95)])
    whole = ProsodyTracker(RATE)
    expected = FrameFeatures.concatenate([whole.push(audio), whole.finish()])
    for size in (1, 159, 160, 1234, 16000):
        tracker = ProsodyTracker(RATE)
        parts = [tracker.push(audio[i : i + size]) for i in range(0, len(audio), size)] + [tracker.finish()]
        got = FrameFeatures.concatenate(parts)
        assert len(got) == len(expected) == -(-len(audio) // 160)
        for a, b in zip(got, expected):
            assert np.array_equal(a, b), size


@pytest.mark.parametrize("f0", [70.0, 110.0, 220.0, 380.0])
def test_pitch_of_a_periodic_voice(f0):
    prosody = analyze_prosody(voice(1.0, f0))
    middle = prosody.pitch_hz[10:-10]
    assert (middle > 0).mean() > 0.95
    assert np.median(middle) == pytest.approx(f0, rel=0.01)


def test_noise_and_silence_are_unvoiced():
    rng = np.random.default_rng(2)
    noise = (0.2 * rng.standard_normal(RATE)).astype(np.float32)
    assert (analyze_prosody(noise).pitch_hz > 0).mean() < 0.1
    silence = analyze_prosody(np.zeros(RATE, np.float32))
    assert not silence.voiced.any() and silence.energy_db.max() == -100.0
    assert silence.pauses == [(0.0, 1.0)] and silence.nuclei == []


def test_pauses_are_silences_of_150_ms_or_more():
    audio = np.concatenate([voice(0.5, 150), np.zeros(8000, np.float32), voice(0.5, 150),
                            np.zeros(1600, np.float32), voice(0.5, 150)])  # 500 ms and 100 ms gaps
    prosody = analyze_prosody(audio)
    assert len(prosody.pauses) == 1
    start, end = prosody.pauses[0]
    assert start == pytest.approx(0.5, abs=0.03) and end == pytest.approx(1.0, abs=0.03)
    assert prosody.speech_seconds == pytest.approx(1.6, abs=0.06)


def test_one_nucleus_per_syllable():
    prosody = analyze_prosody(syllables(12, 4.0))
    assert len(prosody.nuclei) == pytest.approx(12, abs=1)
    gaps = np.diff([n.time for n in prosody.nuclei])
    assert np.median(gaps) == pytest.approx(0.25, abs=0.02)


def test_stress_marks_the_louder_syllable():
    quiet, loud = syllables(1, 4.0) * 0.4, syllables(1, 4.0)
    audio = np.concatenate([quiet, quiet, loud, quiet, quiet])
    prosody = analyze_prosody(audio)
    assert len(prosody.nuclei) == 5
    stress = [n.stress for n in prosody.nuclei]
    assert int(np.argmax(stress)) == 2 and prosody.nuclei[2].stressed
    assert sum(n.stressed for n in prosody.nuclei) == 1


def test_frames_at_a_video_rate():
    audio = np.concatenate([np.zeros(8000, np.float32), syllables(8, 4.0), np.zeros(8000, np.float32)])
    prosody = analyze_prosody(audio)
    frames = prosody.frames(25.0)
    assert len(frames) == 25 * 3
    for values in (frames.loudness, frames.energy_db, frames.voiced, frames.pitch_hz, frames.pause, frames.stress):
        assert len(values) == len(frames)
    assert frames.pause[:10].all() and frames.pause[-10:].all() and not frames.pause[20:55].any()
    assert frames.loudness.min() >= 0 and frames.loudness.max() <= 1 and frames.loudness[30:50].max() > 0.8
    assert np.median(frames.pitch_hz[frames.voiced]) == pytest.approx(140, rel=0.02)
    assert (frames.stress > 0).sum() == pytest.approx(8, abs=1)
    assert len(prosody.frames(30000 / 1001, count=10)) == 10


def test_silence_threshold_follows_the_recording():
    assert silence_threshold(np.full(100, -100.0)) == -60.0
    speech_and_pauses = np.concatenate([np.full(300, -20.0), np.full(100, -55.0)])
    threshold = silence_threshold(speech_and_pauses)
    assert -55.0 < threshold < -20.0


def test_energy_phones_cover_the_audio_with_syllables():
    audio = np.concatenate([np.zeros(8000, np.float32), syllables(6, 4.0), np.zeros(4000, np.float32)])
    prosody = analyze_prosody(audio)
    phones = energy_phones(prosody)
    assert phones[0].symbol == "_" and phones[-1].symbol == "_"
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(prosody.seconds)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))
    vowels = [p for p in phones if p.symbol in ("AA", "AH")]
    assert len(vowels) == len(prosody.nuclei) == pytest.approx(6, abs=1)


@pytest.mark.parametrize("name, low, high", [
    ("obama__LIA-X__driving4.mp4", 85, 180),  # a man's voice
    ("aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4", 160, 280),  # a woman's
])
def test_real_speech(dev_data, name, low, high):
    samples = read_audio(dev_data / "videos" / name)
    prosody = analyze_prosody(samples)
    assert low < prosody.median_pitch_hz < high
    assert 0.3 < prosody.voiced.mean() < 0.8
    syllable_rate = len(prosody.nuclei) / prosody.speech_seconds
    assert 2.0 < syllable_rate < 7.0  # conversational English: 3-6 syllables a second
    # from a file: the same as from its samples
    from_file = analyze_prosody(dev_data / "videos" / name)
    assert isinstance(from_file, Prosody) and np.array_equal(from_file.energy_db, prosody.energy_db)
