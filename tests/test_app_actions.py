"""The web app's actions without a browser: the CLI's library calls on checked uploads, results marked and signed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from headshot.app.actions import AnimateRequest, AppActions
from headshot.app.workspace import Workspace
from headshot.errors import HeadshotError, InputError
from headshot.io.images import write_image
from headshot.provenance.verify import verify_file

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


@pytest.fixture()
def actions(tmp_path):
    workspace = Workspace(parent=tmp_path)
    yield AppActions(workspace)
    workspace.close()


def uploaded(actions: AppActions, path, name: str):
    """A file as Gradio would hand it over: inside the workspace's upload folder."""
    target = actions.workspace.uploads / name
    shutil.copyfile(path, target)
    return target


def test_animate_two_photos_with_a_built_in_motion(actions, astronaut, dev_data):
    first = write_image(actions.workspace.uploads / "astronaut.png", astronaut)
    second = uploaded(actions, dev_data / PORTRAIT, "portrait.jpg")
    seen = []
    results = actions.animate("session1", [first, second], None, "blink",
                              AnimateRequest(crop_only=True, size=256, seconds=1),
                              progress=lambda fraction, text: seen.append(fraction))
    assert len(results) == 2 and results[0].path != results[1].path
    for result in results:
        assert result.path.parent == actions.workspace.results / "session1" and result.path.suffix == ".mp4"
        report = verify_file(result.path)
        assert report.watermark.found and report.manifest.valid and report.manifest.by_headshot
        assert "marked" in result.lines[-1]
    assert seen and seen == sorted(seen) and seen[-1] == pytest.approx(1.0)
    assert actions.verify(results[0].path)[0] is True
    assert actions.verify(second)[0] is False  # a plain photo carries no marks
    actions.end_session("session1")
    assert not results[0].path.exists()


def test_animate_refuses_what_is_not_an_upload_and_missing_inputs(actions, dev_data, tmp_path):
    outside = tmp_path / "outside.jpg"
    shutil.copyfile(dev_data / PORTRAIT, outside)
    with pytest.raises(InputError, match="not an upload"):
        actions.animate("s", [outside], None, "talk", AnimateRequest())
    with pytest.raises(HeadshotError, match="upload a portrait"):
        actions.animate("s", [], None, "talk", AnimateRequest())
    photo = uploaded(actions, dev_data / PORTRAIT, "p.jpg")
    with pytest.raises(HeadshotError, match="built-in motion"):
        actions.animate("s", [photo], None, None, AnimateRequest())
    with pytest.raises(HeadshotError, match="type something to say"):
        actions.say("s", photo, "   ", "en", None)


def test_an_image_driver_gives_an_image(actions, dev_data, astronaut):
    photo = write_image(actions.workspace.uploads / "astronaut.png", astronaut)
    driver = uploaded(actions, dev_data / PORTRAIT, "driver.jpg")
    (result,) = actions.animate("s", [photo], driver, None, AnimateRequest(crop_only=True, size=256))
    assert result.path.suffix == ".png" and verify_file(result.path).marked


@pytest.mark.slow
def test_say_a_recording_is_marked_with_its_hash(actions, dev_data, talking_clip):
    photo = uploaded(actions, dev_data / PORTRAIT, "p.jpg")
    recording = uploaded(actions, talking_clip, "voice.mp4")  # a phone's recording is often an MP4
    result = actions.say("s", photo, None, "en", None, recording=recording, crop_only=True)
    report = verify_file(result.path)
    assert report.marked and report.manifest.valid
    assert report.manifest.settings["speech"]["audio_sha256"]
    assert "the recording (8.0 s)" in result.lines[0]


def test_live_step_makes_one_session_per_tab(actions, astronaut, talking_clip):
    from headshot.io.video import VideoReader

    photo = write_image(actions.workspace.uploads / "astronaut.png", astronaut)
    assert actions.live_step("tab", None, photo) == (None, "waiting for the webcam")
    with VideoReader(talking_clip, max_frames=3) as reader:
        outs = [actions.live_step("tab", frame.rgb, photo) for frame in reader]
    assert outs[-1][0].shape == (512, 512, 3) and "fps" in outs[-1][1]
    assert len(actions._live) == 1
    assert "now 'no motion'" in actions.recalibrate("tab")
    assert "no face seen yet" in actions.recalibrate("other tab")
    actions.end_session("tab")
    assert not actions._live
    with pytest.raises(HeadshotError, match="portrait photo"):
        actions.live_step("tab", np.zeros((8, 8, 3), np.uint8), None)


def test_app_command_on_a_busy_port_says_so_in_one_line(capsys):
    import socket

    from headshot.cli import main

    pytest.importorskip("gradio", reason="the web app's extra is not installed: pip install -e '.[test]'")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["app", "--port", str(port)])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == f"headshot: error: cannot listen on 127.0.0.1:{port} (in use); try another --port"
