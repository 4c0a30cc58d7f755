"""`headshot say` and `headshot demo` as a user runs them: speech from text, lips in sync, with sound (issue 11)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

import headshot
from cli_run import run_cli as run
from headshot.eval.lipsync_metrics import landmark_gaps
from headshot.io.images import write_image
from headshot.motion.template import MotionTemplate
from headshot.speech.visemes import is_pause, is_vowel

TEXT = "Bob met Pam at the map."
BILABIALS = set("pbm")


@pytest.fixture()
def keys(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "keys"
    monkeypatch.setenv("HEADSHOT_KEY_DIR", str(folder))
    return folder


@pytest.fixture(scope="module")
def photo(tmp_path_factory, astronaut) -> Path:
    path = tmp_path_factory.mktemp("photo") / "astronaut.png"
    write_image(path, astronaut)
    return path


def streams(path: Path) -> dict:
    """Frames (RGB) and the durations of the video and audio streams."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        info = {"fps": float(video.average_rate),
                "audio_seconds": float(audio.duration * audio.time_base) if audio is not None else None,
                "audio_codec": audio.codec_context.name if audio is not None else None}
        info["frames"] = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    info["video_seconds"] = len(info["frames"]) / info["fps"]
    return info


def say_wavs() -> set[str]:
    return {name for name in os.listdir(tempfile.gettempdir()) if name.startswith("headshot-say-")}


def test_say_speaks_with_lips_in_sync_and_sound(tmp_path, keys, photo):
    before = say_wavs()
    out, motion = tmp_path / "bob.mp4", tmp_path / "bob.motion"
    job = headshot.say(photo, TEXT, out, crop_only=True, size=256, motion_out=motion)
    info = streams(out)
    frames = info["frames"]

    # sound: the speech, as long as the video within one frame; the temporary WAV is gone
    assert info["audio_codec"] == "aac" and len(frames) == job.frame_count
    assert abs(info["audio_seconds"] - info["video_seconds"]) <= 1 / 25
    assert say_wavs() == before

    # lips: open on vowels, shut on p/b/m (measured on the output frames with MediaPipe)
    gaps = landmark_gaps(frames)
    phones = job.driver.speech.phones

    def gap_at(phone) -> float:
        return gaps[min(len(gaps) - 1, int(round(0.5 * (phone.start + phone.end) * 25)))]

    bilabial = [gap_at(p) for p in phones if p.symbol[:1] in BILABIALS]
    vowels = [gap_at(p) for p in phones if not is_pause(p.symbol) and is_vowel(p.symbol, "ipa")]
    assert len(bilabial) >= 6 and len(vowels) >= 5
    rest = gaps[0]  # the astronaut smiles with her teeth showing: her lips are apart at rest
    # every vowel is more open than the closures around it; the long ones open wider than the smile at rest
    # (vowels squeezed between two closures, like the "e" of "met", open less)
    assert np.mean(np.asarray(vowels) > 1.5 * np.median(bilabial)) >= 0.8, (vowels, bilabial)
    assert sorted(vowels)[-2] > rest + 0.05, (vowels, rest)
    assert np.median(bilabial) < 0.5 * np.median(vowels), (bilabial, vowels)
    assert np.mean(np.asarray(bilabial) < 0.6 * rest) >= 0.7, (bilabial, rest)

    # credentials: voice, language and the text's hash; never the text
    from headshot.provenance.credentials import read_manifest

    report = read_manifest(out)
    speech = report.settings["speech"]
    assert speech["voice"] == "joe" and speech["language"] == "en"
    assert speech["text_sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert report.settings["driver_kind"] == "speech" and report.settings["fps"] == 25.0
    assert TEXT.encode() not in out.read_bytes() and b"Pam at the map" not in out.read_bytes()

    # --motion-out: the same motion, reusable as a driver
    template = MotionTemplate.load(motion)
    assert len(template.landmarks) == len(frames) and template.fps == 25.0
    assert template.metadata["speech"]["voice"] == "joe"
    assert np.ptp(template.landmarks[:, 14, 1]) > 1.0  # the lower lip moves


def test_say_cli_long_text_file_is_spoken_sentence_by_sentence(tmp_path, keys, photo, capsys):
    sentences = [f"This is sentence number {n}, spoken on its own." for n in range(1, 7)]
    text_file = tmp_path / "speech.txt"
    text_file.write_text("\n".join(sentences), encoding="utf-8")
    out = tmp_path / "long.mp4"
    code, _, err = run(capsys, "say", photo, "--text-file", text_file, "-o", out, "--voice", "espeak",
                       "--crop-only", "--size", "128", "--pose-scale", "0.5", "--no-watermark", "-q")
    assert code == 0, err
    from headshot.provenance.credentials import read_manifest

    settings = read_manifest(out).settings
    assert settings["speech"]["sentences"] == 6 and settings["speech"]["voice"] == "espeak"
    assert settings["speech"]["text_sha256"] == hashlib.sha256(text_file.read_bytes()).hexdigest()
    assert settings["pose_scale"] == 0.5 and settings["watermark"] is False
    code, out_text, _ = run(capsys, "verify", out)
    assert f"speech: voice espeak, language en, text sha256 {settings['speech']['text_sha256']}" in out_text
    assert "sentence number" not in out_text
    info = streams(out)
    assert abs(info["audio_seconds"] - info["video_seconds"]) <= 1 / 25
    assert info["video_seconds"] > 6 * 1.5  # six sentences, each well over a second


def test_demo_speaks_with_sound(tmp_path, keys, capsys, astronaut):
    out = tmp_path / "demo.mp4"
    code, _, err = run(capsys, "demo", "-o", out, "-q")
    assert code == 0, err
    info = streams(out)
    frames = info["frames"]
    assert frames[0].shape == astronaut.shape and info["audio_codec"] == "aac"
    assert 2.5 < info["video_seconds"] < 8.0
    assert abs(info["audio_seconds"] - info["video_seconds"]) <= 1 / 25
    gaps = landmark_gaps(frames[::2], fps=12.5)
    assert np.nanmax(gaps) - np.nanmin(gaps) > 0.1  # the mouth opens and shuts
    assert np.abs(frames[0].astype(int) - astronaut.astype(int)).mean() < 6


def test_list_voices_needs_no_photo(capsys):
    code, out, err = run(capsys, "say", "--list-voices")
    assert code == 0, err
    assert out.startswith("joe") and "espeak" in out and " es," in out and "espeak+" in out


@pytest.mark.parametrize("text, message", [
    ("", "empty"),
    ("   \n\t ", "empty"),
    ("?!... --- !!", "punctuation"),
])
def test_say_refuses_text_with_nothing_to_say(tmp_path, photo, capsys, text, message):
    before = say_wavs()
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "say", photo, text, "-o", out, "-q")
    assert code == 1 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and say_wavs() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_say_refuses_bad_language_file_and_output(tmp_path, photo, capsys):
    out = tmp_path / "out.mp4"
    code, _, err = run(capsys, "say", photo, "Hola.", "--lang", "xx", "-o", out, "-q")
    assert code == 1 and "unknown language 'xx'" in err and " es," in err and len(err.strip().splitlines()) == 1

    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Ol\xe1, s\xe3o Paulo!".encode("latin-1"))
    code, _, err = run(capsys, "say", photo, "--text-file", latin1, "-o", out, "-q")
    assert code == 1 and "not UTF-8" in err

    code, _, err = run(capsys, "say", photo, "--text-file", tmp_path / "missing.txt", "-o", out, "-q")
    assert code == 1 and "not found" in err

    text_file = tmp_path / "speech.mp4"  # a text file with a video's name: writing the output would destroy it
    text_file.write_text("Hello there.", encoding="utf-8")
    code, _, err = run(capsys, "say", photo, "--text-file", text_file, "-o", text_file, "-q")
    assert code == 1 and "refusing to write" in err and "input file" in err
    code, _, err = run(capsys, "say", photo, "Hi.", "-o", out, "--motion-out", tmp_path / "motion.mp4", "-q")
    assert code == 1 and "motion" in err and ".motion" in err
    assert text_file.read_text(encoding="utf-8") == "Hello there."

    code, _, err = run(capsys, "say", photo, "Hello.", "--text-file", text_file, "-o", out, "-q")
    assert code == 1 and "not both" in err
    code, _, err = run(capsys, "say", photo, "-o", out, "-q")
    assert code == 1 and "text" in err
    code, _, err = run(capsys, "say", photo, "Hello.", "-o", tmp_path / "out.png", "-q")
    assert code == 1 and "video" in err
    code, _, err = run(capsys, "say", photo, "Hello.", "--rate", "9", "-o", out, "-q")
    assert code == 1 and "rate" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latin1.txt", "speech.mp4"]


