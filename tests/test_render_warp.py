"""Warp engine on the bundled astronaut portrait: identity, border, head turns, mouth, eyes, API."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from headshot.engines import engine_names, get_engine
from headshot.errors import HeadshotError, InputError
from headshot.face import topology
from headshot.render.mouth import mouth_opening
from headshot.render.warp import WarpEngine

SIZE = 512


def square_crop(image: np.ndarray, landmarks: np.ndarray, size: int, scale: float = 1.9):
    """A square crop of side ``scale`` × the landmark box, centred on it, resized to ``size``; returns
    the crop and the affine (2, 3) from image to crop pixels."""
    low, high = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    centre, side = (low + high) / 2, float((high - low).max()) * scale
    k = size / side
    matrix = np.array([[k, 0, size / 2 - k * centre[0]], [0, k, size / 2 - k * centre[1]]], np.float32)
    crop = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE)
    return crop, matrix


@pytest.fixture(scope="module")
def portrait(astronaut):
    """The astronaut cropped to 512 px around her face, with landmarks detected on the crop."""
    from headshot.face import FaceAnalyzer

    with FaceAnalyzer() as analyzer:
        crop, _ = square_crop(astronaut, analyzer.detect_one(astronaut).landmarks, SIZE)
        landmarks = analyzer.detect_one(crop).landmarks
    return crop, landmarks


@pytest.fixture(scope="module")
def engine(portrait):
    engine = WarpEngine()
    engine.prepare(*portrait)
    return engine


def rotate(landmarks: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate the 3-D landmarks about the face centre (orthographic view): yaw about y, pitch about x."""
    centre = landmarks[:468].mean(0)
    a, b = np.radians(yaw_deg), np.radians(pitch_deg)
    yaw = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    pitch = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return ((landmarks - centre) @ (pitch @ yaw).T + centre).astype(np.float32)


def open_mouth(landmarks: np.ndarray, amount: float) -> np.ndarray:
    """Drop the lower lip and jaw by ``amount`` pixels (what a jaw opening does to the landmarks): the
    mouth corners stay, the lower lip drops most at its middle, the chin and jaw below drop fully."""
    moved = landmarks.copy()
    inner, outer = topology.INNER_LIPS, topology.OUTER_LIPS
    corners = [inner[0], inner[10], outer[0], outer[10]]
    centre_x = landmarks[list(topology.MOUTH_CORNERS), 0].mean()
    half_mouth = abs(np.diff(landmarks[list(topology.MOUTH_CORNERS), 0]))[0] / 2
    half_face = abs(landmarks[454, 0] - landmarks[234, 0]) / 2
    dx = np.abs(landmarks[:, 0] - centre_x)
    corner_y = landmarks[list(topology.MOUTH_CORNERS), 1].max()
    below = np.clip((landmarks[:, 1] - corner_y) / (0.6 * half_mouth), 0, 1)
    weight = below * np.clip(1 - np.maximum(dx - 0.5 * half_mouth, 0) / half_face, 0, 1)
    lower = np.r_[inner[11:], outer[11:]]
    weight[lower] = np.maximum(weight[lower], np.clip(1 - (dx[lower] / half_mouth) ** 2, 0, 1) ** 0.5)
    weight[np.r_[inner[1:10], outer[1:10]]] = 0.0
    weight[corners] = 0.0
    moved[:, 1] += amount * weight
    return moved


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def folded_fraction(flow: np.ndarray, landmarks: np.ndarray) -> float:
    """Fraction of face pixels where the backward map x + flow folds (Jacobian determinant <= 0)."""
    map_x = flow[..., 0] + np.arange(flow.shape[1])[None]
    map_y = flow[..., 1] + np.arange(flow.shape[0])[:, None]
    dxx, dxy = np.gradient(map_x, axis=1), np.gradient(map_x, axis=0)
    dyx, dyy = np.gradient(map_y, axis=1), np.gradient(map_y, axis=0)
    det = dxx * dyy - dxy * dyx
    mask = np.zeros(flow.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(landmarks[:468, :2].astype(np.int32)), 1)
    return float((det[mask > 0] <= 0).mean())


