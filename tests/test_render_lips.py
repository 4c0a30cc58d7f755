"""Closed lips in the warp engine: lips closed by the speech rig read as closed on the rendered frame and
show no teeth along the seam, on sources with the mouth open (teeth showing) and shut.

Sources: the bundled astronaut (teeth showing) and two dev portraits, read at run time: one with the
mouth open (teeth showing), one with it shut.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from headshot.eval.lipsync_metrics import CLOSED_GAP, lip_gap
from headshot.face import topology
from headshot.face.crop import crop, crop_box
from headshot.motion.rig import FaceRig
from headshot.render.lips import ClosedLips
from headshot.render.mouth import MouthInterior, lips_ring_stats, mouth_frame, mouth_opening
from headshot.render.warp import WarpEngine

SIZE = 512  # the animate pipeline's crop
PORTRAITS = {"open": "vox2_7494__Talking-Face_PC-AVS__000000.jpg", "shut": "jeff_bezos__deepface__img20.jpg"}
# Half-height (pixels at SIZE) of the band along the seam that must show no teeth.
SEAM_BAND = 1.5
MAX_TEETH_SHARE = 0.03


def _to_lab(pixels: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(pixels.reshape(-1, 1, 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def _source(image: np.ndarray, analyzer) -> tuple[np.ndarray, np.ndarray]:
    """The face crop as the animate pipeline cuts it, and its landmarks."""
    box = crop_box(analyzer.detect_one(image).landmarks, scale=2.0)
    source = crop(image, box, SIZE)
    return source, analyzer.detect_one(source).landmarks


@pytest.fixture(scope="module")
def sources(astronaut, dev_data, analyzer) -> dict:
    from headshot.io.images import read_image

    out = {"astronaut": _source(astronaut, analyzer)}
    for kind, name in PORTRAITS.items():
        out[kind] = _source(read_image(dev_data / "portraits" / name), analyzer)
    return out


def closed_target(source_landmarks: np.ndarray) -> np.ndarray:
    """The source's face with its lips shut by the speech rig (``close = 1``: inner-lip gap 0)."""
    rig = FaceRig(source_landmarks)
    return rig.posed(rig.deform(close=1.0)).astype(np.float32)


def seam_pixels(image: np.ndarray, target: np.ndarray) -> np.ndarray:
    """RGB pixels ``(N, 3)`` within :data:`SEAM_BAND` px of the target's closed seam, away from the corners."""
    frame = mouth_frame(target)
    u = np.linspace(-0.8, 0.8, 80) * frame["half_width"]
    seam = 0.5 * (np.interp(u, *frame["upper"]) + np.interp(u, *frame["lower"]))
    points = []
    for dv in np.linspace(-SEAM_BAND, SEAM_BAND, 7):
        x = frame["centre"][0] + u * frame["u"][0] + (seam + dv) * frame["v"][0]
        y = frame["centre"][1] + u * frame["u"][1] + (seam + dv) * frame["v"][1]
        points.append(np.stack([x, y], 1))
    points = np.round(np.concatenate(points)).astype(int)
    return image[points[:, 1], points[:, 0]]


def teeth_share(rendered: np.ndarray, target: np.ndarray, source: np.ndarray, source_landmarks: np.ndarray) -> float:
    """Share of the seam's pixels that look like teeth: lighter than most of the source's lips (mean + one
    standard deviation in Lab lightness), less red than they are on average (a lip's highlight is not a
    tooth) and nearer (Lab) to the source's teeth than to its lips. The teeth are
    what the source's inner lips enclose that is that light, or, where it shows none, the enamel colour
    the engine paints teeth with (lit like the face)."""
    lips, spread, _ = lips_ring_stats(source, source_landmarks)
    light = lips[0] + spread[0]
    inner = np.zeros(source.shape[:2], np.uint8)
    cv2.fillPoly(inner, [np.round(source_landmarks[topology.INNER_LIPS, :2]).astype(np.int32)], 1)
    interior = _to_lab(source[inner > 0])
    interior = interior[interior[:, 0] > light]
    if len(interior) >= 20:
        teeth = interior.mean(0)
    else:
        teeth = _to_lab(MouthInterior(source, source_landmarks).teeth_rgb.reshape(1, 3))[0]
    seam = _to_lab(seam_pixels(rendered, target))
    toothy = ((seam[:, 0] > light) & (seam[:, 1] < lips[1])
              & (np.linalg.norm(seam - teeth, axis=1) < np.linalg.norm(seam - lips, axis=1)))
    return float(np.mean(toothy))


