"""Issue 9's loose ends, as a new user meets them on the command line.

Every failure is one line on stderr (``headshot: error: ...``), a non-zero exit, no traceback and no file:
command lines typer cannot parse exit 2 with a ``(see headshot COMMAND --help)`` hint; a driver that loses
the face mid-video keeps the last motion; ``extract-motion`` refuses frame rates a template cannot hold;
a full disk names the user's file, not the hidden temporary one; ``--label`` fits small frames; the head
mask (GrabCut) is the same on every call.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import headshot
from cli_run import run_cli_err as run
from headshot.cli import main
from headshot.errors import InputError, OptionError, OutputError
from headshot.face import FaceAnalyzer
from headshot.face.crop import crop, crop_box
from headshot.io.images import write_image
from headshot.io.video import VideoReader, VideoWriter, read_frames
from headshot.motion.template import MotionTemplate
from headshot.provenance import label as label_module
from headshot.render.silhouette import head_mask

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def one_line_error(code: int, err: str, *words: str) -> str:
    """Assert a failed run printed exactly one ``headshot: error:`` line (no traceback) with ``words``."""
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("headshot: error: "), lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module", autouse=True)
def private_keys(tmp_path_factory):
    """Signing keys in a temporary folder (never the user's ~/.config/headshot)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HEADSHOT_KEY_DIR", str(tmp_path_factory.mktemp("keys")))
        yield


@pytest.fixture()
def photo(tmp_path, astronaut) -> Path:
    path = tmp_path / "in" / "astronaut.png"
    path.parent.mkdir()
    write_image(path, astronaut)
    return path


# -- command lines typer cannot parse: one line, exit 2, a pointer to --help ----------------------------
@pytest.mark.parametrize("args, command, words", [
    (["animate"], "animate", ["Missing argument", "source"]),
    (["animate", "PHOTO", "-m", "nod", "--fps", "abc"], "animate", ["--fps"]),
    (["animate", "PHOTO", "--no-such-option"], "animate", ["No such option", "--no-such-option"]),
    (["say", "PHOTO", "hello", "extra"], "say", ["unexpected extra argument"]),  # animate takes several photos
    (["demo", "--seconds", "long"], "demo", ["--seconds"]),
    (["extract-motion", "PHOTO"], "extract-motion", ["Missing option", "--output"]),
    (["verify"], "verify", ["Missing argument"]),
    (["eval", "--max-frames", "0"], "eval", ["--max-frames"]),  # typer's own range check (min=1)
    (["prepare"], "prepare", ["Missing argument"]),
    (["train"], "train", ["Missing option", "--config"]),
    (["finetune"], "finetune", ["Missing option", "--shots"]),
    (["say", "PHOTO", "hello", "--rate", "fast"], "say", ["--rate"]),
    (["no-such-command"], "", ["No such command"]),
])
def test_usage_errors_are_one_line_exit_2(tmp_path, capsys, photo, args, command, words):
    args = [photo if arg == "PHOTO" else arg for arg in args]
    code, err = run(capsys, *args, "-o", tmp_path / "out.mp4") if args[0] in ("animate", "demo", "say") else \
        run(capsys, *args)
    line = one_line_error(code, err, *words)
    assert code == 2
    assert line.endswith(f"(see headshot{' ' + command if command else ''} --help)"), line
    assert "Usage:" not in err and "─" not in err  # not typer's boxed usage screen
    assert not (tmp_path / "out.mp4").exists()


def test_checked_values_read_like_the_python_api(tmp_path, capsys, photo):
    """Ranges of animate's numbers are checked by validation.py (exit 1), so the CLI and the API agree."""
    code, err = run(capsys, "animate", photo, "-m", "nod", "--smoothing", 2, "-o", tmp_path / "out.mp4", "-q")
    line = one_line_error(code, err, "--smoothing must be a number from 0 to 1 (got 2.0)")
    assert code == 1
    with pytest.raises(OptionError) as error:
        headshot.animate(photo, None, motion="nod", smoothing=2.0)
    assert line == f"headshot: error: {error.value}"


def test_help_and_exit_codes_are_returned(capsys):
    assert main(["--help"]) == 0
    assert "animate" in capsys.readouterr().out
    assert main(["animate", "--help"]) == 0
    capsys.readouterr()
    assert main([]) == 2  # plain `headshot`: the help, and "not a command"
    captured = capsys.readouterr()
    assert "animate" in captured.out + captured.err and "Traceback" not in captured.err


def test_ctrl_c_is_one_line_and_130(tmp_path, capsys, photo, monkeypatch):
    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(headshot.api, "animate_to_file", interrupted)
    code, err = run(capsys, "animate", photo, "-m", "nod", "-o", tmp_path / "out.mp4", "-q")
    assert code == 130 and err.strip() == "headshot: interrupted"


def test_one_line_on_the_real_stderr(tmp_path, photo):
    """As a subprocess: nothing else (MediaPipe, TensorFlow Lite, FFmpeg logs) reaches the terminal."""
    broken = tmp_path / "in" / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    blank = tmp_path / "in" / "blank.png"
    write_image(blank, np.full((300, 300, 3), 128, np.uint8))
    env = dict(os.environ, HEADSHOT_KEY_DIR=str(tmp_path / "keys"))
    for args, words in [
        ([broken, "-m", "nod"], "broken.jpg"),
        ([blank, "-m", "nod"], "no face found in the source photo blank.png"),
        ([photo, "-m", "nod", "--smoothing", "-1"], "--smoothing"),
        ([photo, "-m", "nod", "--size", "big"], "--size"),
    ]:
        done = subprocess.run([sys.executable, "-m", "headshot", "animate", *map(str, args), "-q",
                               "-o", str(tmp_path / "out.mp4")], capture_output=True, text=True, env=env,
                              timeout=300)
        one_line_error(done.returncode, done.stderr, words)
    assert sorted(os.listdir(tmp_path / "in")) == ["astronaut.png", "blank.png", "broken.jpg"]
    assert not (tmp_path / "out.mp4").exists()


# -- outputs that cannot be written ---------------------------------------------------------------------
def test_output_under_a_file_or_onto_a_folder(tmp_path, capsys, photo):
    (tmp_path / "notes.txt").write_text("keep me")
    code, err = run(capsys, "animate", photo, "-m", "nod", "-o", tmp_path / "notes.txt" / "out.mp4", "-q")
    one_line_error(code, err, "notes.txt is a file, not a folder")
    code, err = run(capsys, "animate", photo, "-m", "nod", "-o", tmp_path / "in", "-q")
    one_line_error(code, err, "it is a folder")
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert sorted(os.listdir(tmp_path)) == ["in", "notes.txt"]
    assert os.listdir(tmp_path / "in") == ["astronaut.png"]


def test_a_full_disk_names_the_output_and_keeps_the_earlier_file(tmp_path, capsys, photo, monkeypatch):
    output = tmp_path / "out.mp4"
    output.write_bytes(b"earlier result")

    def disk_full(self, frame):
        raise OutputError(f"cannot write {self.path}: No space left on device")

    monkeypatch.setattr(VideoWriter, "write", disk_full)
    code, err = run(capsys, "animate", photo, "-m", "nod", "--seconds", 0.4, "-o", output, "-q")
    line = one_line_error(code, err, f"cannot write {output}: No space left on device")
    assert "/." not in line  # not the hidden temporary file's name
    assert sorted(os.listdir(tmp_path)) == ["in", "out.mp4"] and output.read_bytes() == b"earlier result"


# -- a driver that loses the face mid-video ------------------------------------------------------------
@pytest.fixture(scope="module")
def face_lost_clip(tmp_path_factory, talking_clip) -> Path:
    """40 frames of a dev clip with frames 15-24 blacked out (the face is lost, then comes back)."""
    path = tmp_path_factory.mktemp("lost") / "lost.mp4"
    with VideoReader(talking_clip, max_frames=40) as reader, VideoWriter(path, fps=reader.fps, size=reader.size) as writer:
        for frame in reader:
            writer.write(np.zeros_like(frame.rgb) if 15 <= frame.index < 25 else frame.rgb)
    return path


def test_face_lost_mid_video_holds_the_last_motion(tmp_path, capsys, photo, face_lost_clip):
    output = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", photo, "-d", face_lost_clip, "--crop-only", "--size", 128, "-o", output, "-q")
    assert code == 0 and "Traceback" not in err, err
    frames = [frame.astype(np.int16) for frame in read_frames(output)]
    assert len(frames) == 40
    held = frames[15]
    for index in range(16, 25):  # the face stays where it was (H.264 noise aside), never a broken face
        assert np.abs(frames[index] - held).mean() < 1.0, index
    assert np.abs(frames[30] - held).mean() > 1.0  # and moves again once the face is back


def test_extract_motion_marks_the_lost_frames(tmp_path, capsys, face_lost_clip):
    output = tmp_path / "lost.motion"
    code, err = run(capsys, "extract-motion", face_lost_clip, "-o", output)
    assert code == 0, err
    present = MotionTemplate.load(output).present
    assert present.shape == (40,) and not present[15:25].any() and present[:15].all() and present[25:].all()


# -- extract_motion: wrong types and frame rates a template cannot hold ---------------------------------
def test_extract_motion_wrong_types_are_one_line(tmp_path, talking_clip):
    for kwargs, words in [
        (dict(driver=123, output=tmp_path / "m.motion"), "driver must be a file path (got int)"),
        (dict(driver=talking_clip, output=None), "output must be a file path (got NoneType)"),
        (dict(driver=talking_clip, output=tmp_path / "m.motion", max_frames="10"), "--max-frames"),
        (dict(driver=talking_clip, output=tmp_path / "m.motion", max_frames=0), "--max-frames"),
        (dict(driver=talking_clip, output=tmp_path / "m.motion", progress="yes"), "progress must be a function"),
    ]:
        with pytest.raises(OptionError) as error:
            headshot.extract_motion(**kwargs)
        assert words in str(error.value) and "\n" not in str(error.value)
    assert os.listdir(tmp_path) == []


def test_extract_motion_refuses_a_video_under_1_fps(tmp_path, capsys, talking_clip):
    slow = tmp_path / "slow.mp4"
    with VideoReader(talking_clip, max_frames=3) as reader, VideoWriter(slow, fps=0.5, size=reader.size) as writer:
        for frame in reader:
            writer.write(frame.rgb)
    with pytest.raises(InputError, match=r"slow.mp4 runs at 0.5 fps; a motion template holds 1 to 1000 fps"):
        headshot.extract_motion(slow, tmp_path / "m.motion")
    code, err = run(capsys, "extract-motion", slow, "-o", tmp_path / "m.motion")
    one_line_error(code, err, "0.5 fps")
    assert os.listdir(tmp_path) == ["slow.mp4"]


# -- --label on small frames ----------------------------------------------------------------------------
@pytest.mark.parametrize("height, width", [(64, 64), (96, 48), (240, 120), (30, 30)])
def test_label_fits_small_frames(height, width):
    frame = np.full((height, width, 3), 128, np.uint8)
    changed = np.argwhere(np.any(label_module.burn_label(frame) != frame, axis=2))
    assert len(changed) > 20  # a label is there
    assert changed[:, 0].min() >= height // 3 and changed[:, 1].min() >= 2  # low in the frame
    assert changed[:, 0].max() <= height - 4 and changed[:, 1].max() <= width - 4  # a margin to the edges


def test_label_on_a_frame_too_small_warns_once(caplog):
    frame = np.full((16, 64, 3), 128, np.uint8)
    label_module._stamp.cache_clear()
    with caplog.at_level(logging.WARNING, logger="headshot"):
        for _ in range(3):
            assert np.array_equal(label_module.burn_label(frame), frame)
    warnings = [record for record in caplog.records if "too small for the 'AI-generated' label" in record.message]
    assert len(warnings) == 1


def test_label_on_a_64px_crop_via_cli(tmp_path, capsys, photo):
    output = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", photo, "-m", "nod", "--seconds", 0.2, "--crop-only", "--size", 64,
                    "--label", "--no-watermark", "-o", output, "-q")
    assert code == 0, err
    unlabelled = tmp_path / "plain.mp4"
    code, err = run(capsys, "animate", photo, "-m", "nod", "--seconds", 0.2, "--crop-only", "--size", 64,
                    "--no-watermark", "-o", unlabelled, "-q")
    assert code == 0, err
    labelled, plain = next(iter(read_frames(output))), next(iter(read_frames(unlabelled)))
    difference = np.abs(labelled.astype(np.int16) - plain).max(axis=2)
    assert difference[44:, 8:].mean() > 10 and difference[:32].mean() < 2  # the bottom-right corner only


# -- the head mask is the same on every call ------------------------------------------------------------
def test_head_mask_is_deterministic(astronaut):
    with FaceAnalyzer() as analyzer:
        landmarks = analyzer.detect_one(astronaut).landmarks
    box = crop_box(landmarks, 1.8, 0.1)
    image, points = crop(astronaut, box, 256), box.to_crop(landmarks, 256)
    first = head_mask(image, points)
    cv2.setRNGSeed(12345)  # whatever OpenCV's random generator did in between
    cv2.randu(np.zeros((64, 64), np.uint8), 0, 255)
    second = head_mask(image, points)
    assert np.array_equal(first, second)
    assert 0.2 < first.mean() < 0.8