def test_identity_target_returns_the_source(engine, portrait):
    source, landmarks = portrait
    out = engine.render(landmarks)
    assert out.shape == source.shape and out.dtype == np.uint8
    assert psnr(out, source) > 38.0


def test_frame_border_stays_put(engine, portrait):
    source, landmarks = portrait
    out = engine.render(rotate(open_mouth(landmarks, 30), 20, 10) + np.float32([12, -8, 0]))
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        np.testing.assert_array_equal(out[edge], source[edge])
    assert psnr(out, source) < 30  # the face did move


@pytest.mark.parametrize("yaw, pitch", [(25, 0), (-25, 0), (0, 20), (0, -20), (20, 15)])
def test_head_turns_do_not_fold(engine, portrait, yaw, pitch):
    _, landmarks = portrait
    target = rotate(landmarks, yaw, pitch)
    out = engine.render(target)
    assert folded_fraction(engine.last_flow, target) < 0.005
    # The face really moved where the target says: the nose tip is sampled from the source's nose tip.
    nose = np.round(target[1, :2]).astype(int)
    sampled = nose + engine.last_flow[nose[1], nose[0]]
    assert np.linalg.norm(sampled - portrait[1][1, :2]) < 3.0
    assert out.shape == portrait[0].shape


def test_opening_mouth_without_driver_shows_a_dark_cavity(engine, portrait):
    source, landmarks = portrait
    face_height = landmarks[152, 1] - landmarks[10, 1]
    target = open_mouth(landmarks, 0.15 * face_height)
    assert mouth_opening(target) > mouth_opening(landmarks) + 0.2
    out = engine.render(target)
    luminance = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float32)

    def mean_in(loop, shrink_to=None):
        mask = np.zeros(out.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(target[loop, :2]).astype(np.int32)], 1)
        if shrink_to is not None:
            mask = cv2.erode(mask, np.ones((5, 5), np.uint8))
        return mask

    inner = mean_in(topology.INNER_LIPS, shrink_to=True)
    lips = mean_in(topology.OUTER_LIPS) & ~cv2.dilate(mean_in(topology.INNER_LIPS), np.ones((5, 5), np.uint8))
    lips = lips.astype(bool)
    assert inner.sum() > 500
    assert luminance[inner > 0].mean() < 0.6 * luminance[lips].mean()
    # Without the interior the hole would be filled with stretched lips and teeth, not a cavity.
    plain = WarpEngine(mouth=False)
    plain.prepare(source, landmarks)
    plain_luminance = cv2.cvtColor(plain.render(target), cv2.COLOR_RGB2GRAY).astype(np.float32)
    assert luminance[inner > 0].mean() < plain_luminance[inner > 0].mean() - 20


def test_closing_the_mouth_leaves_no_hole(engine, portrait):
    source, landmarks = portrait
    target = landmarks.copy()
    inner = topology.INNER_LIPS
    upper, lower = inner[1:10], inner[11:][::-1]
    middle = (target[upper] + target[lower]) / 2
    target[upper], target[lower] = middle, middle
    out = engine.render(target)
    lips_mean = source[cv2.fillPoly(np.zeros(source.shape[:2], np.uint8),
                                    [np.round(landmarks[topology.OUTER_LIPS, :2]).astype(np.int32)], 1) > 0]
    mask = cv2.fillPoly(np.zeros(source.shape[:2], np.uint8),
                        [np.round(target[topology.OUTER_LIPS, :2]).astype(np.int32)], 1) > 0
    # The closed mouth is lips (no dark hole, no teeth-white): its brightness stays near the lips'.
    closed = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[mask].astype(np.float32)
    assert np.percentile(closed, 5) > 40
    assert closed.mean() < cv2.cvtColor(lips_mean[None], cv2.COLOR_RGB2GRAY).mean() + 25


