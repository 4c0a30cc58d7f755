"""Issue 9: small photos and sizes, out-of-range options, crafted .motion files (a zip bomb included),
``verify`` on a folder, several faces, image outputs for video drivers, and wrong types from Python.

A user mistake gives one line on stderr, a non-zero exit, no traceback and no output file; sizes the tool
accepts work (the watermark is then partial, and says so).
"""

from __future__ import annotations

import json
import logging
import time
import tracemalloc
import zipfile
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from numpy.lib import format as npy_format

import headshot
from headshot.api import make_options
from cli_run import run_cli_err as run
from headshot.cli import main
from headshot.errors import HeadshotError, InputError, OptionError
from headshot.face import FaceAnalyzer
from headshot.io.images import read_image, write_image
from headshot.motion import template as template_module
from headshot.motion.template import MotionTemplate
from headshot.pipeline import Animation, AnimateOptions
from headshot.provenance.verify import verify_file
from headshot.provenance.watermark import Payload, Watermarker, decode_frames

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def one_line_error(code: int, err: str, *words: str) -> str:
    """Assert a failed run printed exactly one line (no traceback) containing ``words``; return it."""
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def video_shape(path: Path) -> tuple[int, tuple[int, int, int]]:
    """(frame count, shape of the first frame) of a video."""
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    return len(frames), frames[0].shape