@pytest.mark.parametrize("name", ["astronaut", "open", "shut"])
def test_closed_lips_read_closed_without_teeth(name, sources, analyzer):
    source, landmarks = sources[name]
    target = closed_target(landmarks)
    assert lip_gap(target) < 1e-3
    engine = WarpEngine()
    engine.prepare(source, landmarks)
    rendered = engine.render(target)
    faces = analyzer.detect(rendered)
    assert faces, "no face found on the rendered frame"
    gap = lip_gap(faces[0].landmarks)
    assert gap < CLOSED_GAP, f"{name}: rendered lips read {gap:.3f} apart (inter-ocular units)"
    share = teeth_share(rendered, target, source, landmarks)
    assert share <= MAX_TEETH_SHARE, f"{name}: {share:.0%} of the seam is tooth-coloured"


def test_sources_are_what_the_tests_need(sources):
    """The astronaut and the open portrait show their teeth (their lips get rebuilt); the shut one does
    not (the warp alone closes it)."""
    for name in ("astronaut", "open"):
        source, landmarks = sources[name]
        assert ClosedLips(source, landmarks).weight(closed_target(landmarks)) == 1.0
    source, landmarks = sources["shut"]
    assert ClosedLips(source, landmarks).weight(closed_target(landmarks)) == 0.0


def test_teeth_show_along_the_seam_without_the_fix(sources, monkeypatch):
    """The check bites: the half-resolution flow with no rebuilt lips leaves the astronaut's teeth
    along the seam."""
    from headshot.render.raster import FlowRasteriser

    source, landmarks = sources["astronaut"]
    target = closed_target(landmarks)
    monkeypatch.setattr(FlowRasteriser, "refine", lambda self, *args, **kwargs: None)
    engine = WarpEngine(lips=False)
    engine.prepare(source, landmarks)
    assert teeth_share(engine.render(target), target, source, landmarks) > 0.1


def test_half_open_and_open_targets_keep_their_mouth(sources):
    """Rebuilt lips fade out as the target opens: an open target over an open source is the warp's."""
    source, landmarks = sources["astronaut"]
    lips = ClosedLips(source, landmarks)
    assert lips.weight(landmarks) == 0.0  # the source's own opening
    rig = FaceRig(landmarks)
    weights = [lips.weight(rig.posed(rig.deform(close=c))) for c in (0.0, 0.5, 0.8, 1.0)]
    assert weights == sorted(weights) and weights[0] == 0.0 and weights[-1] == 1.0
    with_lips, without = WarpEngine(), WarpEngine(lips=False)
    with_lips.prepare(source, landmarks)
    without.prepare(source, landmarks)
    assert np.array_equal(with_lips.render(landmarks), without.render(landmarks))
    assert mouth_opening(landmarks) > 0.1


def test_lips_drawn_at_full_resolution(sources):
    """Closing over an open source mouth, the half-resolution engine's flow inside the mouth box is the
    full-resolution engine's, pixel for pixel."""
    from headshot.render.warp import mouth_box

    source, landmarks = sources["astronaut"]
    target = closed_target(landmarks)
    flows = []
    for scale in (0.5, 1.0):
        engine = WarpEngine(map_scale=scale)
        engine.prepare(source, landmarks)
        flows.append(engine.flow(target))
        points, _ = engine.mesh.target_points(target)
    x0, y0, x1, y1 = mouth_box(points[topology.OUTER_LIPS], SIZE)
    half, full = (flow[y0:y1, x0:x1] for flow in flows)
    assert np.percentile(np.abs(half - full), 99) < 1e-3
