"""The web app's safety checks without a browser: uploads judged by content, limits, the private folder, the bind warning."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from headshot.app.server import exposure_warning
from headshot.app.uploads import UploadError, UploadLimits, check_upload, sniff
from headshot.app.workspace import Workspace
from headshot.errors import InputError
from headshot.io.images import write_image
from headshot.io.video import VideoWriter

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def write_video(path, seconds: float, fps: int = 10, size: int = 64):
    with VideoWriter(path, fps=fps, size=(size, size)) as writer:
        for index in range(int(seconds * fps)):
            writer.write(np.full((size, size, 3), index % 255, np.uint8))
    return path


def test_sniff_reads_the_first_bytes_not_the_name():
    assert sniff(b"\xff\xd8\xff\xe0" + bytes(12)) == "image"
    assert sniff(b"\x89PNG\r\n\x1a\n" + bytes(8)) == "image"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image"
    assert sniff(b"RIFF\x00\x00\x00\x00WAVEfmt ") == "audio"
    assert sniff(b"\x00\x00\x00\x20ftypisom\x00\x00") == "video"
    assert sniff(b"\x00\x00\x00\x20ftypM4A \x00\x00") == "audio"
    assert sniff(b"\x1a\x45\xdf\xa3" + bytes(12)) == "video"
    assert sniff(b"ID3\x04" + bytes(12)) == "audio"
    assert sniff(b"PK\x03\x04" + bytes(12)) == "motion"
    assert sniff(b"<html><script>..") is None
    assert sniff(b"#!/bin/sh\nrm -rf") is None


def test_a_real_photo_and_video_pass(dev_data, talking_clip):
    photo = check_upload(dev_data / PORTRAIT, ("image",), what="photo")
    assert photo.kind == "image" and photo.seconds == 0
    video = check_upload(talking_clip, ("video", "motion", "image"), what="driver")
    assert video.kind == "video" and 7 < video.seconds < 9
    # a video with sound stands in for a recording (a phone's MP4)
    recording = check_upload(talking_clip, ("audio",), what="recording")
    assert recording.kind == "audio"


def test_wrong_content_under_a_good_name_is_refused(tmp_path, talking_clip):
    fake = tmp_path / "portrait.jpg"
    fake.write_text("<script>alert(1)</script>" * 10)
    with pytest.raises(UploadError, match="photo is not an image, video or recording .judged by its content"):
        check_upload(fake, ("image",), what="photo")
    renamed = tmp_path / "photo.png"
    renamed.write_bytes(talking_clip.read_bytes())  # a video named .png
    with pytest.raises(UploadError, match="photo is a video .*upload an image"):
        check_upload(renamed, ("image",), what="photo")


def test_damaged_files_are_refused(tmp_path, dev_data, talking_clip):
    cut = tmp_path / "cut.jpg"
    cut.write_bytes((dev_data / PORTRAIT).read_bytes()[:200])
    with pytest.raises(UploadError, match="cannot be read"):
        check_upload(cut, ("image",), what="photo")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(talking_clip.read_bytes()[:40] + bytes(5000))
    with pytest.raises(UploadError, match="cannot be decoded|has no picture"):
        check_upload(broken, ("video",), what="driver")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(UploadError, match="empty"):
        check_upload(empty, ("image",), what="photo")


def test_limits_size_duration_pixels_and_sound(tmp_path, dev_data):
    limits = UploadLimits(max_bytes=100_000, max_seconds=3, max_pixels=100 * 100)
    with pytest.raises(UploadError, match=r"over the 100 kB limit"):
        check_upload(dev_data / PORTRAIT, ("image",), limits, "photo")
    long_video = write_video(tmp_path / "long.mp4", 5)
    with pytest.raises(UploadError, match=r"5 s long, over the 3 s limit"):
        check_upload(long_video, ("video",), limits, "driver")
    assert check_upload(write_video(tmp_path / "short.mp4", 2), ("video",), limits).seconds == pytest.approx(2, abs=0.2)
    big = write_image(tmp_path / "big.png", np.zeros((200, 200, 3), np.uint8))
    with pytest.raises(UploadError, match="megapixel limit"):
        check_upload(big, ("image",), limits, "photo")
    with pytest.raises(UploadError, match="no sound track"):
        check_upload(tmp_path / "short.mp4", ("audio",), limits, "recording")


def test_a_zip_that_is_not_a_motion_template_is_refused(tmp_path):
    import zipfile

    archive = tmp_path / "talk.motion"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("evil.txt", "x")
    with pytest.raises(UploadError, match="not a headshot .motion template"):
        check_upload(archive, ("video", "motion"), what="driver")


def test_workspace_is_private_and_owns_only_its_files(tmp_path):
    workspace = Workspace(parent=tmp_path)
    assert stat.S_IMODE(os.stat(workspace.root).st_mode) == 0o700
    result = workspace.result_path("abc/../../etc", ".mp4")  # a session id cannot climb out
    assert result.parent == workspace.results / "abcetc" and result.name.startswith("headshot-")
    assert workspace.owned(result) == result
    with pytest.raises(InputError):
        workspace.owned(tmp_path / "elsewhere.png")
    with pytest.raises(InputError):
        workspace.owned(workspace.uploads / ".." / ".." / "x.png")
    with pytest.raises(ValueError):
        workspace.result_path("s", ".sh")
    workspace.end_session("abc/../../etc")
    assert not (workspace.results / "abcetc").exists()
    workspace.close()
    assert not workspace.root.exists()


def test_binding_beyond_this_machine_warns():
    assert exposure_warning("127.0.0.1") is None and exposure_warning("localhost") is None
    assert exposure_warning("::1") is None
    warning = exposure_warning("0.0.0.0")
    assert "every network interface" in warning and "--host 127.0.0.1" in warning
    assert "192.168.1.5" in exposure_warning("192.168.1.5")
