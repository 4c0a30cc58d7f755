"""Atomic outputs and output-path checks (headshot.io.atomic, headshot.io.formats)."""

from __future__ import annotations

import os
import sys

import pytest

from headshot.errors import OutputError
from headshot.io.atomic import (AtomicOutput, atomic_output, atomic_write_bytes, atomic_write_text,
                                check_output_path)
from headshot.io.formats import is_image_path, is_video_path


def test_check_output_path_accepts_writable_folder(tmp_path):
    for name, kinds in [("a.mp4", ("video",)), ("b.PNG", ("image",)), ("c.motion", ("motion",)), ("d.jpg", None)]:
        target = check_output_path(tmp_path / name, **({"kinds": kinds} if kinds else {}))
        assert target == (tmp_path / name).absolute()
    assert list(tmp_path.iterdir()) == []  # the write probe is cleaned up


@pytest.mark.parametrize(
    "name, kinds, words",
    [
        ("out.webm", ("video",), ".webm is not a supported video format"),
        ("out.png", ("video",), "not a supported video format"),
        ("out", ("image",), "no extension"),
        ("out.mp4", ("image", "motion"), "image/motion"),
    ],
)
def test_check_output_path_rejects_extension(tmp_path, name, kinds, words):
    with pytest.raises(OutputError, match=words) as caught:
        check_output_path(tmp_path / name, kinds=kinds)
    assert "\n" not in str(caught.value)


def test_check_output_path_rejects_missing_folder_and_folder_target(tmp_path):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "out.mp4")
    (tmp_path / "dir.mp4").mkdir()
    with pytest.raises(OutputError, match="is a folder"):
        check_output_path(tmp_path / "dir.mp4")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc, which refuses new files")
def test_check_output_path_rejects_unwritable_filesystem():
    with pytest.raises(OutputError, match="cannot create files in folder /proc"):
        check_output_path("/proc/out.mp4")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores folder permissions")
def test_check_output_path_rejects_read_only_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="cannot create files"):
            check_output_path(folder / "out.png")
    finally:
        folder.chmod(0o700)


def test_atomic_output_renames_on_success(tmp_path):
    target = tmp_path / "result.png"
    with atomic_output(target) as temp:
        assert temp.parent == tmp_path
        assert temp.name.startswith(".") and temp.suffix == ".png"
        temp.write_bytes(b"data")
        assert not target.exists()
    assert target.read_bytes() == b"data"
    assert [p.name for p in tmp_path.iterdir()] == ["result.png"]
    assert target.stat().st_mode & 0o777 != 0o600  # ordinary permissions, not mkstemp's


def test_atomic_output_discards_on_error_and_keeps_old_file(tmp_path):
    target = tmp_path / "result.png"
    target.write_bytes(b"old")
    for error in (RuntimeError("boom"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with atomic_output(target) as temp:
                temp.write_bytes(b"half")
                raise error
        assert target.read_bytes() == b"old"
        assert [p.name for p in tmp_path.iterdir()] == ["result.png"]


def test_atomic_output_object_commit_and_discard(tmp_path):
    output = AtomicOutput(tmp_path / "a.mp4")
    output.temp_path.write_bytes(b"x")
    assert output.commit() == tmp_path / "a.mp4"
    with pytest.raises(RuntimeError):
        output.commit()
    other = AtomicOutput(tmp_path / "b.mp4")
    other.discard()
    other.discard()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]


def test_atomic_write_bytes_and_text(tmp_path):
    target = tmp_path / "results.json"
    assert atomic_write_text(target, "{}\n") == target
    assert target.read_text() == "{}\n" and target.stat().st_mode & 0o777 != 0o600
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    key = atomic_write_bytes(tmp_path / "signer.key", b"secret", mode=0o600, fsync=True)
    assert key.stat().st_mode & 0o777 == 0o600
    nested = tmp_path / "cache" / "self" / "clip.json"
    with pytest.raises(OutputError, match="cannot"):
        atomic_write_text(nested, "x")  # folders are made only when asked
    atomic_write_text(nested, "x", make_folders=True)
    assert nested.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "results.json", "signer.key"]


def test_atomic_write_bytes_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "a.txt"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_kind_sniffing_beats_extension(tmp_path, talking_clip, astronaut):
    from headshot.io.images import write_image

    jpeg_named_mp4 = tmp_path / "photo.mp4"
    write_image(tmp_path / "photo.jpg", astronaut)
    os.replace(tmp_path / "photo.jpg", jpeg_named_mp4)
    assert is_image_path(jpeg_named_mp4) and not is_video_path(jpeg_named_mp4)
    assert is_video_path(talking_clip) and not is_image_path(talking_clip)
    # files that do not exist (or are not recognised) fall back to the extension
    assert is_video_path(tmp_path / "missing.MOV") and is_image_path(tmp_path / "missing.webp")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert not is_image_path(text) and not is_video_path(text)
