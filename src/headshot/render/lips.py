"""Closed lips for the warp engine: lips that meet over a mouth that is open in the source.

The warp closes a mouth by pulling the source's two lip bands (outer to inner lip contour) together. On a
source whose mouth is open, the inner edge of each band is the lip's shadowed inside, often with teeth or
the dark cavity just inside the landmarks, so the closed mouth shows a thick dark or pale seam that reads,
to people and to landmarkers alike, as a mouth still ajar. When the target's lips (nearly) meet and the
source's do not, each lip band of the target is resampled from the lit part of the source's band, from the
outer contour to where the source lip stops looking like lip (:func:`lip_extent`), stretched to the
target's seam, and a thin dark line is drawn where the lips meet. The source's mouth interior is never
sampled.

Coordinates are a mouth frame (:func:`headshot.render.mouth.mouth_frame`): ``u`` from corner to corner,
``v`` from the upper lip towards the lower, both in pixels from the centre between the inner corners.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import topology
from .mouth import _box, _smoothstep, mouth_frame, mouth_opening

# Contours of each lip band in the topology's loops: outer and inner, corner to corner.
UPPER_OUTER, UPPER_INNER = topology.OUTER_LIPS[0:11], topology.INNER_LIPS[0:11]
LOWER_OUTER = np.r_[topology.OUTER_LIPS[10:20], topology.OUTER_LIPS[0]]
LOWER_INNER = np.r_[topology.INNER_LIPS[10:20], topology.INNER_LIPS[0]]
# Target openings (inner-lip gap / mouth width) over which closed lips fade in, from nothing to full.
CLOSED_BELOW, CLOSED_FULL = 0.10, 0.03
# How much more open the source must be than the target (same units) before its lips need rebuilding:
# a source with its mouth shut already has lips that meet.
SOURCE_MARGIN_START, SOURCE_MARGIN_FULL = 0.03, 0.08
# Lip line where the lips meet: darkening at its centre and its half-width (share of the mouth width).
SEAM_DARKNESS = 0.25
SEAM_WIDTH = 0.012
# Soft inner edge of the rebuilt lips (Gaussian sigma, share of the mouth width).
EDGE_FEATHER = 0.03
# Samples across the mouth and across each band for measuring the source lips' extent.
EXTENT_COLUMNS, EXTENT_STEPS = 15, 24
# Never keep less of a source band than this (a lip is at least that much lip).
MIN_EXTENT = 0.45


def _curve(frame: dict, landmarks: np.ndarray, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A lip contour as sorted ``(u, v)`` samples in ``frame``'s coordinates."""
    rel = landmarks[indices, :2].astype(np.float64) - frame["centre"]
    u, v = rel @ frame["u"], rel @ frame["v"]
    order = np.argsort(u)
    return u[order], v[order]


def _bands(frame: dict, landmarks: np.ndarray) -> dict:
    """The four lip contours of a face as sorted ``(u, v)`` curves."""
    return {"upper_outer": _curve(frame, landmarks, UPPER_OUTER),
            "upper_inner": _curve(frame, landmarks, UPPER_INNER),
            "lower_outer": _curve(frame, landmarks, LOWER_OUTER),
            "lower_inner": _curve(frame, landmarks, LOWER_INNER)}