def test_driver_mouth_interior_is_used_and_colour_matched(engine, portrait, astronaut):
    """The driver's own open mouth (here: the astronaut photo, a different crop) fills the hole."""
    from headshot.face import FaceAnalyzer

    source, landmarks = portrait
    with FaceAnalyzer() as analyzer:
        driver_landmarks = analyzer.detect_one(astronaut).landmarks
    face_height = landmarks[152, 1] - landmarks[10, 1]
    target = open_mouth(landmarks, 0.12 * face_height)
    synthetic = engine.render(target)
    driven = engine.render(target, astronaut, driver_landmarks)
    mask = cv2.fillPoly(np.zeros(source.shape[:2], np.uint8),
                        [np.round(target[topology.INNER_LIPS, :2]).astype(np.int32)], 1)
    mask = cv2.erode(mask, np.ones((5, 5), np.uint8)) > 0
    # The astronaut's interior shows bright teeth: much brighter than the synthetic dark cavity.
    assert driven[mask].mean() > synthetic[mask].mean() + 15


def test_synthesised_teeth_take_the_colour_cast_of_the_eyes(portrait):
    """Teeth are lit like the face and tinted like the whites of its eyes: a warm-lit photo gets warm
    teeth (a fixed enamel colour read blue beside a warm face); without visible eyes, plain enamel."""
    from headshot.render.mouth import ENAMEL, eye_white, teeth_colour

    source, landmarks = portrait
    warm = np.clip(source.astype(np.float32) * (1.15, 1.0, 0.8), 0, 255).astype(np.uint8)
    neutral, warmed = teeth_colour(source, landmarks), teeth_colour(warm, landmarks)
    assert warmed[0] / warmed[2] > 1.1 * (neutral[0] / neutral[2])
    assert abs(warmed.mean() - neutral.mean()) < 0.1 * neutral.mean()  # the face's brightness, not the cast's
    # the astronaut's eye whites are near neutral: her teeth stay near the enamel's hue
    white = eye_white(source, landmarks)
    assert white is not None and white.min() > 0.75 * white.max()
    blank = np.zeros_like(source)
    assert eye_white(blank[:8, :8], landmarks) is None  # eyes off the image
    enamel = np.array(ENAMEL) / np.mean(ENAMEL)
    cast = teeth_colour(blank[:8, :8], landmarks)
    np.testing.assert_allclose(cast / cast.mean(), enamel, rtol=1e-5)


def test_blink_covers_the_eye_with_lid_skin(engine, portrait):
    source, landmarks = portrait
    target = landmarks.copy()
    for loop in (topology.RIGHT_EYE, topology.LEFT_EYE):
        upper, lower = loop[1:8], loop[9:][::-1]
        target[upper, :2] = target[lower, :2] + 0.1 * (target[upper, :2] - target[lower, :2])
    out = engine.render(target)
    for loop, lids in ((topology.RIGHT_EYE, topology.RIGHT_EYE_LIDS), (topology.LEFT_EYE, topology.LEFT_EYE_LIDS)):
        mask = cv2.fillPoly(np.zeros(source.shape[:2], np.uint8),
                            [np.round(landmarks[loop, :2]).astype(np.int32)], 1) > 0
        # Where the open eye was (sclera, iris), the closed eye shows skin: brighter than the iris,
        # less varied than an open eye.
        open_std = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)[mask].std()
        closed_std = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY)[mask].std()
        assert closed_std < 0.7 * open_std


def test_gaze_moves_the_iris(engine, portrait):
    source, landmarks = portrait
    target = landmarks.copy()
    eye_width = np.linalg.norm(landmarks[33, :2] - landmarks[133, :2])
    target[468:478, 0] += 0.15 * eye_width
    engine.render(target)
    centre = np.round(target[468, :2]).astype(int)
    sampled = centre + engine.last_flow[centre[1], centre[0]]
    assert np.linalg.norm(sampled - landmarks[468, :2]) < 1.5


def test_bad_inputs_raise_headshot_errors(portrait):
    source, landmarks = portrait
    engine = WarpEngine()
    with pytest.raises(InputError):
        engine.prepare(source[:, :300], landmarks)
    with pytest.raises(InputError):
        engine.prepare(source, landmarks[:68])
    engine.prepare(source, landmarks)
    with pytest.raises(InputError):
        engine.render(np.full((478, 3), np.nan, np.float32))
    with pytest.raises(TypeError):
        WarpEngine(no_such_option=1)