def test_say_python_api_checks_its_arguments(tmp_path, photo):
    with pytest.raises(headshot.OptionError, match="--audio"):
        headshot.say(photo, "Hello.", tmp_path / "a.mp4", audio="x.wav")
    with pytest.raises(headshot.OptionError, match="one of them"):
        headshot.say(photo, None, tmp_path / "a.mp4")
    with pytest.raises(headshot.InputError, match="empty"):
        headshot.say(photo, "", tmp_path / "a.mp4", credentials=False)
    assert list(tmp_path.iterdir()) == []


def test_say_speaks_with_a_fine_tuned_person_file(tmp_path, keys, photo, capsys):
    """A person fine-tuned with `headshot finetune` can say a text: `say --engine neural --model PERSON`."""
    person = tmp_path / "astronaut.safetensors"
    code, _, err = run(capsys, "finetune", "--shots", photo, "--steps", "3", "-o", person)
    assert code == 0, err
    videos = {}
    for name, extra in (("base", []), ("person", ["--model", person])):
        videos[name] = tmp_path / f"{name}.mp4"
        code, _, err = run(capsys, "say", photo, "Bob met Pam.", "-o", videos[name], "--engine", "neural",
                           "--crop-only", "--size", "128", "--no-watermark", "-q", *extra)
        assert code == 0, err
    base, tuned = (streams(videos[name])["frames"] for name in ("base", "person"))
    assert len(base) == len(tuned) > 10
    difference = np.mean([np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(base, tuned)])
    assert difference > 0.2  # the fine-tuned generator paints the frames, not the base model
    from headshot.provenance.credentials import read_manifest

    assert read_manifest(videos["person"]).settings["model"] == str(person)
    # the person file is for the neural engine; a missing one is a one-line error and nothing is written
    code, _, err = run(capsys, "say", photo, "Hi.", "-o", tmp_path / "warp.mp4", "--model", person, "-q")
    assert code == 1 and "--model" in err and len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "say", photo, "Hi.", "-o", tmp_path / "gone.mp4", "--engine", "neural",
                       "--model", tmp_path / "missing.safetensors", "-q")
    assert code == 1 and "missing.safetensors" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "warp.mp4").exists() and not (tmp_path / "gone.mp4").exists()
