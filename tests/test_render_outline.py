"""A profile's silhouette band (issue 12): MediaPipe's midline runs beyond a profile's real silhouette, and a
target turned to the camera drew that strip of background down the middle of the face. The face mesh now
samples a copy of the photo whose band is refilled with skin (:mod:`headshot.render.outline`)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from headshot.render.warp import WarpEngine

# The dev clip whose most turned frame is the most turned of the dev set (yaw ~51°, over a navy background),
# and one turned ~35°, whose midline is not its silhouette (see test_render_hidden.TURNED).
PROFILE = "lrs3_0Fi83BHQsMA_man_glasses__spectre__0Fi83BHQsMA_00002.mp4"
THREE_QUARTER = "pcavs_00373_woman__Talking-Face_PC-AVS__00373.mp4"
# The face's midline from between the eyes down to the chin (MediaPipe indices).
MIDLINE = [168, 6, 197, 195, 5, 4, 1, 19, 94, 2, 164, 0, 11, 12, 13, 14, 15, 16, 17, 18, 200, 199, 175, 152]


@pytest.fixture(scope="module")
def sources(dev_data, analyzer):
    from test_render_hidden import TURNED, _turned_and_frontal

    return {clip: _turned_and_frontal(dev_data / "videos" / clip, TURNED[clip], analyzer)
            for clip in (PROFILE, THREE_QUARTER)}


def skin_and_background(engine: WarpEngine) -> tuple[np.ndarray, np.ndarray]:
    """The prepared source's skin colour (median inside its face, 7 px in from the landmarks' hull) and
    background colour (median outside its person mask), float32 RGB."""
    source = engine.source.astype(np.float32)
    background = np.median(source[engine.layers.person < 0.01], 0)
    face = np.zeros(source.shape[:2], np.uint8)
    cv2.fillConvexPoly(face, cv2.convexHull(np.round(engine.source_landmarks[:468, :2]).astype(np.int32)), 1)
    skin = np.median(source[cv2.erode(face, np.ones((15, 15), np.uint8)) > 0], 0)
    return skin, background


def midline_background(engine: WarpEngine, image: np.ndarray, target: np.ndarray) -> float:
    """Fraction of the pixels along the target's midline (a 3 px wide line from between the eyes to the
    chin) whose colour is nearer the source's background (median outside its person mask) than its skin
    (median inside its face, 7 px in from the landmarks' hull)."""
    skin, background = skin_and_background(engine)
    line = np.zeros(engine.source.shape[:2], np.uint8)
    cv2.polylines(line, [np.round(target[MIDLINE, :2]).astype(np.int32)], False, 1, 3)
    pixels = image[line > 0].astype(np.float32)
    return float((np.linalg.norm(pixels - background, axis=1) < np.linalg.norm(pixels - skin, axis=1)).mean())


def test_a_profile_turned_to_the_camera_has_no_background_down_its_midline(sources):
    yaw, frontal_yaw, (source, frontal), (source_landmarks, frontal_landmarks) = sources[PROFILE]
    assert yaw > 45 and frontal_yaw < 10
    found = {}
    for face_texture in (False, True):  # before / with the face texture
        engine = WarpEngine(face_texture=face_texture)
        engine.prepare(source, source_landmarks)
        found[face_texture] = midline_background(engine, engine.render(frontal_landmarks), engine.last_target)
    assert found[False] > 0.3  # the check sees the stripe (40% of the midline was navy before)
    assert found[True] < 0.15, found


def test_a_still_profile_is_still_the_photo(sources):
    """The band is refilled in the face texture only: a target that is the source's own landmarks returns
    the photo exactly, the background beyond the nose included."""
    _, _, (source, _), (source_landmarks, _) = sources[PROFILE]
    engine = WarpEngine()
    engine.prepare(source, source_landmarks)
    texture = engine.face_texture
    assert texture is not None and texture.active
    changed = np.abs(texture.image.astype(int) - source).max(2) > 30
    assert changed.sum() > 100  # the band is there, and much changed in it ...
    np.testing.assert_array_equal(engine.render(source_landmarks), source)  # ... yet a still frame is the photo


def test_only_a_profile_gets_a_face_texture(sources):
    """A face whose midline is not its silhouette (a 35° turn; the profile's speaker facing the camera, over
    the same navy background) keeps the photo as its only texture: nothing changes, nothing is paid per frame."""
    engine = WarpEngine()
    for clip, which in ((THREE_QUARTER, 0), (PROFILE, 1)):
        _, _, crops, landmarks = sources[clip]
        engine.prepare(crops[which], landmarks[which])
        assert engine.face_texture is None, (clip, which)