def _frame_points(frame: dict, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Image ``(x, y)`` of mouth-frame coordinates."""
    x = frame["centre"][0] + u * frame["u"][0] + v * frame["v"][0]
    y = frame["centre"][1] + u * frame["u"][1] + v * frame["v"][1]
    return x, y


def lip_extent(source: np.ndarray, source_landmarks: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """How far into each lip band, from its outer contour, the source shows lip: ``{"upper", "lower"}`` ->
    ``(u / half width, extent in [MIN_EXTENT, 1])`` samples across the mouth.

    Along each column a band is walked from the outer contour inwards; it stops being lip where it turns
    much darker than the lip (the cavity, the shadow inside an open mouth) or brighter and less red (teeth),
    compared with the lip's own colour measured on the outer part of the band.
    """
    frame = mouth_frame(source_landmarks)
    bands = _bands(frame, source_landmarks)
    lab = cv2.cvtColor(source.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    columns = np.linspace(-0.85, 0.85, EXTENT_COLUMNS)
    steps = np.linspace(0.0, 1.0, EXTENT_STEPS)
    out = {}
    for name in ("upper", "lower"):
        u = columns * frame["half_width"]
        outer = np.interp(u, *bands[f"{name}_outer"])
        inner = np.interp(u, *bands[f"{name}_inner"])
        v = outer[:, None] + steps[None, :] * (inner - outer)[:, None]
        x, y = _frame_points(frame, np.repeat(u[:, None], EXTENT_STEPS, 1), v)
        samples = cv2.remap(lab, x.astype(np.float32), y.astype(np.float32), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)  # (columns, steps, 3)
        reference = samples[:, (steps >= 0.1) & (steps <= 0.5)].reshape(-1, 3)
        lightness, redness = np.median(reference[:, 0]), np.median(reference[:, 1])
        spread_l = 1.4826 * np.median(np.abs(reference[:, 0] - lightness))
        spread_a = 1.4826 * np.median(np.abs(reference[:, 1] - redness))
        dark = samples[..., 0] < lightness - max(1.5 * spread_l, 8.0)
        teeth = (samples[..., 0] > lightness + 5.0) & (samples[..., 1] < redness - max(1.5 * spread_a, 5.0))
        not_lip = (dark | teeth) & (steps[None, :] >= MIN_EXTENT)
        # The first of two not-lip steps in a row ends the lip.
        ends = not_lip[:, :-1] & not_lip[:, 1:]
        first = np.where(ends.any(1), ends.argmax(1), EXTENT_STEPS - 1)
        extent = np.clip(steps[first], MIN_EXTENT, 1.0)
        extent = np.convolve(np.pad(extent, 1, mode="edge"), np.ones(3) / 3.0, mode="valid")
        out[name] = (columns, extent)
    return out


class ClosedLips:
    """Rebuilds closing lips over a source mouth that is open (see the module docstring).

    Args:
        source: the source crop, RGB uint8 HWC.
        source_landmarks: its ``(478, 3)`` landmarks (crop pixels).
    """

    def __init__(self, source: np.ndarray, source_landmarks: np.ndarray):
        self.source = source
        self.source_opening = mouth_opening(source_landmarks)
        self.frame = mouth_frame(source_landmarks)
        self.bands = _bands(self.frame, source_landmarks)
        self.extent = lip_extent(source, source_landmarks)

    def weight(self, target_landmarks: np.ndarray) -> float:
        """How much of the rebuilt lips to show (0..1): full when the target's lips meet and the source's
        are well apart."""
        opening = mouth_opening(target_landmarks)
        closed = 1.0 - _smoothstep(CLOSED_FULL, CLOSED_BELOW, np.array(opening))
        apart = _smoothstep(SOURCE_MARGIN_START, SOURCE_MARGIN_FULL, np.array(self.source_opening - opening))
        return float(closed * apart)

    def _sample(self, name: str, un: np.ndarray, u_source: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Source lip ``name`` (upper or lower) at relative positions ``un`` across the mouth and ``depth``
        into the band (0 outer contour .. 1 inner), the band cut to its lit lip (:func:`lip_extent`);
        float32 RGB."""
        start = np.interp(u_source, *self.bands[f"{name}_outer"])
        end = np.interp(u_source, *self.bands[f"{name}_inner"])
        reach = np.interp(un, *self.extent[name])
        map_x, map_y = _frame_points(self.frame, u_source, start + depth * reach * (end - start))
        return cv2.remap(self.source, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE).astype(np.float32)

    def apply(self, image: np.ndarray, target_landmarks: np.ndarray) -> None:
        """Draw the closed lips into ``image`` (RGB uint8, modified in place) for ``target_landmarks``."""
        strength = self.weight(target_landmarks)
        if strength <= 0.0:
            return
        frame = mouth_frame(target_landmarks)
        outer = target_landmarks[topology.OUTER_LIPS, :2].astype(np.float64)
        box = _box(outer, 3, image.shape[:2])
        x0, y0, x1, y1 = box
        if x1 - x0 < 4 or y1 - y0 < 4:
            return
        bands = _bands(frame, target_landmarks)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float64)
        px, py = xs - frame["centre"][0], ys - frame["centre"][1]
        u = px * frame["u"][0] + py * frame["u"][1]
        v = px * frame["v"][0] + py * frame["v"][1]
        upper_outer, upper_inner = np.interp(u, *bands["upper_outer"]), np.interp(u, *bands["upper_inner"])
        lower_outer, lower_inner = np.interp(u, *bands["lower_outer"]), np.interp(u, *bands["lower_inner"])
        seam = 0.5 * (upper_inner + lower_inner)
        # Depth into each band: 0 at the outer contour, 1 at the target's inner contour (and in any gap).
        s_upper = np.clip((v - upper_outer) / np.maximum(upper_inner - upper_outer, 1e-3), 0.0, 1.0)
        s_lower = np.clip((lower_outer - v) / np.maximum(lower_outer - lower_inner, 1e-3), 0.0, 1.0)
        source = self.frame
        un = u / frame["half_width"]
        u_source = un * source["half_width"]
        upper = self._sample("upper", un, u_source, s_upper)
        lower = self._sample("lower", un, u_source, s_lower)
        # The two lips meet along the seam, blended over a pixel so that it is not a staircase.
        below = np.clip(v - seam + 0.5, 0.0, 1.0)[..., None]
        lips = upper + below * (lower - upper)

        # The lip line: dark where the lips meet.
        width = 2.0 * frame["half_width"]
        sigma = max(0.6, SEAM_WIDTH * width)
        line = SEAM_DARKNESS * np.exp(-((v - seam) / sigma) ** 2) * (1.0 - _smoothstep(0.8, 1.05, np.abs(un)))
        lips *= (1.0 - line)[..., None]

        # Inside the outer contour (anti-aliased edge, where the source lips' outer edge is sampled as the
        # warp samples it), but not in a gap still left between the inner contours: that is the mouth's.
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((outer - (x0, y0)) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        gap = np.maximum(lower_inner - upper_inner, 0.0)
        in_gap = np.clip(np.minimum(v - upper_inner, lower_inner - v) + 0.5, 0.0, 1.0)
        mask = mask.astype(np.float32) / 255.0
        # Faded in over a few pixels inside the contour, so that the rebuilt lips have no edge of their own.
        feather = max(1.0, EDGE_FEATHER * width)
        alpha = cv2.GaussianBlur(mask, (0, 0), feather) * mask * strength
        alpha *= 1.0 - in_gap * np.clip(gap - 1.0, 0.0, 1.0)
        patch = image[y0:y1, x0:x1].astype(np.float32)
        image[y0:y1, x0:x1] = np.clip(patch + alpha[..., None] * (lips - patch), 0, 255).astype(np.uint8)
