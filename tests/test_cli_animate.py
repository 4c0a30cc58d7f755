"""`headshot animate` / `demo` / `extract-motion` as a user runs them, on real inputs, bad inputs included."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from cli_run import run_cli_err as run
from headshot.face import FaceAnalyzer
from headshot.io.images import read_image, write_image
from headshot.motion.retarget import mouth_openness

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def video_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 25) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode())
    return path


def test_demo_with_a_preset_makes_the_astronaut_talk(tmp_path, capsys, astronaut):
    out = tmp_path / "demo.mp4"  # the demo speaks by default (tests/test_cli_say.py); --motion keeps the presets
    code, err = run(capsys, "demo", "-o", out, "--motion", "talk", "--seconds", "4", "-q")
    assert code == 0, err
    frames = video_frames(out)
    assert len(frames) == 100 and frames[0].shape == astronaut.shape
    with FaceAnalyzer(video=True) as analyzer:
        openness = [mouth_openness(analyzer.detect_one(f, timestamp_ms=40 * i).landmarks)
                    for i, f in enumerate(frames)]
    # the mouth opens and closes repeatedly, and the picture stays the astronaut
    assert np.ptp(openness) > 0.05
    assert np.abs(frames[0].astype(int) - astronaut.astype(int)).mean() < 6


def test_animate_from_a_dev_clip_keeps_audio_and_fps(tmp_path, capsys, dev_data, talking_clip):
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", talking_clip, "-o", out,
                    "--max-frames", 50, "-q")
    assert code == 0, err
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == 25
        assert len(container.streams.audio) == 1
    source = read_image(dev_data / PORTRAIT)
    frames = video_frames(out)
    assert len(frames) == 50 and frames[0].shape == source.shape


def test_motion_template_round_trip_and_side_by_side(tmp_path, capsys, dev_data, talking_clip):
    template = tmp_path / "talk.motion"
    code, err = run(capsys, "extract-motion", talking_clip, "-o", template, "--max-frames", 30)
    assert code == 0 and template.stat().st_size > 0, err
    out = tmp_path / "sbs.mp4"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", template, "-o", out, "--crop-only",
                    "--size", 256, "--side-by-side", "-q")
    assert code == 0, err
    frames = video_frames(out)
    assert len(frames) == 30 and frames[0].shape == (256, 768, 3)


def test_image_driver_gives_one_image(tmp_path, capsys, dev_data):
    out = tmp_path / "out.png"
    driver = dev_data / "portraits" / "lp_d9img_woman_screaming__LivePortrait__d9.jpg"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", driver, "-o", out, "-q")
    assert code == 0, err
    result, source = read_image(out), read_image(dev_data / PORTRAIT)
    assert result.shape == source.shape
    with FaceAnalyzer() as analyzer:
        before = mouth_openness(analyzer.detect_one(source).landmarks)
        after = mouth_openness(analyzer.detect_one(result).landmarks)
    assert after > before + 0.05  # the screaming driver opens the mouth
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", driver, "-o", tmp_path / "x.mp4", "-q")
    assert code == 1 and "must be an image" in err


def test_driver_face_lost_mid_video_is_held(tmp_path, capsys, dev_data, talking_clip):
    frames = video_frames(talking_clip)[:40]
    for frame in frames[10:20]:
        frame[:] = 90  # no face for 10 frames
    driver = write_clip(tmp_path / "gap.mp4", frames)
    out = tmp_path / "out.mp4"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", driver, "-o", out, "--crop-only",
                    "--size", 256, "-q")
    assert code == 0, err
    assert len(video_frames(out)) == 40


def _one_line_error(code: int, err: str, *words: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0].lower(), lines[0]


@pytest.mark.parametrize("case", ["no_face_source", "tiny_face", "corrupt_driver", "empty_driver",
                                  "missing_source", "text_driver", "no_face_driver", "face_index"])
def test_bad_input_gives_one_line_and_no_output(tmp_path, capsys, dev_data, talking_clip, astronaut, case):
    source, driver = dev_data / PORTRAIT, talking_clip
    words: tuple[str, ...] = ()
    extra: list = []
    if case == "no_face_source":
        source = write_image(tmp_path / "wall.png", np.full((300, 300, 3), 128, np.uint8)) or tmp_path / "wall.png"
        words = ("no face",)
    elif case == "tiny_face":
        source = tmp_path / "tiny.png"
        write_image(source, cv2.resize(astronaut, (48, 48), interpolation=cv2.INTER_AREA))
        words = ("face",)
    elif case == "corrupt_driver":
        driver = tmp_path / "broken.mp4"
        driver.write_bytes(talking_clip.read_bytes()[:3000])
    elif case == "empty_driver":
        driver = tmp_path / "empty.mp4"
        driver.write_bytes(b"")
        words = ("empty",)
    elif case == "missing_source":
        source = tmp_path / "nope.jpg"
        words = ("not found",)
    elif case == "text_driver":
        driver = tmp_path / "notes.txt"
        driver.write_text("hello")
    elif case == "no_face_driver":
        driver = write_clip(tmp_path / "wall.mp4", [np.full((128, 128, 3), 90, np.uint8)] * 10)
        words = ("no face",)
    elif case == "face_index":
        extra = ["--face-index", 3]
        words = ("face",)
    out = tmp_path / "out.mp4"
    before = set(tmp_path.iterdir())
    code, err = run(capsys, "animate", source, "--driver", driver, "-o", out, "-q", *extra)
    _one_line_error(code, err, *words)
    assert set(tmp_path.iterdir()) == before  # no output, no temporary left behind


def test_unwritable_output_fails_before_work(tmp_path, capsys, dev_data, talking_clip):
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", talking_clip,
                    "-o", tmp_path / "missing_dir" / "out.mp4", "-q")
    _one_line_error(code, err)


def test_several_faces_largest_by_default(tmp_path, capsys, dev_data, astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    group = np.concatenate([astronaut, np.pad(small, ((0, 256), (0, 0), (0, 0)), mode="edge")], axis=1)
    source = tmp_path / "group.png"
    write_image(source, group)
    out = tmp_path / "out.png"
    code, err = run(capsys, "animate", source, "--driver",
                    dev_data / "portraits" / "lp_d9img_woman_screaming__LivePortrait__d9.jpg", "-o", out, "-q",
                    "--no-watermark")
    assert code == 0, err
    result = read_image(out)
    # the big astronaut changed, the small one did not
    assert np.abs(result[:, :512].astype(int) - group[:, :512].astype(int)).mean() > 0.5
    assert np.abs(result[:256, 512:].astype(int) - group[:256, 512:].astype(int)).mean() < 0.6


def test_fps_option_resamples_the_driver(tmp_path, capsys, dev_data, talking_clip):
    out = tmp_path / "half.mp4"
    code, err = run(capsys, "animate", dev_data / PORTRAIT, "--driver", talking_clip, "-o", out, "--crop-only",
                    "--size", 128, "--max-frames", 40, "--fps", 12.5, "-q")
    assert code == 0, err
    with av.open(str(out)) as container:
        assert float(container.streams.video[0].average_rate) == pytest.approx(12.5)
    assert len(video_frames(out)) == 20


def test_python_api_streams_frames(dev_data, talking_clip):
    import headshot

    frames = headshot.animate(dev_data / PORTRAIT, talking_clip, crop_only=True, size=128, max_frames=12,
                              watermark=False, regions=("lips",))
    first = next(frames)
    rest = list(frames)
    assert first.shape == (128, 128, 3) and first.dtype == np.uint8 and len(rest) == 11
    with pytest.raises(TypeError):
        headshot.animate(dev_data / PORTRAIT, talking_clip, no_such_option=1)
