"""Eyes for the warp engine: lid skin over closing eyes.

The warp alone closes an eye by stretching the thin band of upper-lid skin and lashes of the open source
eye down over it, which shows streaks of lashes and iris. When a target eye is much less open than the
source's, the area the open eye used to show (from the open upper-lid line down to the target's closed
lid line) is covered with the source's lid skin colour, darkening slightly towards a soft lash line.
Gaze needs nothing here: the eyeball is fanned from the iris centre in the mesh, so moving the iris
landmarks moves the iris.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import topology

# Closure (1 - target openness / source openness) where lid skin starts to show, and where it is full.
CLOSURE_START, CLOSURE_FULL = 0.35, 0.8
# Below this source openness (lid gap / eye width) the source eye is already closed: nothing to do.
MIN_SOURCE_OPENNESS = 0.12


def _smoothstep(edge0: float, edge1: float, x: float) -> float:
    t = min(max((x - edge0) / (edge1 - edge0), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def _eye_parts(loop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upper and lower lid vertex lists of an eye loop, both running from corner ``loop[0]`` to
    corner ``loop[8]``."""
    return loop[0:9], np.r_[loop[8:], loop[0]][::-1]


def eye_openness(landmarks: np.ndarray, loop: np.ndarray) -> float:
    """Mean lid gap divided by the eye width (dimensionless; about 0.25-0.35 for an open eye)."""
    upper, lower = _eye_parts(loop)
    gap = np.linalg.norm(landmarks[upper[1:-1], :2] - landmarks[lower[1:-1], :2], axis=1).mean()
    width = np.linalg.norm(landmarks[loop[8], :2] - landmarks[loop[0], :2])
    return float(gap / max(width, 1e-6))


class EyeLids:
    """Covers closing eyes of rendered frames with the source's lid skin.

    Args:
        source: the source crop, RGB uint8 HWC.
        source_landmarks: its ``(478, 3)`` landmarks (crop pixels).
    """

    def __init__(self, source: np.ndarray, source_landmarks: np.ndarray):
        self.eyes = []
        for loop in (topology.RIGHT_EYE, topology.LEFT_EYE):
            openness = eye_openness(source_landmarks, loop)
            upper, lower = _eye_parts(loop)
            xy = source_landmarks[:, :2].astype(np.float64)
            width = float(np.linalg.norm(xy[loop[8]] - xy[loop[0]]))
            # Lid skin: a band above the upper lid, clear of the lashes and below the brow.
            band_low = xy[upper] - np.array([0.0, 0.12 * width])
            band_high = xy[upper] - np.array([0.0, 0.30 * width])
            polygon = np.vstack([band_low, band_high[::-1]])
            skin = self._pixels_in(source, polygon)
            eye = self._pixels_in(source, xy[loop])
            if len(skin) < 4 or len(eye) < 4:
                self.eyes.append(None)
                continue
            skin_rgb = np.median(skin, axis=0)
            lash_rgb = np.percentile(eye, 8, axis=0)
            # Open-eye lid shape relative to the lower lid, in units of eye width, for each lid pair.
            opening = (xy[upper] - xy[lower]) / max(width, 1e-6)
            self.eyes.append({"loop": loop, "openness": openness, "skin": skin_rgb, "lash": lash_rgb,
                              "opening": opening})

    @staticmethod
    def _pixels_in(image: np.ndarray, polygon: np.ndarray) -> np.ndarray:
        x0, y0 = np.maximum(np.floor(polygon.min(0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(polygon.max(0)).astype(int) + 1, image.shape[1::-1])
        if x1 <= x0 or y1 <= y0:
            return np.zeros((0, 3), np.float32)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round(polygon - (x0, y0)).astype(np.int32)], 1)
        return image[y0:y1, x0:x1][mask > 0].astype(np.float32)

    def apply(self, image: np.ndarray, target_landmarks: np.ndarray) -> None:
        """Cover the eyes of ``image`` (RGB uint8, modified in place) that ``target_landmarks`` close."""
        for eye in self.eyes:
            if eye is None or eye["openness"] < MIN_SOURCE_OPENNESS:
                continue
            closure = 1.0 - eye_openness(target_landmarks, eye["loop"]) / eye["openness"]
            strength = _smoothstep(CLOSURE_START, CLOSURE_FULL, closure)
            if strength > 0.0:
                self._cover(image, target_landmarks, eye, strength)

    def _cover(self, image: np.ndarray, target_landmarks: np.ndarray, eye: dict, strength: float) -> None:
        loop = eye["loop"]
        upper, lower = _eye_parts(loop)
        xy = target_landmarks[:, :2].astype(np.float64)
        width = float(np.linalg.norm(xy[loop[8]] - xy[loop[0]]))
        if width < 4.0:
            return
        # Where the open upper lid would be for this target, and the closed lid line.
        open_lid = xy[lower] + eye["opening"] * width
        closed_lid = xy[upper]
        region = np.vstack([open_lid, closed_lid[::-1]])
        feather = max(0.6, 0.06 * width)
        pad = 3.0 * feather + 2.0
        x0, y0 = np.maximum(np.floor(region.min(0) - pad).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(region.max(0) + pad).astype(int) + 1, image.shape[1::-1])
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        offset = np.array([x0, y0], np.float64)
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        cv2.fillPoly(mask, [np.round((region - offset) * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
        cv2.polylines(mask, [np.round((closed_lid - offset) * 16).astype(np.int32)], False, 255,
                      max(1, int(round(0.04 * width))), cv2.LINE_8, 4)
        alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255.0, (0, 0), feather) * strength

        # Lid skin, shaded darker towards the lash line, plus the lash line itself.
        lash = np.zeros_like(mask)
        thickness = max(1, int(round(0.025 * width)))
        cv2.polylines(lash, [np.round((closed_lid - offset) * 16).astype(np.int32)], False, 255,
                      thickness, cv2.LINE_AA, 4)
        lash = cv2.GaussianBlur(lash.astype(np.float32) / 255.0, (0, 0), max(0.5, 0.02 * width))
        shade = cv2.GaussianBlur(lash, (0, 0), 0.12 * width)
        shade /= max(float(shade.max()), 1e-6)
        colour = eye["skin"][None, None] * (1.0 - 0.25 * shade)[..., None]
        lash_weight = np.clip(lash * 1.5, 0.0, 0.7)[..., None]
        colour = colour + lash_weight * (eye["lash"][None, None] - colour)
        patch = image[y0:y1, x0:x1].astype(np.float32)
        a = alpha[..., None]
        image[y0:y1, x0:x1] = np.clip(patch + a * (colour - patch), 0, 255).astype(np.uint8)
