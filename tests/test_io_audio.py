"""Streaming audio decode (headshot.io.audio): dev clips, generated files of each format, bad inputs, memory."""

from __future__ import annotations

import csv
import tracemalloc
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from headshot.errors import InputError
from headshot.io.audio import AudioReader, read_audio
from headshot.io.video import VideoWriter


def audio_clips(dev_data: Path) -> list[Path]:
    with open(dev_data / "MANIFEST.tsv", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [dev_data / row["file"] for row in rows if row["has_audio"] == "yes"]


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str, layout: str = "mono") -> Path:
    """Encode float32 samples ``(channels, n)`` in [-1, 1] with PyAV, in the encoder's own sample format."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        context = stream.codec_context
        frame_size = context.frame_size or 1024
        resampler = av.AudioResampler(format=context.format.name, layout=layout, rate=rate, frame_size=frame_size)
        for start in range(0, samples.shape[1], 16 * frame_size):
            block = np.ascontiguousarray(samples[:, start : start + 16 * frame_size], np.float32)
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout=layout)
            frame.sample_rate = rate
            frame.pts, frame.time_base = start, Fraction(1, rate)
            for chunk in resampler.resample(frame):
                for packet in stream.encode(chunk):
                    container.mux(packet)
        for chunk in resampler.resample(None):
            for packet in stream.encode(chunk):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def tone(seconds: float, rate: int, frequency: float = 440.0, channels: int = 1) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.repeat((0.5 * np.sin(2 * np.pi * frequency * t))[None], channels, axis=0).astype(np.float32)


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


def test_dev_clips_decode_to_their_stated_length(dev_data):
    clips = audio_clips(dev_data)
    assert len(clips) == 35
    for path in clips:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            stated = float(stream.duration * stream.time_base)
        with AudioReader(path) as reader:
            assert reader.has_video and reader.codec == "aac" and reader.source_rate == 16000
            assert reader.duration == pytest.approx(stated, abs=1e-3)
            chunks = list(reader)
        assert all(len(c) == 16000 for c in chunks[:-1]) and 0 < len(chunks[-1]) <= 16000
        assert all(c.dtype == np.float32 and c.ndim == 1 for c in chunks)
        decoded = sum(len(c) for c in chunks) / 16000
        assert decoded == pytest.approx(stated, abs=0.05), path.name
        assert reader.samples_read == sum(len(c) for c in chunks)


def test_read_audio_equals_the_chunks_and_resamples(talking_clip):
    with AudioReader(talking_clip, chunk_seconds=0.37) as reader:
        joined = np.concatenate(list(reader))
    whole = read_audio(talking_clip)
    assert np.array_equal(joined, whole)
    assert np.abs(whole).max() <= 1.0 and whole.std() > 0.01
    at_8k = read_audio(talking_clip, sample_rate=8000)
    assert len(at_8k) == pytest.approx(len(whole) / 2, abs=8)


@pytest.mark.parametrize(
    "name, codec, rate, layout",
    [
        ("stereo.wav", "pcm_s16le", 44100, "stereo"),
        ("voice.mp3", "libmp3lame", 22050, "mono"),
        ("voice.m4a", "aac", 48000, "stereo"),
        ("voice.mp4", "aac", 16000, "mono"),  # audio-only MP4
        ("voice.mkv", "flac", 32000, "mono"),
    ],
)
def test_formats_decode_to_16k_mono(tmp_path, name, codec, rate, layout):
    channels = 2 if layout == "stereo" else 1
    path = write_audio(tmp_path / name, tone(1.5, rate, channels=channels), rate, codec, layout)
    with AudioReader(path) as reader:
        assert reader.source_rate == rate and reader.channels == channels and not reader.has_video
        assert reader.duration == pytest.approx(1.5, abs=0.06)
    samples = read_audio(path)
    assert len(samples) / 16000 == pytest.approx(1.5, abs=0.05)
    middle = samples[4000:-4000]  # away from codec edge effects
    assert dominant_frequency(middle, 16000) == pytest.approx(440, abs=3)
    assert np.sqrt(np.mean(middle**2)) == pytest.approx(0.5 / np.sqrt(2), rel=0.1)  # channels averaged


def test_silent_audio_is_zeros_not_an_error(tmp_path):
    path = write_audio(tmp_path / "silence.wav", np.zeros((1, 16000)), 16000, "pcm_s16le")
    samples = read_audio(path)
    assert len(samples) == 16000 and not samples.any()


def _no_audio_video(tmp_path: Path) -> Path:
    path = tmp_path / "silent.mp4"
    with VideoWriter(path, 25) as writer:
        for _ in range(5):
            writer.write(np.full((64, 64, 3), 128, np.uint8))
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    return path


def _corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "junk.m4a"
    path.write_bytes(bytes(range(256)) * 40)
    return path


def _zero_sample_wav(tmp_path: Path) -> Path:
    import wave

    path = tmp_path / "header_only.wav"
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16000)
    return path


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing.wav", "not found"),
        (_empty, "is empty"),
        (lambda tmp: tmp, "got a folder"),
        (_corrupt, "corrupt"),
        (_no_audio_video, "has no audio track"),
        (_zero_sample_wav, "no audio samples"),
    ],
    ids=["missing", "empty", "folder", "corrupt", "video-without-audio", "zero-samples"],
)
def test_bad_inputs_raise_one_line_input_error(tmp_path, make, message):
    path = make(tmp_path)
    with pytest.raises(InputError, match=message) as caught:
        AudioReader(path)
    assert "\n" not in str(caught.value)
    with pytest.raises(InputError, match=message):
        read_audio(path)


def test_reader_is_single_pass(talking_clip):
    with AudioReader(talking_clip) as reader:
        assert len(list(reader)) == 8
        with pytest.raises(RuntimeError):
            iter(reader)


def test_memory_stays_flat_on_a_long_file(tmp_path):
    minutes, rate = 12, 22050
    rng = np.random.default_rng(0)
    path = tmp_path / "long.wav"
    with av.open(str(path), "w") as container:  # 12 minutes of noise, written a second at a time
        stream = container.add_stream("pcm_s16le", rate=rate, layout="mono")
        for second in range(minutes * 60):
            block = (rng.standard_normal((1, rate)) * 3000).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, second * rate, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    tracemalloc.start()
    try:
        total = 0
        with AudioReader(path) as reader:
            for chunk in reader:
                total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == minutes * 60 * 16000
    all_samples = total * 4
    assert peak < 4e6, f"peak {peak / 1e6:.1f} MB while reading {all_samples / 1e6:.0f} MB of samples"
