"""Motion templates: save/load round trip, bad files, lost-face filling (batch and streaming)."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from headshot.errors import HeadshotError, InputError, OutputError
from headshot.face import FaceAnalyzer
from headshot.motion.presets import preset
from headshot.motion.template import FORMAT_VERSION, LostFaceFiller, MotionTemplate


@pytest.fixture(scope="module")
def template(astronaut) -> MotionTemplate:
    with FaceAnalyzer() as analyzer:
        face = analyzer.detect_one(astronaut)
    motion = preset("talk", face.landmarks, (512, 512), seconds=2.0)
    motion.blendshapes[:] = face.blendshapes  # real coefficients, not just the preset's
    motion.metadata.update(driver_sha256="0" * 64, creator="test")
    return motion


def test_save_load_round_trip(template, tmp_path):
    path = template.save(tmp_path / "talk.motion")
    assert path == tmp_path / "talk.motion" and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["talk.motion"]  # no temp file left behind
    loaded = MotionTemplate.load(path)
    np.testing.assert_array_equal(loaded.landmarks, template.landmarks)
    np.testing.assert_array_equal(loaded.blendshapes, template.blendshapes)
    np.testing.assert_array_equal(loaded.present, template.present)
    assert loaded.fps == template.fps and loaded.frame_size == (512, 512)
    assert loaded.metadata["driver_sha256"] == "0" * 64 and loaded.metadata["creator"] == "test"
    assert loaded.metadata["preset"] == "talk" and "headshot_version" in loaded.metadata
    assert loaded.landmarks.dtype == np.float32 and len(loaded) == 50 and loaded.seconds == 2.0


def test_bad_files_raise_one_line_input_errors(template, tmp_path):
    good = template.save(tmp_path / "good.motion")
    raw = good.read_bytes()
    cases = {
        "truncated.motion": raw[: len(raw) // 2],
        "garbage.motion": b"not a motion file at all" * 10,
        "empty.motion": b"",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    other = tmp_path / "other.motion"  # a valid .npz of something else
    with open(other, "wb") as handle:
        np.savez(handle, landmarks=template.landmarks)
    future = tmp_path / "future.motion"  # a newer format version
    with zipfile.ZipFile(good) as archive, zipfile.ZipFile(future, "w") as out:
        for item in archive.namelist():
            data = archive.read(item)
            if item == "header.npy":
                data = data.replace(b'"version": 1', f'"version": {FORMAT_VERSION + 1}'.encode())
            out.writestr(item, data)
    for path in [tmp_path / name for name in cases] + [other, future, tmp_path / "missing.motion"]:
        with pytest.raises(InputError) as error:
            MotionTemplate.load(path)
        message = str(error.value)
        assert "\n" not in message and path.name in message, message
    with pytest.raises(InputError, match="version"):
        MotionTemplate.load(future)


def test_unwritable_destination(template, tmp_path):
    with pytest.raises(OutputError):
        template.save(tmp_path / "no_such_folder" / "x.motion")


def test_fill_missing_interpolates_short_gaps_and_holds_long_ones(template):
    landmarks = template.landmarks.copy()
    count = len(landmarks)
    present = np.ones(count, bool)
    present[[0, 1]] = False  # lost at the start
    present[10:13] = False  # short gap: interpolated
    present[20:48] = False  # long gap (> 1 s): hold, then ease in
    landmarks[~present] = 0.0
    lost = MotionTemplate(template.fps, template.frame_size, landmarks, template.blendshapes, present)
    filled = lost.fill_missing(max_gap_seconds=1.0, ease_seconds=0.3)
    assert filled.present.all() and np.isfinite(filled.landmarks).all()
    np.testing.assert_array_equal(filled.landmarks[present], template.landmarks[present])
    np.testing.assert_array_equal(filled.landmarks[0], template.landmarks[2])
    for k, frame in enumerate(range(10, 13), start=1):
        expected = template.landmarks[9] + k / 4 * (template.landmarks[13] - template.landmarks[9])
        np.testing.assert_allclose(filled.landmarks[frame], expected, atol=1e-3)
    np.testing.assert_array_equal(filled.landmarks[30], template.landmarks[19])  # held
    step = np.abs(np.diff(filled.landmarks[19:49], axis=0)).max(axis=(1, 2))
    jump = np.abs(template.landmarks[48] - template.landmarks[19]).max()
    assert step.max() < 0.6 * jump + 1e-3  # eased, no jump
    nothing = MotionTemplate(25, (10, 10), np.zeros((3, 478, 3)), present=np.zeros(3, bool))
    with pytest.raises(HeadshotError):
        nothing.fill_missing()


def test_streaming_filler_holds_then_eases_back(template):
    filler = LostFaceFiller(ease_frames=4)
    assert filler(None) is None
    first = filler(template.landmarks[0])
    np.testing.assert_array_equal(first, template.landmarks[0])
    for _ in range(5):
        np.testing.assert_array_equal(filler(None), template.landmarks[0])
    back = template.landmarks[0] + 20.0
    outputs = [filler(back) for _ in range(6)]
    offsets = [float(np.mean(out - template.landmarks[0])) for out in outputs]
    assert all(a < b for a, b in zip(offsets[:4], offsets[1:5]))  # eases monotonically
    assert 0 < offsets[0] < 10 and offsets[-1] == pytest.approx(20.0)
