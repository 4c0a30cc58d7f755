"""Streaming video read/write (headshot.io.video) on real dev clips."""

from __future__ import annotations

import csv
import logging
import os
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from headshot.errors import InputError, OutputError
from headshot.io.video import (Frame, VideoReader, VideoWriter, count_frames, probe, read_frames, read_frames_at,
                               video_encoder)

# One clip of each kind: 512x512 with audio, 256x256 without, 910x512 (odd aspect) with audio,
# and the clip whose source was truncated (the re-encoded file is whole).
CLIPS = [
    "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4",
    "obama__LIA-X__driving4.mp4",  # audio outlasts the video by 0.06 s
    "eamm_contempt_woman__EAMM__contempt.mp4",
    "mead_M030__EAMM__M030_sad_3_001.mp4",
    "mead_M030__EAMM__sad.mp4",
]
LONG_CLIP = "lp_d6_woman_hairbun__LivePortrait__d6.mp4"  # 30 s, 480x480


def _manifest(dev_data: Path) -> dict[str, dict]:
    with open(dev_data / "MANIFEST.tsv", newline="") as handle:
        return {Path(row["file"]).name: row for row in csv.DictReader(handle, delimiter="\t")}


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def _stream_seconds(path: Path, kind: str) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.get(**{kind: 0})[0]
        return float(stream.duration * stream.time_base)


@pytest.mark.parametrize("name", CLIPS)
def test_reader_matches_manifest(dev_data, name):
    row = _manifest(dev_data)[name]
    width, height = (int(v) for v in row["WxH"].split("x"))
    fps, seconds = float(row["fps"]), float(row["seconds"])
    with VideoReader(dev_data / "videos" / name) as reader:
        assert reader.fps == pytest.approx(fps)
        assert reader.size == (width, height)
        assert reader.has_audio == (row["has_audio"] == "yes")
        assert reader.duration == pytest.approx(seconds, abs=0.1)
        frames = list(reader)
    assert len(frames) == reader.frame_count
    assert len(frames) / fps == pytest.approx(seconds, abs=0.1)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert frames[1].time_s == pytest.approx(1 / fps, abs=1e-3)
    assert frames[-1].time_s == pytest.approx((len(frames) - 1) / fps, abs=1e-3)
    first = frames[0]
    assert isinstance(first, Frame)
    assert first.rgb.shape == (height, width, 3) and first.rgb.dtype == np.uint8
    assert first.rgb.std() > 10


def test_probe_matches_manifest_for_every_dev_clip(dev_data):
    # The manifest's seconds are the container's duration, which includes an audio track that may run up
    # to ~0.1 s past the last video frame; frame counts are checked exactly by the decode test above.
    mismatches = []
    for name, row in _manifest(dev_data).items():
        if not name.endswith(".mp4"):
            continue
        info = probe(dev_data / "videos" / name)
        width, height = (int(v) for v in row["WxH"].split("x"))
        fps, seconds = float(row["fps"]), float(row["seconds"])
        if (info["fps"], info["size"], info["has_audio"]) != (fps, (width, height), row["has_audio"] == "yes"):
            mismatches.append(f"{name}: {info}")
        elif not -0.1 <= info["frames"] / fps - seconds <= 0.01:
            mismatches.append(f"{name}: {info['frames']} frames for {seconds} s")
    assert not mismatches, mismatches


def test_probe_and_read_frames(talking_clip):
    info = probe(talking_clip)
    assert info["fps"] == 25.0 and info["size"] == (512, 512) and info["frames"] == 200
    assert info["duration"] == pytest.approx(8.0) and info["has_audio"] is True
    assert info["codec"] == "h264" and info["audio_codec"] == "aac" and info["rotation"] == 0
    frames = list(read_frames(talking_clip, max_frames=7))
    assert len(frames) == 7 and frames[0].shape == (512, 512, 3)
    with VideoReader(talking_clip, max_frames=7) as reader:
        assert reader.frame_count == 7 and reader.duration == pytest.approx(7 / 25)
        assert all(np.array_equal(a.rgb, b) for a, b in zip(reader, frames))


def test_reader_is_single_pass(talking_clip):
    with VideoReader(talking_clip, max_frames=2) as reader:
        assert len(list(reader)) == 2
        with pytest.raises(RuntimeError):
            iter(reader)