def test_registry():
    assert set(engine_names()) >= {"warp", "neural"}
    assert isinstance(get_engine("warp", map_scale=0.25), WarpEngine)
    with pytest.raises(HeadshotError):
        get_engine("pixar")
    try:
        import headshot.neural.engine  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(HeadshotError, match="not installed"):
            get_engine("neural")


def test_256_crop_works(portrait):
    source, landmarks = portrait
    small = cv2.resize(source, (256, 256), interpolation=cv2.INTER_AREA)
    small_landmarks = landmarks * 0.5
    engine = WarpEngine()
    engine.prepare(small, small_landmarks)
    assert psnr(engine.render(small_landmarks), small) > 38
    out = engine.render(rotate(small_landmarks, -25, 0))
    assert out.shape == (256, 256, 3)
    assert folded_fraction(engine.last_flow, rotate(small_landmarks, -25, 0)) < 0.005


def test_head_mask_covers_face_and_hair_not_the_background(portrait):
    from headshot.render.silhouette import head_mask

    source, landmarks = portrait
    mask = head_mask(source, landmarks)
    assert mask.shape == source.shape[:2] and mask.dtype == np.float32
    oval = np.zeros(source.shape[:2], np.uint8)
    cv2.fillConvexPoly(oval, np.round(landmarks[topology.FACE_OVAL, :2]).astype(np.int32), 1)
    assert mask[oval > 0].mean() > 0.95
    top, chin = landmarks[10, :2], landmarks[152, :2]
    hair = np.round(top + 0.12 * (top - chin)).astype(int)  # above the forehead: her hair
    assert mask[hair[1], hair[0]] > 0.5
    corner = SIZE // 16
    assert mask[:corner, :corner].mean() < 0.1 and mask[:corner, -corner:].mean() < 0.1


@pytest.mark.parametrize("head", [True, False])
def test_hair_moves_with_the_head(portrait, head):
    """A head shifted sideways carries its hair along (backward flow = -shift there) when the head mask is
    on; without it the hair follows the fixed ring fall-off and lags behind."""
    source, landmarks = portrait
    engine = WarpEngine(head=head)
    engine.prepare(source, landmarks)
    shift = 12.0
    moved = landmarks.copy()
    moved[:, 0] += shift
    flow = engine.flow(moved)
    top, chin = landmarks[10, :2], landmarks[152, :2]
    x, y = np.round(top + 0.2 * (top - chin) + [shift, 0]).astype(int)  # her hair, above the forehead
    dx = float(flow[y - 3:y + 4, x - 3:x + 4, 0].mean())
    if head:
        assert 0.85 * shift < -dx < 1.05 * shift
    else:
        assert -dx < 0.65 * shift


def test_rigidity_keeps_the_source_nose_but_not_the_lips(portrait):
    """Shape changes outside the expressive parts (a nose nudged sideways by landmark noise) are dropped
    in proportion to ``rigidity``; lips always follow."""
    source, landmarks = portrait
    nose = np.array([114, 343, 217, 437, 198, 420, 131, 360])  # sides of the nose (not RIGID points)
    lips = topology.region_indices("lips")
    target = landmarks.copy()
    target[nose, 0] += 6.0
    target[lips, 1] += 6.0
    for rigidity, expected in [(0.0, 6.0), (1.0, 0.0)]:
        engine = WarpEngine(rigidity=rigidity)
        engine.prepare(source, landmarks)
        points, _ = engine.mesh.target_points(target)
        nose_move = float((points[nose, 0] - landmarks[nose, 0]).mean())
        lips_move = float((points[lips, 1] - landmarks[lips, 1]).mean())
        assert nose_move == pytest.approx(expected, abs=1.0)
        assert lips_move == pytest.approx(6.0, abs=1.0)
    with pytest.raises(ValueError):
        WarpEngine(rigidity=1.5)
