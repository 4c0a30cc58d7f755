"""Live mode: a dev clip stands in for a camera; the live loop animates, marks, measures, records and signs."""

from __future__ import annotations

import numpy as np
import pytest

from headshot.cli import main
from headshot.io.video import VideoReader
from headshot.live import LiveSession
from headshot.live.desktop import camera_frames, draw_stats, run_live
from headshot.provenance.verify import verify_file
from headshot.provenance.watermark import decode_frames

PORTRAIT = "portraits/obama__face_recognition__obama.jpg"


def clip_frames(path, count):
    with VideoReader(path, max_frames=count) as reader:
        return [frame for frame in reader]


def test_live_session_animates_marks_and_measures(astronaut, talking_clip):
    frames = clip_frames(talking_clip, 40)
    with LiveSession(astronaut) as session:
        out = [session.step(frame.rgb, frame.time_s) for frame in frames]
        stats = session.stats
    assert out[0].shape == (512, 512, 3) and out[0].dtype == np.uint8
    # the talking driver moves the portrait: frames differ from one another, mostly around the face
    changes = [np.abs(frame.astype(int) - out[0]).mean() for frame in out[1:]]
    assert max(changes) > 2.0
    assert stats.frames == 40 and stats.fps > 0 and stats.latency_ms > 0
    assert "fps" in stats.line() and "ms" in stats.line()
    assert decode_frames(out[-10:]).found  # every live frame carries the watermark


def test_live_session_without_a_face_shows_the_photo_at_rest(astronaut):
    with LiveSession(astronaut, watermark=False) as session:
        first = session.step(np.zeros((240, 320, 3), np.uint8))
        again = session.step(np.full((240, 320, 3), 90, np.uint8))
        assert not session.recalibrate()  # no face seen yet: nothing to recalibrate to
    source = session.animation.source_crop
    assert np.abs(first.astype(int) - source).mean() < 3
    assert np.array_equal(first, again)


def test_live_session_recalibrates_to_the_latest_face(astronaut, talking_clip):
    frames = clip_frames(talking_clip, 12)
    with LiveSession(astronaut, watermark=False, smoothing=0.0) as session:
        for frame in frames:
            session.step(frame.rgb, frame.time_s)
        assert session.recalibrate()
        # the latest frame is now "no motion": it gives the photo's own face back
        out = session.step(frames[-1].rgb, frames[-1].time_s + 0.04)
    assert np.abs(out.astype(int) - session.animation.source_crop).mean() < 4


def test_run_live_records_a_signed_marked_video(tmp_path, dev_data, talking_clip):
    out = tmp_path / "live.mp4"
    shown = []
    result = run_live(dev_data / PORTRAIT, talking_clip, out, window=False, max_frames=30,
                      on_frame=lambda frame, stats: shown.append(stats.frames))
    assert result.frames == 30 and shown == list(range(1, 31)) and result.output == out
    report = verify_file(out)
    assert report.marked and report.watermark.found
    assert report.manifest is not None and report.manifest.valid and report.manifest.by_headshot
    assert report.manifest.driver_sha256  # the stand-in file is hashed, as animate hashes a driver
    with VideoReader(out) as reader:
        assert reader.size == (512, 512) and abs(reader.fps - 25) < 0.01


def test_camera_frames_from_a_file_and_missing_ones(tmp_path, talking_clip):
    frames, fps, path = camera_frames(talking_clip, max_frames=3)
    assert fps == 25 and path == talking_clip and len(list(frames)) == 3
    with pytest.raises(Exception, match="not found|no such|does not exist"):
        camera_frames(tmp_path / "missing.mp4")


def test_draw_stats_leaves_the_frame_alone(astronaut):
    from headshot.live import LiveStats

    shown = draw_stats(astronaut, LiveStats(24.5, 12.0, 10))
    assert shown is not astronaut and not np.array_equal(shown, astronaut)
    assert np.array_equal(shown[-100:], astronaut[-100:])  # text only at the top


def test_cli_live_without_a_display_says_so_in_one_line(capsys, monkeypatch, dev_data, tmp_path):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code = main(["live", str(dev_data / PORTRAIT), "--camera", "0"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and len(err.splitlines()) == 1 and "--no-window --output" in err
    code = main(["live", str(dev_data / PORTRAIT), "--no-window"])
    err = capsys.readouterr().err.strip()
    assert code == 1 and "--output" in err


@pytest.mark.slow
def test_cli_live_records_from_a_stand_in_clip(capsys, tmp_path, dev_data, talking_clip):
    out = tmp_path / "rec.mp4"
    code = main(["live", str(dev_data / PORTRAIT), "--camera", str(talking_clip), "--no-window",
                 "-o", str(out), "--max-frames", "20", "--size", "256"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "20 frames" in captured.out and "fps" in captured.out
    assert verify_file(out).marked
    # a missing stand-in file: one line, nothing written
    code = main(["live", str(dev_data / PORTRAIT), "--camera", str(tmp_path / "none.mp4"), "--no-window",
                 "-o", str(tmp_path / "x.mp4")])
    assert code != 0 and len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (tmp_path / "x.mp4").exists()