@pytest.fixture(scope="module")
def face_crops(astronaut) -> dict[str, np.ndarray]:
    """The astronaut's face with a little around it: "square" (the face fills 3/4 of it) and "tall"
    (twice as high as wide)."""
    with FaceAnalyzer() as analyzer:
        x0, y0, x1, y1 = analyzer.detect_one(astronaut).box
    side = int(1.3 * max(x1 - x0, y1 - y0))
    cx, cy = int(x0 + x1) // 2, int(y0 + y1) // 2
    left = cx - side // 2
    return {"square": astronaut[max(0, cy - side // 2):][:side, left:left + side],
            "tall": astronaut[max(0, cy - side):][:2 * side, left:left + side]}


# -- 4: small photos and small sizes work; the watermark is partial and recorded -----------------------
@pytest.mark.parametrize("crop, photo, extra, shape", [
    ("square", (64, 64), [], (64, 64, 3)),
    ("tall", (120, 240), [], (240, 120, 3)),
    ("square", (200, 200), ["--size", 64], (64, 64, 3)),
    ("tall", (100, 200), ["--size", 96], (96, 48, 3)),
    ("tall", (100, 200), ["--size", 100, "--crop-only", "--label"], (100, 100, 3)),
])
def test_small_photos_and_sizes_animate(tmp_path, capsys, caplog, face_crops, crop, photo, extra, shape):
    source = tmp_path / "small.png"
    write_image(source, cv2.resize(face_crops[crop], photo, interpolation=cv2.INTER_AREA))
    out = tmp_path / "out.mp4"
    with caplog.at_level(logging.WARNING, logger="headshot"):
        code, err = run(capsys, "animate", source, "-m", "nod", "--seconds", 0.4, "-o", out, "-q", *extra)
    assert code == 0 and "Traceback" not in err, err
    assert video_shape(out) == (10, shape)
    assert "watermark is partial" in caplog.text
    report = verify_file(out)  # the content credentials still mark it, and record the partial watermark
    assert report.marked and report.manifest.settings["watermark_partial"] is True
    assert any("partial" in line for line in report.summary)


def test_a_face_too_small_in_a_small_photo_is_one_line(tmp_path, capsys, astronaut):
    source = tmp_path / "tiny.png"
    write_image(source, cv2.resize(astronaut, (64, 64), interpolation=cv2.INTER_AREA))  # a 13 px face
    code, err = run(capsys, "animate", source, "-m", "nod", "-o", tmp_path / "out.mp4", "-q")
    one_line_error(code, err, "too small")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.png"]


def test_watermark_marks_and_searches_frames_under_a_tile(dev_data):
    photo = read_image(dev_data / "portraits" / "alex_lacamoire__face_recognition__alex-lacamoire.jpg")
    small = cv2.resize(photo, (120, 240), interpolation=cv2.INTER_AREA)
    payload = Payload("c0ffee")
    marked = Watermarker(payload).mark(small)
    assert marked.shape == small.shape
    found = decode_frames([marked])  # under one 128 px tile: searched, and here found
    assert found.found and found.payload == payload and found.checkable
    assert not decode_frames([small]).found
    tiny = decode_frames([Watermarker(payload).mark(small[:30, :30])])
    assert not tiny.found and not tiny.checkable  # too small to search: said, not guessed


def test_verify_small_image_and_folder(tmp_path, capsys, astronaut):
    small = tmp_path / "small.png"
    write_image(small, cv2.resize(astronaut, (30, 30), interpolation=cv2.INTER_AREA))
    assert main(["verify", str(small)]) == 1  # not marked, and not an error
    assert "watermark: not checked (30x30 is under 64 px on a side)" in capsys.readouterr().out
    code, err = run(capsys, "verify", tmp_path)
    assert code == 2
    assert "is a directory" in one_line_error(code, err)


# -- 4: options out of range -------------------------------------------------------------------------
@pytest.mark.parametrize("args, words", [
    (["--pose-scale", "inf"], ("--pose-scale must be a number from 0 to 3", "inf")),
    (["--expression-scale", "nan"], ("--expression-scale must be a number from 0 to 3", "nan")),
    (["--expression-scale", "1e30"], ("--expression-scale", "1e+30")),
    (["--pose-scale", "-1"], ("--pose-scale",)),
    (["--face-index", "-1"], ("--face-index", "-1")),
    (["--size", "63"], ("--size must be a whole number from 64 to 4096",)),
    (["--seconds", "nan"], ("--seconds",)),
])
def test_out_of_range_options_are_one_line(tmp_path, capsys, dev_data, args, words):
    started = time.perf_counter()
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "-m", "nod", "-o", tmp_path / "out.mp4", "-q", *args)
    one_line_error(code, err, *words)
    assert list(tmp_path.iterdir()) == []
    assert time.perf_counter() - started < 20  # refused before any work


# -- 4: crafted .motion files ------------------------------------------------------------------------
def _npy_entry(archive: zipfile.ZipFile, name: str, dtype: str, shape: tuple, data: bytes | None = None,
               repeat: bytes | None = None, count: int = 0) -> None:
    """Write ``name.npy`` with the given header; then ``data``, or ``repeat`` written ``count`` times."""
    with archive.open(f"{name}.npy", "w", force_zip64=True) as out:
        npy_format.write_array_header_1_0(out, {"descr": dtype, "fortran_order": False, "shape": shape})
        if data is not None:
            out.write(data)
        for _ in range(count):
            out.write(repeat)


def write_motion(path: Path, frames: int, *, fps=25.0, frame_size=(512, 512), landmarks: np.ndarray | None = None,
                 declared_frames: int | None = None, stored_frames: int | None = None) -> Path:
    """A ``.motion`` file written entry by entry (never all in memory), so it may declare or hold a lot.

    ``landmarks`` (478, 3) is repeated in every frame (zeros and all frames absent if None);
    ``declared_frames``: the landmarks header's frame count if different; ``stored_frames``: how many
    landmark frames are really stored.
    """
    header = json.dumps({"format": "headshot-motion", "version": 1, "fps": fps, "frame_size": list(frame_size),
                         "metadata": {}}).encode()
    face = np.zeros((478, 3), np.float32) if landmarks is None else np.asarray(landmarks, np.float32)
    present = landmarks is not None
    stored = frames if stored_frames is None else stored_frames
    block = 100  # frames written per call
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        _npy_entry(archive, "header", "|u1", (len(header),), header)
        with archive.open("landmarks.npy", "w", force_zip64=True) as out:
            npy_format.write_array_header_1_0(out, {"descr": "<f4", "fortran_order": False,
                                                    "shape": (declared_frames or frames, 478, 3)})
            chunk = np.tile(face, (block, 1, 1)).tobytes()
            for start in range(0, stored, block):
                out.write(chunk[: (min(block, stored - start)) * face.nbytes])
        _npy_entry(archive, "blendshapes", "<f4", (frames, 52), repeat=bytes(52 * 4 * block), count=frames // block)
        _npy_entry(archive, "present", "|b1", (frames,), repeat=bytes([present]) * block, count=frames // block)
    return path


@pytest.fixture(scope="module")
def face_landmarks(astronaut) -> np.ndarray:
    with FaceAnalyzer() as analyzer:
        return analyzer.detect_one(astronaut).landmarks


def test_crafted_motion_files_are_refused_before_reading(tmp_path, monkeypatch):
    cases = {
        "fast.motion": (dict(fps=1e9), "frame rate"),
        "slow.motion": (dict(fps=1e-9), "frame rate"),
        "text_fps.motion": (dict(fps="25"), "frame rate"),
        "size.motion": (dict(frame_size=(-5, 10**9)), "frame size"),
        "claims.motion": (dict(declared_frames=10**9, stored_frames=100), "declares 1000000000 frames"),
        "short.motion": (dict(declared_frames=300, stored_frames=100), "disagree"),
        "counts.motion": (dict(declared_frames=200, stored_frames=200), "frame counts differ"),
    }
    for name, (kwargs, words) in cases.items():
        path = write_motion(tmp_path / name, 100, **kwargs)
        with pytest.raises(InputError) as error:
            MotionTemplate.load(path)
        message = str(error.value)
        assert "\n" not in message and name in message and words in message, message
    # a well-formed file longer than the limit: refused from its headers, nothing decompressed
    monkeypatch.setattr(template_module, "MAX_FRAMES", 1000)
    with pytest.raises(InputError, match="more than 1000"):
        MotionTemplate.load(write_motion(tmp_path / "long.motion", 2000))


def test_zip_bomb_reads_only_the_frames_it_uses(tmp_path, capsys, face_landmarks, astronaut):
    frames = 20_000  # 115 MB of landmarks in a file of about 0.3 MB
    bomb = write_motion(tmp_path / "bomb.motion", frames, landmarks=face_landmarks)
    assert bomb.stat().st_size < 2_000_000
    tracemalloc.start()
    try:
        head = MotionTemplate.load(bomb, max_frames=10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(head) == 10 and head.present.all()
    np.testing.assert_array_equal(head.landmarks[9], face_landmarks)
    assert peak < 4_000_000, peak  # not the 115 MB the file expands to
    source = tmp_path / "astronaut.png"
    write_image(source, astronaut)
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", source, "--driver", bomb, "--max-frames", 10, "--crop-only", "--size", 128,
                    "-o", out, "-q")
    assert code == 0, err
    assert video_shape(out) == (10, (128, 128, 3))


@pytest.mark.parametrize("fps", [1e9, 1e-9])
def test_motion_with_absurd_fps_via_cli(tmp_path, capsys, dev_data, face_landmarks, fps):
    driver = write_motion(tmp_path / "odd.motion", 100, fps=fps, landmarks=face_landmarks)
    before = set(tmp_path.iterdir())
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", driver, "-o", tmp_path / "out.mp4", "-q")
    one_line_error(code, err, "odd.motion", "frame rate")
    assert set(tmp_path.iterdir()) == before


# -- 5: several faces, image outputs, Python API -----------------------------------------------------
def test_several_faces_are_named_and_negative_index_refused(tmp_path, caplog, face_crops):
    face = face_crops["square"]  # MediaPipe's detector finds faces that fill a good part of the photo
    small = cv2.resize(face, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    group = np.concatenate([face, np.pad(small, ((0, len(face) - len(small)), (0, 0), (0, 0)), mode="edge")], axis=1)
    options = AnimateOptions(motion="nod", seconds=0.4, watermark=False)
    with caplog.at_level(logging.WARNING, logger="headshot"):
        largest = Animation(group, None, options)
    assert "2 faces found, animating the largest (--face-index 1 for the next)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="headshot"):
        second = Animation(group, None, make_options(options, face_index=1))
    assert "--face-index 1 (0 is the largest)" in caplog.text
    assert second.source_face.size < 0.7 * largest.source_face.size
    with pytest.raises(OptionError, match="--face-index"):
        Animation(group, None, make_options(options, face_index=-1))


@pytest.mark.parametrize("driver_args", [["--motion", "nod"], ["--driver", "VIDEO"]])
def test_image_output_needs_a_one_frame_driver(tmp_path, capsys, dev_data, talking_clip, driver_args):
    driver_args = [talking_clip if arg == "VIDEO" else arg for arg in driver_args]
    out = tmp_path / "out.png"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, *driver_args, "-o", out, "-q")
    one_line_error(code, err, "out.png", "many frames", "--max-frames 1")
    assert list(tmp_path.iterdir()) == []
    if driver_args[0] == "--motion":  # one frame asked for: an image it is
        code, err = run(capsys, "animate", dev_data / PORTRAIT, *driver_args, "--max-frames", 1, "-o", out, "-q")
        assert code == 0, err
        assert read_image(out).shape == read_image(dev_data / PORTRAIT).shape


def test_python_api_wrong_types_give_the_cli_messages(tmp_path, capsys, dev_data):
    source = dev_data / PORTRAIT
    code, err = run(capsys, "animate", source, "-m", "nod", "--size", 63, "-o", tmp_path / "o.mp4", "-q")
    cli_line = one_line_error(code, err)
    with pytest.raises(HeadshotError) as error:
        headshot.animate(source, None, motion="nod", size=63)
    assert cli_line == f"headshot: error: {error.value}"
    for overrides, words in [
        (dict(size="big"), "--size must be a whole number from 64 to 4096 (got 'big')"),
        (dict(pose_scale=float("inf")), "--pose-scale"),
        (dict(regions=3), "--regions"),
        (dict(regions="lips,mouth"), "--regions"),
        (dict(watermark="no"), "watermark must be True or False"),
        (dict(engine=7), "--engine"),
        (dict(no_such_option=1), "unknown animate option"),
    ]:
        with pytest.raises(OptionError) as error:
            headshot.animate(source, None, motion="nod", **overrides)
        assert words in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(TypeError):  # OptionError is a TypeError too, for callers that catch that
        headshot.animate(source, None, no_such_option=1)
    with pytest.raises(OptionError, match="options must be an AnimateOptions"):
        headshot.animate(source, None, {"size": 256})
    with pytest.raises(OptionError, match="source must be a photo path"):
        headshot.animate(123, None, motion="nod")
    with pytest.raises(OptionError, match="output must be a file path"):
        headshot.animate_to_file(source, None, 123, motion="nod")
    with pytest.raises(OptionError, match="driver must be a file path"):
        headshot.animate(source, 123)
    assert list(tmp_path.iterdir()) == []
    # regions: a comma string or a sequence, never split into letters
    assert make_options(regions="lips").regions == ("lips",)
    assert make_options(regions="lips, eyes").regions == ("lips", "eyes")
    assert make_options(regions=["pose"]).regions == ("pose",)
    assert make_options(size=256.0).size == 256


def test_package_exports_the_api():
    names = set(dir(headshot))
    assert {"animate", "animate_to_file", "extract_motion", "make_options", "AnimateOptions",
            "HeadshotError", "OptionError", "__version__"} <= names
    assert headshot.animate_to_file is headshot.api.animate_to_file
    assert headshot.extract_motion is headshot.api.extract_motion
    with pytest.raises(AttributeError):
        headshot.no_such_name
