"""`headshot animate --audio`: a voice recording moves the face (alone) or the mouth (with --driver) (issue 11)."""

from __future__ import annotations

import hashlib
import wave
from pathlib import Path

import av
import numpy as np
import pytest

import headshot
from cli_run import run_cli_err as run
from headshot.eval.lipsync_metrics import landmark_gaps, pearson
from headshot.face.landmarker import FaceAnalyzer
from headshot.io.audio import read_audio
from headshot.io.images import write_image
from headshot.motion.pose import decompose

GRID = "videos/grid_spk_lrwp9a__LipNet__lrwp9a.mp4"  # 3 s, "lay red with p nine again", 25 fps, with audio
SILENT_VIDEO = "videos/aoc__EDTalk__pose_source1.mp4"  # MANIFEST: has_audio no
DRIVER = "videos/obama__LIA-X__driving4.mp4"


@pytest.fixture(autouse=True)
def keys(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "keys"
    monkeypatch.setenv("HEADSHOT_KEY_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    write_image(path, astronaut)
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def write_audio_mp4(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """An mp4 with one AAC audio track and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def streams(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
        return {"frames": frames, "video_seconds": len(frames) / float(video.average_rate),
                "audio_seconds": float(audio.duration * audio.time_base) if audio is not None else None}


def head_angles(frames: list[np.ndarray]) -> np.ndarray:
    """(yaw, pitch, roll) in degrees of each frame's face."""
    with FaceAnalyzer(video=True) as analyzer:
        return np.array([decompose(analyzer.detect_one(f, timestamp_ms=40 * i).landmarks)[0].yaw_pitch_roll()
                         for i, f in enumerate(frames)])


def test_audio_drives_the_face_in_sync_with_the_real_speaker(tmp_path, dev_data, photo, capsys):
    clip = dev_data / GRID
    out = tmp_path / "grid.mp4"
    code, err = run(capsys, "animate", photo, "--audio", clip, "-o", out, "--crop-only", "--size", "256", "-q")
    assert code == 0, err
    info = streams(out)
    assert info["audio_seconds"] is not None and abs(info["audio_seconds"] - info["video_seconds"]) <= 1 / 25
    assert abs(info["video_seconds"] - 3.0) <= 1 / 25

    with av.open(str(clip)) as container:
        real = landmark_gaps([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    output = landmark_gaps(info["frames"])
    count = min(len(real), len(output))
    assert pearson(output[:count], real[:count]) > 0.3

    from headshot.provenance.credentials import read_manifest

    report = read_manifest(out)
    assert report.settings["speech"]["audio_sha256"] == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert report.driver_sha256 == report.settings["speech"]["audio_sha256"]
    assert "audio" not in report.settings and "transcript" not in report.settings


def test_transcript_aligns_and_is_recorded_as_a_hash(tmp_path, dev_data, photo):
    transcript = "lay red with p nine again"
    out = tmp_path / "aligned.mp4"
    job = headshot.animate_to_file(photo, None, out, audio=dev_data / GRID, transcript=transcript,
                                   crop_only=True, size=128, watermark=False)
    speech = job.settings()["speech"]
    assert speech["recognition"] == "align"
    assert speech["transcript_sha256"] == hashlib.sha256(transcript.encode()).hexdigest()
    assert transcript.encode() not in out.read_bytes()


def test_driver_brings_the_head_and_the_recording_the_mouth(tmp_path, dev_data, photo):
    speech = write_wav(tmp_path / "speech.wav", read_audio(dev_data / GRID))
    common = dict(crop_only=True, size=256, max_frames=50, credentials=False, watermark=False)
    plain = streams(headshot.animate_to_file(photo, dev_data / DRIVER, tmp_path / "plain.mp4", **common)
                    and tmp_path / "plain.mp4")
    spoken = streams(headshot.animate_to_file(photo, dev_data / DRIVER, tmp_path / "spoken.mp4", audio=speech,
                                              **common) and tmp_path / "spoken.mp4")
    assert len(plain["frames"]) == len(spoken["frames"]) == 50
    # --max-frames 50 cuts the 3 s recording at 2 s, to the AAC packet (1024 samples)
    assert abs(spoken["audio_seconds"] - spoken["video_seconds"]) <= 1024 / 16000

    # the head turns as with the driver alone; the mouth is another one
    angles_plain, angles_spoken = head_angles(plain["frames"]), head_angles(spoken["frames"])
    assert np.ptp(angles_plain[:, :2], axis=0).max() > 2.0  # the driver does move its head
    assert np.abs(angles_plain - angles_spoken).mean() < 1.0
    for axis in range(3):
        assert pearson(angles_plain[:, axis], angles_spoken[:, axis]) > 0.8
    gaps_plain, gaps_spoken = landmark_gaps(plain["frames"]), landmark_gaps(spoken["frames"])
    assert np.abs(gaps_plain - gaps_spoken).mean() > 0.03


def test_silent_audio_gives_a_closed_mouth_and_audio_only_mp4_works(tmp_path, photo, capsys):
    silent = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32))
    out = tmp_path / "silent.mp4"
    code, err = run(capsys, "animate", photo, "--audio", silent, "-o", out, "--crop-only", "--size", "128", "-q")
    assert code == 0, err
    info = streams(out)
    assert abs(info["video_seconds"] - 2.0) <= 1 / 25
    gaps = landmark_gaps(info["frames"])
    # The astronaut's mouth is open in the photo (frame 0): in silence it closes within 0.2 s and stays shut.
    assert gaps[0] > 0.1 and np.nanmax(gaps[5:]) < 0.03 and np.nanmax(gaps[5:]) - np.nanmin(gaps[5:]) < 0.02

    rng = np.random.default_rng(0)
    t = np.arange(16000 * 2) / 16000
    syllables = (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) * np.sin(2 * np.pi * 180 * t)  # 4 "syllables" a second
    tone = write_audio_mp4(tmp_path / "voice.mp4", 0.3 * syllables + 0.003 * rng.standard_normal(len(t)))
    out = tmp_path / "from_mp4.mp4"
    code, err = run(capsys, "animate", photo, "--audio", tone, "-o", out, "--crop-only", "--size", "128", "-q")
    assert code == 0, err
    info = streams(out)
    assert abs(info["video_seconds"] - 2.0) <= 2 / 25 and abs(info["audio_seconds"] - info["video_seconds"]) <= 1 / 25


def test_bad_audio_is_one_line_and_leaves_nothing(tmp_path, dev_data, photo, capsys):
    out = tmp_path / "out.mp4"
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt " + bytes(range(256)) * 8)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    cases = [
        ((corrupt,), "corrupt"),
        ((empty,), "empty"),
        ((tmp_path / "missing.wav",), "not found"),
        ((dev_data / SILENT_VIDEO,), "no audio track"),
        ((dev_data / GRID, "--motion", "talk"), "not both"),
        ((corrupt, "--transcript", "   "), None),  # the audio error comes first or the transcript's; one line
    ]
    for args, message in cases:
        code, err = run(capsys, "animate", photo, "--audio", *args, "-o", out, "-q")
        assert code == 1 and len(err.strip().splitlines()) == 1, (args, err)
        assert message is None or message in err, (args, err)
        assert not out.exists()
    code, err = run(capsys, "animate", photo, "--transcript", "hello there", "--motion", "talk", "-o", out, "-q")
    assert code == 1 and "--transcript goes with --audio" in err

    recording = write_wav(tmp_path / "speech.mp4", np.zeros(1600, np.float32))  # a WAV named like the output
    code, err = run(capsys, "animate", photo, "--audio", recording, "-o", recording, "-q")
    assert code == 1 and "refusing to write" in err
    assert recording.stat().st_size == 44 + 2 * 1600
    code, err = run(capsys, "animate", photo, "--audio", dev_data / GRID, "-o", tmp_path / "out.png", "-q")
    assert code == 1 and "video" in err
    code, err = run(capsys, "animate", photo, "--driver", photo, "--audio", dev_data / GRID, "-o", out, "-q")
    assert code == 1 and "moving driver" in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "keys") == ["corrupt.wav", "empty.wav",
                                                                              "speech.mp4"]


def test_speech_driver_keeps_curves_not_landmarks(astronaut):
    """An hour of speech must not be materialised as landmarks: the driver holds per-frame rig curves and
    makes each frame's landmarks as it is played."""
    from headshot.drivers import SpeechDriver, SpeechTrack
    from headshot.speech.timeline import PAUSE, Phone, Speech

    with FaceAnalyzer() as analyzer:
        landmarks = analyzer.detect_one(astronaut).landmarks
    pattern = ["_", "b", "a", "m", "i", "p", "o", "_"]
    phones = [Phone(symbol if symbol != "_" else PAUSE, 0.1 * i, 0.1 * (i + 1)) for i in range(600 * 10)
              for symbol in [pattern[i % len(pattern)]]]  # 10 minutes
    track = SpeechTrack(Speech(np.zeros(0, np.float32), 16000, phones, "ipa"), Path("speech.wav"))
    driver = SpeechDriver.from_track(track, landmarks, (512, 512), 25.0)
    assert driver.frame_count == 600 * 25 and driver.starts_at_rest and not driver.measured
    held = sum(np.asarray(v).nbytes for v in vars(driver.curves).values() if isinstance(v, np.ndarray))
    assert held < 200 * driver.frame_count  # vs 5736 bytes a frame as landmarks
    frames = iter(driver)
    first = next(frames)
    assert np.allclose(first.landmarks, landmarks, atol=1e-3) and first.image is None  # frame 0 is at rest
    assert next(frames).landmarks.shape == (478, 3)


def test_a_recording_longer_than_the_driver_plays_its_motion_back_and_forth(analyzer, astronaut):
    """``--driver short.mp4 --audio long.wav``: the output lasts as long as the recording; past the driver's
    end its motion plays backwards, then forwards (no jump back to its first pose)."""
    from headshot.drivers import SpeechMouthDriver, TemplateDriver
    from headshot.motion.presets import preset
    from headshot.speech.coarticulation import mouth_curves
    from headshot.speech.motion import SpeechMouth
    from headshot.speech.timeline import Phone

    source = analyzer.detect_one(astronaut).landmarks
    inner = TemplateDriver(preset("nod", source, (512, 512), 25.0, seconds=1.0, seed=0), kind="preset")
    n = inner.frame_count
    mouth = SpeechMouth(source, mouth_curves([Phone("ˈɑ", 0.2, 3.0)], 25.0, frames=3 * n))
    driver = SpeechMouthDriver(inner, mouth, Path("speech.wav"))
    frames = list(driver)
    assert driver.frame_count == len(frames) == 3 * n
    assert [f.index for f in frames] == list(range(3 * n))
    played = np.stack([f.landmarks for f in frames])
    np.testing.assert_array_equal(played[n], played[n - 2])  # back from the end ...
    np.testing.assert_array_equal(played[2 * n - 2], played[0])  # ... to the start, then forwards
    steps = np.abs(np.diff(played, axis=0)).max(axis=(1, 2))
    assert steps.max() <= np.abs(np.diff(played[:n], axis=0)).max(axis=(1, 2)).max() + 1e-6  # no jump
    assert len(list(SpeechMouthDriver(inner, mouth, Path("speech.wav"), max_frames=n + 3))) == n + 3
