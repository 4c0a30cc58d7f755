"""The person layer and the background plate (render/layers.py) on turned and tilted dev sources."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from headshot.render.layers import person_mask, push_pull_fill, row_fill, turn_offset
from headshot.render.mesh import face_up

# The most turned frame (yaw about -38°) of a clip shot by the sea: sky, sea and a green hedge beside the
# head, a white T-shirt below it.
SEA = ("vox2_5816__Talking-Face_PC-AVS__00010.mp4", 84)


def _eval_source(dev_data, analyzer, clip, frame):
    from headshot.eval.data import eval_crop, eval_crop_box
    from headshot.io.video import read_frames_at

    image = read_frames_at(dev_data / "videos" / clip, [frame])[frame]
    source = eval_crop(image, eval_crop_box(analyzer.detect_one(image).landmarks))
    return source, analyzer.detect_one(source).landmarks


@pytest.fixture(scope="module")
def sea_source(dev_data, analyzer):
    return _eval_source(dev_data, analyzer, *SEA)


def test_background_beyond_a_turned_face_is_not_person_and_the_body_behind_it_is(sea_source):
    """GrabCut seeded for a head centred on its face took the sea beside a 38° turned face for person (the
    whole band beside it) and the T-shirt below the head for background; the seeds now follow the turn."""
    source, landmarks = sea_source
    xy = landmarks[:468, :2].astype(np.float64)
    offset = turn_offset(xy)
    width = np.ptp(xy[:, 0])
    assert np.linalg.norm(offset) > 0.1 * width  # a turned face
    up = face_up(xy)
    across = np.array([-up[1], up[0]]) * np.sign(offset @ np.array([-up[1], up[0]]))
    rows, cols = np.mgrid[:source.shape[0], :source.shape[1]]
    grid = np.stack([cols, rows], -1).astype(np.float64)
    person = person_mask(source, landmarks) > 0.5
    # Beside the face on the side it turns to, from a fifth of the face's width past its outline, between
    # the eyes' and the mouth's heights: sea.
    heights = grid @ up
    band = (heights < (xy[[33, 263]] @ up).mean()) & (heights > xy[13] @ up)
    beyond = grid @ across > (xy @ across).max() + 0.2 * width
    assert (band & beyond).sum() > 200
    assert person[band & beyond].mean() < 0.1
    # Below the chin, behind it (the turned head's neck and chest): T-shirt.
    chin = xy[152]
    below = (heights < chin @ up - 0.15 * width) & (np.abs((grid - (chin - offset)) @ across) < 0.3 * width)
    assert below.sum() > 200
    assert person[below].mean() > 0.9


def test_row_fill_continues_the_background_at_its_own_height():
    """Sky over sea beside a hole, a white shirt below it: the row fill gives each row of the hole the colour
    beside it, where a fill from all around mixed the shirt's white into the sea."""
    sky, sea, shirt = (200, 220, 240), (40, 110, 160), (250, 250, 250)
    image = np.zeros((128, 128, 3), np.float32)
    image[:40], image[40:100], image[100:] = sky, sea, shirt
    known = np.ones((128, 128), bool)
    known[30:110, 40:90] = False  # the person
    rows = row_fill(image, known, 3.0)
    all_round = push_pull_fill(image, known)
    middle = (slice(55, 85), slice(45, 85))
    assert np.abs(rows[middle] - np.array(sea, np.float32)).max() < 6
    assert np.abs(all_round[middle] - np.array(sea, np.float32)).max() > 20
    assert np.array_equal(rows[known], image[known])


def test_a_hole_across_whole_rows_is_still_filled():
    image = np.zeros((64, 64, 3), np.float32)
    image[:, :] = (90, 120, 30)
    known = np.ones((64, 64), bool)
    known[20:30] = False  # no known pixel left or right in these rows
    filled = row_fill(image, known, 2.0)
    assert np.abs(filled[20:30] - image[20:30]).max() < 1.0