def test_round_trip_quality_and_audio_copy(tmp_path, talking_clip):
    out = tmp_path / "copy.mp4"
    kept = {}
    with VideoReader(talking_clip, max_frames=100) as reader:
        with VideoWriter(out, reader.fps, audio_from=talking_clip) as writer:
            assert writer.has_audio
            for index, _, rgb in reader:
                writer.write(rgb)
                if index % 10 == 0:
                    kept[index] = rgb
            assert not out.exists()  # nothing at the destination until close
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.mp4"]
    info = probe(out)
    assert info["frames"] == 100 and info["fps"] == 25.0 and info["size"] == (512, 512)
    assert info["codec"] == "h264" and info["audio_codec"] == "aac"
    assert _stream_seconds(out, "audio") == pytest.approx(4.0, abs=0.1)  # trimmed to the video
    with VideoReader(out) as reader:
        scores = [_psnr(f.rgb, kept[f.index]) for f in reader if f.index in kept]
    assert len(scores) == 10 and min(scores) > 35
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"


def test_colours_survive_the_yuv_round_trip(tmp_path):
    colours = [(200, 50, 50), (30, 180, 90), (20, 40, 220), (240, 240, 240), (0, 0, 0), (255, 255, 255)]
    with VideoWriter(tmp_path / "flat.mp4", 25) as writer:
        for colour in colours:
            for _ in range(3):
                writer.write(np.full((64, 96, 3), colour, np.uint8))
    with av.open(str(tmp_path / "flat.mp4")) as container:
        assert container.streams.video[0].codec_context.colorspace == 1  # tagged BT.709
    with VideoReader(tmp_path / "flat.mp4") as reader:
        middle = {f.index // 3: f.rgb[32, 48].astype(int) for f in reader if f.index % 3 == 1}
    for index, colour in enumerate(colours):
        assert np.abs(middle[index] - colour).max() <= 3, (colour, middle[index])


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    """A stereo 16-bit PCM WAV of mono int16 ``samples`` (not AAC, so a writer must transcode it)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout="stereo")
        for start in range(0, len(samples), 4096):
            chunk = np.repeat(samples[start : start + 4096], 2)[None]
            frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _write_tone(path: Path, seconds: float, rate: int = 22050, hz: float = 440.0) -> None:
    samples = int(seconds * rate)
    _write_wav(path, (np.sin(2 * np.pi * hz * np.arange(samples) / rate) * 12000).astype(np.int16), rate)


def _audio_on_video_clock(path: Path) -> tuple[np.ndarray, int, float]:
    """First channel of the audio as float, its rate, and its start in seconds on the video's clock."""
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        video_start = float(video.start_time * video.time_base)
        chunks, start = [], None
        for frame in container.decode(audio):
            if start is None:
                start = float(frame.pts * frame.time_base) - video_start
            chunks.append(frame.to_ndarray()[0].astype(np.float64))
        return np.concatenate(chunks), audio.rate, start


def _sample_at(audio: tuple[np.ndarray, int, float], time_s: float) -> int:
    samples, rate, start = audio
    return int(round((time_s - start) * rate))


@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_copied_audio_stays_in_sync(tmp_path, talking_clip, extension):
    out = tmp_path / f"sync{extension}"
    with VideoWriter(out, 25, audio_from=talking_clip) as writer:
        for rgb in read_frames(talking_clip, max_frames=50):
            writer.write(rgb)
    source, copy = _audio_on_video_clock(talking_clip), _audio_on_video_clock(out)
    assert source[1] == copy[1] == 16000
    window = [(a[0][_sample_at(a, 0.5) : _sample_at(a, 0.5) + 16000]) for a in (source, copy)]
    assert np.corrcoef(window[0], window[1])[0, 1] > 0.999  # same samples at the same video time


def test_transcoded_audio_stays_in_sync(tmp_path):
    rate = 22050
    click = np.zeros(rate * 2, np.int16)
    click[rate // 2 : rate // 2 + 64] = 20000  # a click at 0.5 s
    _write_wav(tmp_path / "click.wav", click, rate)
    with VideoWriter(tmp_path / "click.mp4", 25, audio_from=tmp_path / "click.wav") as writer:
        for _ in range(40):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    audio = _audio_on_video_clock(tmp_path / "click.mp4")
    peak_s = audio[2] + np.argmax(np.abs(audio[0])) / audio[1]
    assert peak_s == pytest.approx(0.5, abs=0.005)


def test_audio_transcoded_to_aac_and_trimmed(tmp_path):
    _write_tone(tmp_path / "tone.wav", seconds=5.0)
    out = tmp_path / "tone.mp4"
    with VideoWriter(out, 25, audio_from=tmp_path / "tone.wav") as writer:
        for i in range(50):
            writer.write(np.full((64, 64, 3), i * 5, np.uint8))
    assert probe(out)["audio_codec"] == "aac"
    assert _stream_seconds(out, "audio") == pytest.approx(2.0, abs=0.1)
    with av.open(str(out)) as container:
        stream = container.streams.audio[0]
        audio = np.concatenate([f.to_ndarray()[0] for f in container.decode(stream)])
        rate = stream.rate
    spectrum = np.abs(np.fft.rfft(audio[rate // 2 : rate // 2 + rate]))  # 1 s from 0.5 s
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # the tone survived


def test_audio_source_without_audio_or_missing(tmp_path, dev_data):
    silent = dev_data / "videos" / "eamm_contempt_woman__EAMM__contempt.mp4"
    with VideoWriter(tmp_path / "a.mp4", 25, audio_from=silent) as writer:
        assert not writer.has_audio
        writer.write(np.zeros((32, 32, 3), np.uint8))
    assert probe(tmp_path / "a.mp4")["has_audio"] is False
    with pytest.raises(InputError, match="not found"):
        VideoWriter(tmp_path / "b.mp4", 25, audio_from=tmp_path / "nope.wav")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


@pytest.mark.parametrize("fps", [29.97, Fraction(30000, 1001), 12.5])
@pytest.mark.parametrize("extension", [".mp4", ".mkv"])
def test_fractional_fps_round_trips(tmp_path, fps, extension):
    out = tmp_path / f"clip{extension}"
    with VideoWriter(out, fps) as writer:
        for i in range(30):
            writer.write(np.full((48, 64, 3), i * 8, np.uint8))
    with VideoReader(out) as reader:
        assert reader.fps == pytest.approx(float(fps), abs=1e-4)
        assert reader.frame_count == 30  # Matroska stores no count: there it is duration x fps
        frames = list(reader)
    assert len(frames) == 30
    assert frames[-1].time_s == pytest.approx(29 / float(fps), abs=2e-3)
    assert abs(int(frames[10].rgb.mean()) - 80) <= 2


def _write_variable_rate_clip(path: Path, slot_times: list[float]) -> None:
    """Frame j (grey level 8 j) shown at slot_times[j] x 40 ms, in a millisecond time base."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for j, slot in enumerate(slot_times):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 8 * j, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(slot * 40), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def test_variable_frame_rate_is_put_on_a_constant_grid(tmp_path):
    # 30 frames over 1.2 s (25 fps on average): a gap over slots 3-5, three frames crowded into 20-21.
    slot_times = [0, 1, 2, *range(6, 21), 20.3, 20.6, 20.8, *range(21, 30)]
    _write_variable_rate_clip(tmp_path / "vfr.mp4", slot_times)
    with VideoReader(tmp_path / "vfr.mp4") as reader:
        assert reader.fps == 25.0
        frames = list(reader)
    shown = [round(f.rgb.mean() / 8) for f in frames]
    expected = [0, 1, 2, 2, 2, 2, *range(3, 18), 19, *range(22, 30)]  # slot k -> source frame j
    assert shown == expected
    assert [f.time_s for f in frames] == pytest.approx([k / 25 for k in range(30)])
    with VideoReader(tmp_path / "vfr.mp4", constant_rate=False) as reader:
        frames = list(reader)
    assert [round(f.rgb.mean() / 8) for f in frames] == list(range(30))
    assert [f.time_s for f in frames] == pytest.approx([t * 0.04 for t in slot_times], abs=1e-3)


def test_odd_size_is_padded_by_edge_replication(tmp_path, astronaut):
    image = np.ascontiguousarray(astronaut[150:213, 180:275])  # 63x95, the face
    with VideoWriter(tmp_path / "odd.mp4", 25) as writer:
        writer.write(image)
        writer.write(image)
    with VideoReader(tmp_path / "odd.mp4") as reader:
        assert reader.size == (96, 64)
        decoded = next(iter(reader)).rgb
    assert _psnr(decoded[:63, :95], image) > 35
    assert _psnr(decoded[63, :95], image[62]) > 30 and _psnr(decoded[:63, 95], image[:, 94]) > 30


def test_writer_rejects_frames_of_another_size(tmp_path):
    with pytest.raises(ValueError, match="32x32"):
        with VideoWriter(tmp_path / "a.mp4", 25, size=(32, 32)) as writer:
            writer.write(np.zeros((32, 32, 3), np.uint8))
            writer.write(np.zeros((40, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_exception_inside_with_leaves_nothing(tmp_path, talking_clip):
    out = tmp_path / "out.mp4"
    with pytest.raises(KeyError):
        with VideoWriter(out, 25, audio_from=talking_clip) as writer:
            for rgb in read_frames(talking_clip, max_frames=5):
                writer.write(rgb)
            raise KeyError("pipeline failed")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OutputError, match="no frames"):
        with VideoWriter(out, 25):
            pass
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output_fails_before_encoding(tmp_path):
    for bad in (tmp_path / "missing" / "a.mp4", tmp_path / "a.webm", Path("/proc/a.mp4")):
        with pytest.raises(OutputError):
            VideoWriter(bad, 25)


def test_rotation_metadata_is_applied(tmp_path):
    stored = np.zeros((64, 96, 3), np.uint8)
    stored[:16, :32] = 255  # a white block in the top-left corner of the stored frame
    path = tmp_path / "phone.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        stream.set_display_rotation(90)  # display = stored turned 90 degrees counter-clockwise
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    with VideoReader(path) as reader:
        assert reader.rotation == 90 and reader.size == (64, 96)
        shown = next(iter(reader)).rgb
    assert shown.shape == (96, 64, 3)
    assert _psnr(shown, np.rot90(stored, k=1)) > 30


def _damaged(tmp_path: Path, talking_clip: Path, kind: str) -> Path:
    data = talking_clip.read_bytes()
    path = tmp_path / f"{kind}.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(50_000))
    elif kind == "truncated":
        path.write_bytes(data[:20_000])
    elif kind == "image":
        from headshot.assets import astronaut
        from headshot.io.images import write_image

        write_image(tmp_path / "still.png", astronaut())
        os.replace(tmp_path / "still.png", path)
    elif kind == "audio_only":
        path = tmp_path / "tone.wav"
        _write_tone(path, seconds=1.0)
    return path


def test_frames_by_index_and_exact_count(talking_clip):
    every = list(read_frames(talking_clip, max_frames=12, constant_rate=False))
    picked = read_frames_at(talking_clip, [10, 0, 3, 3, 10_000])
    assert sorted(picked) == [0, 3, 10]  # past the end: left out
    for index, rgb in picked.items():
        assert np.array_equal(rgb, every[index])
    assert read_frames_at(talking_clip, []) == {}
    with av.open(str(talking_clip)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert count_frames(talking_clip) == decoded


@pytest.mark.parametrize("kind", ["empty", "random", "truncated", "missing", "image", "audio_only"])
def test_bad_inputs_raise_one_line_input_error(tmp_path, talking_clip, kind):
    path = _damaged(tmp_path, talking_clip, kind)
    with pytest.raises(InputError) as caught:
        VideoReader(path)
    message = str(caught.value)
    assert "\n" not in message and path.name in message
    with pytest.raises(InputError):
        probe(path)


def test_truncated_file_can_be_read_when_allowed(tmp_path, talking_clip, caplog):
    path = tmp_path / "partial.mp4"
    path.write_bytes(talking_clip.read_bytes()[:400_000])
    with caplog.at_level(logging.WARNING, logger="headshot.io.video_reader"):
        with VideoReader(path, allow_truncated=True) as reader:
            count = sum(1 for _ in reader)
    assert 0 < count < 200 and count <= reader.frame_count + 1
    assert "truncated" in caplog.text


def test_mid_stream_corruption_stops_with_warning(tmp_path, talking_clip, caplog):
    data = bytearray(talking_clip.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 5000] = np.random.default_rng(1).bytes(5000)
    path = tmp_path / "corrupt.mp4"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="headshot.io.video_reader"):
        with VideoReader(path) as reader:
            frames = [f.index for f in reader]
    assert 10 < len(frames) < 200 and frames == list(range(len(frames)))
    assert "stopped decoding" in caplog.text


def _rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_memory_stays_flat_over_a_30_s_clip(dev_data):
    with VideoReader(dev_data / "videos" / LONG_CLIP) as reader:
        assert reader.duration == pytest.approx(30.0, abs=0.1)
        for frame in reader:
            if frame.index == 25:
                baseline = _rss_mb()
    assert frame.index + 1 == 750
    assert _rss_mb() - baseline < 50


def test_encoder_is_h264(tmp_path):
    assert video_encoder() == "libx264"
