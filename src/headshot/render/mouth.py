"""Mouth interior for the warp engine.

When the target mouth opens wider than the source's, the warp can only stretch the source's (usually
closed) lip line into the hole, which reads as smeared lips. Inside the target inner-lip polygon we
instead show either the driver's own mouth interior (affinely mapped from the driver's inner lips to the
target's, colour-matched to the source by the mean and spread in Lab of the lips) or, without driver
pixels, a synthesised cavity: shaded from the lips' colour at the edge to a dark red throat, upper teeth
under the upper lip, the tongue low when wide open. The edge is feathered so the lips keep
their own pixels.

The synthesised colours were set by measurement on real mouths (benchmarks/mouth_interior.py): on dev
self-reenactment from templates, at frames whose mouth opens beyond the source's, the real interior (inside
MediaPipe's inner-lip loop) averages about 0.75 x the lips' colour (tongue and inner lips at this scale: Lab
L 39, where a cavity of 0.14 x the lips rendered 26), and its teeth are as warm as the light (a fixed
enamel colour read blue in a warm-lit room). On the held-out identities (configs/splits/dev.yaml, 328
frames): mean-colour Delta E 16.5 -> 12.9, L1 inside the loop 0.188 -> 0.160 (training identities 18.7 ->
14.1, 0.201 -> 0.176). Pixel L1 alone would favour a flat lip-coloured hole without teeth (the teeth's place
varies from frame to frame); the teeth and the dark throat stay because a mouth without them does not read
as one.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import topology

INNER_CORNERS = (78, 308)
# Opening (inner-lip gap / inner mouth width) beyond the source's at which the interior starts to show,
# and the extra opening over which it fades in fully.
OPEN_THRESHOLD = 0.015
OPEN_RAMP = 0.06
# A driver whose own mouth is open less than this has no interior worth copying.
DRIVER_MIN_OPENING = 0.05


def mouth_opening(landmarks: np.ndarray) -> float:
    """Inner-lip gap divided by the inner mouth width (dimensionless, 0 = closed)."""
    gap = np.linalg.norm(landmarks[topology.LOWER_LIP_INNER, :2] - landmarks[topology.UPPER_LIP_INNER, :2])
    width = np.linalg.norm(landmarks[INNER_CORNERS[1], :2] - landmarks[INNER_CORNERS[0], :2])
    return float(gap / max(width, 1e-6))


def _box(points: np.ndarray, pad: float, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """Integer box ``(x0, y0, x1, y1)`` around ``points`` grown by ``pad``, clipped to ``shape``."""
    x0, y0 = np.floor(points.min(0) - pad).astype(int)
    x1, y1 = np.ceil(points.max(0) + pad).astype(int) + 1
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


def _polygon_mask(points: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shifted = np.round((points - (x0, y0)) * 16).astype(np.int32)
    cv2.fillPoly(mask, [shifted], 255, cv2.LINE_8, 4)
    return mask


def lips_ring_stats(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Colour of the lips (ring between outer and inner lip loops) of a face in ``image`` (RGB uint8).

    Returns ``(lab_mean, lab_std, rgb_mean)``: Lab as OpenCV's float conversion (L in [0, 100]).
    """
    outer = landmarks[topology.OUTER_LIPS, :2]
    box = _box(outer, 2, image.shape[:2])
    x0, y0, x1, y1 = box
    ring = (_polygon_mask(outer, box) > 0) & (_polygon_mask(landmarks[topology.INNER_LIPS, :2], box) == 0)
    patch = image[y0:y1, x0:x1]
    if ring.sum() < 8:  # tiny or degenerate face: use the whole box
        ring = np.ones(patch.shape[:2], bool)
    pixels = patch[ring].astype(np.float32)
    lab = cv2.cvtColor(pixels.reshape(-1, 1, 3) / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return lab.mean(0), lab.std(0) + 1e-3, pixels.mean(0)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def mouth_frame(landmarks: np.ndarray) -> dict:
    """Mouth coordinates of a face: ``centre`` (between the inner corners), unit axes ``u`` (corner to
    corner) and ``v`` (upper to lower lip), ``half_width`` (pixels), and the inner lip curves as sorted
    ``(u, v)`` samples, ``upper`` and ``lower``."""
    inner = landmarks[topology.INNER_LIPS, :2].astype(np.float64)
    left, right = inner[0], inner[10]
    axis_u = right - left
    half_width = max(float(np.linalg.norm(axis_u)) / 2.0, 1.0)
    axis_u = axis_u / (2.0 * half_width)
    axis_v = np.array([-axis_u[1], axis_u[0]])
    # Upper to lower lip along the outer contour: the inner lips coincide when the mouth is closed.
    down = landmarks[topology.OUTER_LIPS[15], :2] - landmarks[topology.OUTER_LIPS[5], :2]
    if float(down @ axis_v) < 0:
        axis_v = -axis_v
    centre = (left + right) / 2.0
    rel = inner - centre
    u, v = rel @ axis_u, rel @ axis_v
    curves = {}
    for name, rows in (("upper", np.arange(0, 11)), ("lower", np.r_[10:20, 0])):
        order = np.argsort(u[rows])
        curves[name] = (u[rows][order], v[rows][order])
    return {"centre": centre, "u": axis_u, "v": axis_v, "half_width": half_width, **curves}


# A source whose mouth is open at least this much shows its own teeth: reuse them.
SOURCE_INTERIOR_OPENING = 0.08
# The synthesised cavity's colour as a multiple of the lips': at the lips' edge, and deep in the throat.
CAVITY_EDGE, CAVITY_DEEP = 0.8, 0.35
# Neutral enamel (RGB), lit like the face, and warmed or cooled like the whites of the eyes: their red-blue
# difference over twice their mean brightness, within +-WARMTH_LIMIT, scales red up and blue down (or the
# reverse) by that much. Only that one axis, and only so far: on a small or turned eye the "white" is partly
# lid and skin (furious_talk1_clip2, 36 degrees: RGB 186, 84, 57), and its green would make the teeth pink.
ENAMEL = (228.0, 222.0, 206.0)
WARMTH_LIMIT = 0.2


def eye_white(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray | None:
    """Mean RGB of the whites of the eyes (the lighter 40 % of the pixels inside the eye outlines, the iris
    left out), or ``None`` when the outlines hold fewer than 15 pixels (eyes shut, tiny or off the image)."""
    pixels = []
    for eye, iris in ((topology.RIGHT_EYE, topology.RIGHT_IRIS), (topology.LEFT_EYE, topology.LEFT_IRIS)):
        box = _box(landmarks[eye, :2], 1, image.shape[:2])
        x0, y0, x1, y1 = box
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        mask = _polygon_mask(landmarks[eye, :2], box)
        centre = landmarks[iris[0], :2]
        radius = float(np.linalg.norm(landmarks[iris[1:], :2] - centre, axis=1).mean())
        cv2.circle(mask, tuple(int(c) for c in np.round(centre - (x0, y0))), int(np.ceil(1.1 * radius)), 0, -1)
        mask = cv2.erode(mask, np.ones((2, 2), np.uint8))
        pixels.append(image[y0:y1, x0:x1][mask > 0].astype(np.float32))
    pixels = np.vstack(pixels) if pixels else np.zeros((0, 3), np.float32)
    if len(pixels) < 15:
        return None
    light = pixels.mean(1) >= np.percentile(pixels.mean(1), 60)
    return pixels[light].mean(0) if light.sum() >= 6 else None


def teeth_colour(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """RGB of teeth for a face in ``image``: :data:`ENAMEL` scaled by the face's brightness and warmed or
    cooled like the whites of its eyes (:func:`eye_white`; see :data:`WARMTH_LIMIT`)."""
    face = landmarks[topology.FACE_OVAL, :2]
    box = _box(face, 0, image.shape[:2])
    skin = image[box[1]:box[3], box[0]:box[2]].reshape(-1, 3).astype(np.float32)
    brightness = float(np.clip(np.median(skin.mean(1)) / 160.0, 0.55, 1.1)) if len(skin) else 1.0
    enamel = np.array(ENAMEL, np.float32) * brightness
    white = eye_white(image, landmarks)
    if white is None or float(white.mean()) < 1.0:
        return enamel
    warmth = float(np.clip((white[0] - white[2]) / (2.0 * float(white.mean())), -WARMTH_LIMIT, WARMTH_LIMIT))
    return enamel * np.array([1.0 + warmth, 1.0, 1.0 - warmth], np.float32)


class MouthInterior:
    """Fills the opening mouth of rendered frames for one source.

    Args:
        source: the source crop, RGB uint8 HWC.
        source_landmarks: its ``(478, 3)`` landmarks (crop pixels).
    """

    def __init__(self, source: np.ndarray, source_landmarks: np.ndarray):
        self.source_opening = mouth_opening(source_landmarks)
        self.lips_lab_mean, self.lips_lab_std, self.lips_rgb = lips_ring_stats(source, source_landmarks)
        self.teeth_rgb = teeth_colour(source, source_landmarks)
        self.source = source
        self.source_frame = mouth_frame(source_landmarks)
        self.source_shows_interior = self.source_opening >= SOURCE_INTERIOR_OPENING

    def weight(self, target_landmarks: np.ndarray) -> float:
        """How much interior to show (0..1) for a target, from its opening beyond the source's."""
        extra = mouth_opening(target_landmarks) - self.source_opening - OPEN_THRESHOLD
        return float(np.clip(extra / OPEN_RAMP, 0.0, 1.0))

    def apply(self, image: np.ndarray, target_landmarks: np.ndarray, driver_frame: np.ndarray | None = None,
              driver_landmarks: np.ndarray | None = None) -> None:
        """Blend a mouth interior into ``image`` (RGB uint8, modified in place) inside the target's
        inner-lip polygon, if the target opens wider than the source."""
        strength = self.weight(target_landmarks)
        if strength <= 0.0:
            return
        inner = target_landmarks[topology.INNER_LIPS, :2].astype(np.float64)
        width = np.linalg.norm(inner[10] - inner[0])
        feather = max(0.6, 0.015 * width)
        box = _box(inner, 3 * feather + 2, image.shape[:2])
        x0, y0, x1, y1 = box
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mask = _polygon_mask(inner, box)
        inset = int(round(feather))
        if inset > 0:  # keep the blurred edge inside the polygon so the lips stay crisp
            mask = cv2.erode(mask, np.ones((2 * inset + 1, 2 * inset + 1), np.uint8))
        mask = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), feather)
        if driver_frame is not None and mouth_opening(driver_landmarks) >= DRIVER_MIN_OPENING:
            interior = self.from_driver(box, target_landmarks, driver_frame, driver_landmarks)
        else:
            interior = self.synthesise(box, target_landmarks)
        alpha = (mask * strength)[..., None]
        patch = image[y0:y1, x0:x1].astype(np.float32)
        image[y0:y1, x0:x1] = np.clip(patch + alpha * (interior - patch), 0, 255).astype(np.uint8)

    def from_driver(self, box: tuple[int, int, int, int], target_landmarks: np.ndarray,
                    driver_frame: np.ndarray, driver_landmarks: np.ndarray) -> np.ndarray:
        """The driver's mouth interior mapped into ``box`` of the target (float32 RGB), colour-matched
        to the source's lips."""
        x0, y0, x1, y1 = box
        target_inner = target_landmarks[topology.INNER_LIPS, :2].astype(np.float64)
        driver_inner = driver_landmarks[topology.INNER_LIPS, :2].astype(np.float64)
        # Least-squares affine target -> driver (backward map).
        design = np.hstack([target_inner, np.ones((len(target_inner), 1))])
        affine, *_ = np.linalg.lstsq(design, driver_inner, rcond=None)
        matrix = affine.T.copy()
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
        patch = cv2.warpAffine(driver_frame, matrix, (x1 - x0, y1 - y0),
                               flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
        driver_mean, driver_std, _ = lips_ring_stats(driver_frame, driver_landmarks)
        lab = cv2.cvtColor(patch.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        gain = np.clip(self.lips_lab_std / driver_std, 0.6, 1.6)
        lab = (lab - driver_mean) * gain + self.lips_lab_mean
        lab[..., 0] = np.clip(lab[..., 0], 0.0, 100.0)
        return cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB) * 255.0

    def synthesise(self, box: tuple[int, int, int, int], target_landmarks: np.ndarray) -> np.ndarray:
        """A plausible mouth interior for ``box`` of the target (float32 RGB) from the source's
        colours: lit inner-lip surfaces, a dark red throat, upper teeth, the tongue low when wide open."""
        x0, y0, x1, y1 = box
        frame = mouth_frame(target_landmarks)
        centre, axis_u, axis_v, half_width = frame["centre"], frame["u"], frame["v"], frame["half_width"]
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        px, py = xs - centre[0], ys - centre[1]
        u = px * axis_u[0] + py * axis_u[1]
        v = px * axis_v[0] + py * axis_v[1]
        top = np.interp(u, *frame["upper"])
        bottom = np.interp(u, *frame["lower"])
        gap = np.maximum(bottom - top, 1.0)
        un = np.clip(np.abs(u) / half_width, 0.0, 1.0)
        vn = np.clip((v - top) / gap, 0.0, 1.0)
        opening = mouth_opening(target_landmarks)

        lips = self.lips_rgb.astype(np.float64)
        # Cavity: lit wet lip surfaces near the lips, dark throat in the middle, darker corners.
        depth = np.sin(np.pi * vn) ** 0.6 * (1.0 - 0.5 * un)
        cavity = ((lips * CAVITY_EDGE)[None, None] * (1 - depth)[..., None]
                  + (lips * CAVITY_DEEP)[None, None] * depth[..., None])
        cavity *= (1.0 - 0.45 * un ** 3)[..., None]
        # Tongue: low in the mouth, pinker and lighter towards the front.
        tongue_w = (_smoothstep(0.5, 0.92, vn) * (1.0 - un ** 2) * _smoothstep(0.12, 0.3, opening) * 0.6)
        tongue = (lips * np.array([0.72, 0.55, 0.55]))[None, None] * (0.55 + 0.45 * vn)[..., None]
        colour = cavity + tongue_w[..., None] * (tongue - cavity)
        # Upper teeth: a band under the upper lip, fading towards the corners, shaded under the lip.
        teeth_height = np.minimum(0.5 * gap, 0.16 * 2.0 * half_width)
        below_lip = v - top
        teeth_w = ((1.0 - _smoothstep(0.65, 1.0, below_lip / np.maximum(teeth_height, 1e-3)))
                   * (1.0 - _smoothstep(0.4, 0.78, un)) * _smoothstep(0.06, 0.22, opening) * 0.9)
        shade = (0.72 + 0.28 * _smoothstep(0.0, 0.3, below_lip / np.maximum(teeth_height, 1e-3)))
        shade = shade * (1.0 - 0.4 * un ** 2)
        teeth = self.teeth_rgb[None, None].astype(np.float64) * shade[..., None]
        colour = colour + teeth_w[..., None] * (teeth - colour)
        if self.source_shows_interior:
            colour = self._blend_source_interior(colour, u, v - top, half_width)
        return colour.astype(np.float32)

    def _blend_source_interior(self, colour: np.ndarray, u: np.ndarray, below_lip: np.ndarray,
                               half_width: float) -> np.ndarray:
        """Over ``colour``, the source's own visible interior (its teeth), carried with the upper lip:
        a pixel ``below_lip`` px under the target's upper lip samples the same depth under the source's
        (scaled by the mouth widths), where the source mouth was open."""
        frame = self.source_frame
        ratio = frame["half_width"] / half_width
        u_source = u * ratio
        depth = below_lip * ratio
        top = np.interp(u_source, *frame["upper"])
        gap = np.maximum(np.interp(u_source, *frame["lower"]) - top, 1e-3)
        v_source = top + depth
        map_x = frame["centre"][0] + u_source * frame["u"][0] + v_source * frame["v"][0]
        map_y = frame["centre"][1] + u_source * frame["u"][1] + v_source * frame["v"][1]
        sampled = cv2.remap(self.source, map_x.astype(np.float32), map_y.astype(np.float32),
                            cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64)
        weight = ((1.0 - _smoothstep(0.55, 0.85, depth / gap))
                  * (1.0 - _smoothstep(0.7, 0.95, np.abs(u_source) / frame["half_width"]))
                  * (depth > -1.0))
        return colour + weight[..., None] * (sampled - colour)
