"""Background L1 (outside the person, full frame) and the turned-source protocol, on real dev clips."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from headshot.eval import background, data
from headshot.eval.runner import EvalOptions, run_evaluation
from headshot.io.video import read_frames_at

# A wide frame (910x512) with a lot of background beside the speaker; a small clip whose head turns past 30°.
WIDE_CLIP = "videos/lp_s32_woman_blonde__LivePortrait__s32.mp4"
TURNING_CLIP = "videos/vox2_5816__Talking-Face_PC-AVS__00010.mp4"


@pytest.fixture(scope="module")
def wide_frames(dev_data, analyzer):
    frames = read_frames_at(dev_data / WIDE_CLIP, [0])
    return {index: (frame, analyzer.detect(frame)[0].landmarks) for index, frame in frames.items()}


def test_person_region_is_a_column_from_above_the_face_to_the_bottom(wide_frames):
    frame, landmarks = wide_frames[0]
    mask = background.background_mask(frame.shape, landmarks)
    x0, x1, y0 = background.person_columns(landmarks, frame.shape)
    (left, top), (right, _) = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    assert x0 < left and x1 > right and y0 < top
    assert x1 - x0 == pytest.approx(background.PERSON_WIDTH * (right - left), abs=2)
    assert not mask[y0:, x0:x1].any() and mask[:, :x0].all() and mask[:, x1:].all() and mask[:y0].all()
    assert 0.2 < mask.mean() < 0.9


def test_background_l1_is_zero_for_identical_frames_and_ignores_the_person(wide_frames):
    frame, landmarks = wide_frames[0]
    assert background.background_l1(frame, frame, landmarks, landmarks) == 0.0
    # Only the person changes (inverted inside the column): the background is untouched.
    x0, x1, y0 = background.person_columns(landmarks, frame.shape)
    changed = frame.copy()
    changed[y0:, x0:x1] = 255 - changed[y0:, x0:x1]
    assert background.background_l1(changed, frame, landmarks, landmarks) == 0.0
    # The background shifted sideways (the person kept in place): the metric sees it, more for a larger shift.
    def shifted(pixels):
        image = np.roll(frame, pixels, axis=1)
        image[y0:, x0:x1] = frame[y0:, x0:x1]
        return background.background_l1(image, frame, landmarks, landmarks)

    assert 0.003 < shifted(2) < shifted(12)


def test_per_clip_ratio_compares_the_frames_both_rows_were_scored_on(wide_frames):
    from headshot.eval.protocols import ItemResult

    frame, landmarks = wide_frames[0]
    shifted = np.roll(frame, 6, axis=1)
    still = background.background_l1(frame, frame, landmarks, landmarks)
    moved = background.background_l1(shifted, frame, landmarks, landmarks)
    # The unmoved photo is scored on a first target equal to the source (0.0); the engine's output there left
    # no background (NaN). On the two frames both have, the engine is level with the photo, then worse.
    level = ItemResult("level", "self", frames=[0, 1, 2], rows={
        "source (unmoved)": {"per_frame": {"background_l1": [still, moved, moved]}},
        "engine": {"per_frame": {"background_l1": [math.nan, moved, moved]}}})
    worse = ItemResult("worse", "self", frames=[0, 1, 2], rows={
        "source (unmoved)": {"per_frame": {"background_l1": [still, moved, moved]}},
        "engine": {"per_frame": {"background_l1": [None, moved, 1.5 * moved]}}})
    by_clip = background.background_by_clip([level, worse], "self")
    entry = by_clip["clips"]["level"]["engine"]
    assert entry["ratio"] == pytest.approx(1.0) and entry["frames"] == 2 and not entry["flagged"]
    # Own means still differ (what the pooled table shows), but they no longer decide the flag.
    assert entry["background_l1"] > by_clip["clips"]["level"]["source (unmoved)"]["background_l1"] * 1.1
    assert by_clip["clips"]["worse"]["engine"]["ratio"] == pytest.approx(1.25)
    assert by_clip["flagged"]["engine"] == ["worse"]
    assert "1.25× ⚠" in background.background_clip_table(by_clip)


def test_paste_back_of_the_unmoved_crop_keeps_the_background(wide_frames):
    from headshot.face.paste import Paster

    frame, landmarks = wide_frames[0]
    box = data.eval_crop_box(landmarks)
    pasted = Paster(frame, box, data.EVAL_SIZE)(data.eval_crop(frame, box))
    assert background.background_l1(pasted, frame, landmarks, landmarks) < 0.003


@pytest.fixture(scope="module")
def turning_data(dev_data, tmp_path_factory):
    """A data folder holding one turning clip (linked, not copied)."""
    root = tmp_path_factory.mktemp("turning")
    (root / "videos").mkdir()
    (root / "videos" / "vox2_5816__clip.mp4").symlink_to(dev_data / TURNING_CLIP)
    return root


@pytest.mark.slow
def test_turned_protocol_picks_a_turned_source_and_writes_its_rows(turning_data, tmp_path, analyzer):
    pytest.importorskip("headshot.render.warp")
    out = tmp_path / "run"
    selection = data.SelectionSettings(turned_frames=4, max_videos=1)
    summary = run_evaluation(EvalOptions(engines=["warp"], data=turning_data, out=out, protocols=["turned"],
                                         selection=selection), progress=False)
    entry = json.loads((out / "manifest.json").read_text())["turned"][0]
    assert abs(entry["source_yaw"]) >= selection.turned_min_yaw == 20.0
    assert entry["source_frame"] not in entry["frames"] and len(entry["frames"]) == 4
    # The chosen source really is turned: measured again on the decoded frame.
    from headshot.eval.metrics import euler_angles

    source = read_frames_at(turning_data / entry["video"], [entry["source_frame"]])[entry["source_frame"]]
    assert abs(euler_angles(analyzer.detect(source)[0].pose_matrix)[0]) >= 20.0
    table = summary["tables"]["turned"]
    assert set(table) == {"source (unmoved)", "similarity warp (5 points)", "warp (driver pixels)",
                          "warp (template, no pixels)"}
    assert all(row["frames"] == 4 and math.isfinite(row["csim"]) for row in table.values())
    assert table["warp (template, no pixels)"]["akd"] < table["source (unmoved)"]["akd"]
    yaw = summary["turned_csim_by_yaw"]
    assert sum(yaw["frames"]) == 4 and set(yaw["rows"]) == set(table)
    markdown = (out / "results.md").read_text()
    assert "Turned source" in markdown and "by how far the head turned" in markdown
    assert (out / "contact_sheets" / "turned" / "vox2_5816__clip.png").is_file()
    assert (out / "cache" / "yaw" / "vox2_5816__clip.json").is_file()
    # The documents' regions render from results.json (NaN stored as null there).
    from headshot.eval.docs import load_summary, region_markdown

    stored = load_summary(out)
    assert "| warp (template, no pixels) |" in region_markdown(stored, "turned")
    assert "≥ 30°" in region_markdown(stored, "turned-yaw")


@pytest.mark.slow
def test_self_reenactment_reports_background_per_clip(dev_data, tmp_path):
    manifest = {"version": 1, "self": [{"id": "wide", "video": WIDE_CLIP, "identity": "w", "source_frame": 0,
                                        "frames": [0, 60]}]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    summary = run_evaluation(EvalOptions(engines=[], data=dev_data, out=tmp_path / "run", protocols=["self"],
                                         manifest=path, contact_sheets=False), progress=False)
    source = summary["tables"]["self"]["source (unmoved)"]
    assert 0.0 <= source["background_l1"] < 0.05
    clip = summary["background_by_clip"]["self"]["clips"]["wide"]
    assert set(clip) == {"source (unmoved)", "similarity warp (5 points)"}
    assert clip["source (unmoved)"]["flagged"] is False
    assert "bg L1" in (tmp_path / "run" / "results.md").read_text()
    from headshot.eval.docs import load_summary, region_markdown

    stored = load_summary(tmp_path / "run")
    assert "similarity warp (5 points)" in region_markdown(stored, "self-background")
    assert "| source (unmoved) |" in region_markdown(stored, "self-yaw")
    # A region another tool writes (lipsync) is left as it is, not an error.
    from headshot.eval.docs import update_text

    text = "<!-- results:lipsync:start -->\nkept\n<!-- results:lipsync:end -->\n"
    assert update_text(text, stored) == (text, [], ["lipsync"])
