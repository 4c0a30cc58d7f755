"""A profile's silhouette, refilled with skin for the face mesh only: no background down a frontal face.

On a profile, MediaPipe's midline (forehead, nose, lips, chin) runs a few pixels beyond the real silhouette.
The face mesh samples that strip of background; while the target keeps it at the face's outline that is
right, but a target turned towards the camera moves the midline into the middle of the face, and the strip
became a background-coloured stripe down the nose and lips (the mirror texture, :mod:`.mirror`, stretches the
same strip over the far side's midline).

Per source whose midline is its silhouette (the nose tip lies beyond the far side's face outline), a
:class:`FaceTexture` finds the *silhouette band*: pixels inside the mesh's drawn triangles (face and eye/mouth
interiors), within :data:`BAND` of their outline, on the side the face turns to, whose colour is the
background's behind them (the layers' background plate, :mod:`.layers`) rather than the skin's beside them
(:data:`BACKGROUND_LIKE`, :data:`BACKGROUND_NEAR`). Each band pixel takes the colour of the nearest skin that
stays (lip colour beside the lips, nose skin beside the nose). That copy, the *face texture*, is sampled by
the warp wherever the target puts a pixel well inside its own face (further than the band's width from the
target's mesh outline); at the outline, and everywhere outside the face, the photo itself is. A still target
therefore returns the photo exactly (the band stays at the outline); a photo that is not a profile is
untouched and pays nothing.

Only what is clearly background is refilled (:data:`BACKGROUND_NEAR`), and the silhouette's blended edge
only by a pixel (:data:`EDGE`): on the dev profile (51°, navy background) the dark frame of the glasses is
nearer the background than the skin but far from both, and refilled it left the glasses without a bridge;
refilling the whole blended edge as well took the stripe away entirely, but cost identity on that clip
(SFace 0.522 -> 0.480, dlib 0.910 -> 0.887, both embedders preferring the dark line). As it is, the navy
stripe becomes a fainter blue-grey line at no cost in identity.

A 3/4 view's nose can be its silhouette too (dev vox2 5816, 38° over the sea): a turn to the camera spread the
nose's blended edge, half sea and half skin, into a pale blue-grey patch over the far nostril. With
:data:`THREE_QUARTER` set (opt-in: it cost a little SFace on the turned protocol), such a view gets a face
texture for the band beside its nose only (:func:`nose_landmarks`), where the band pixels part of the way from
the skin's colour to the sure background's beside them (:func:`blend_share`) are refilled, and the warp takes
it where the target puts a pixel deeper into its mesh than the source pixel it samples lies in the source's.
(The blue-grey smudge on the nose of the dev 3/4 view pcavs 00373 is another thing: there the nose's edge
lies over the far eye's inner corner, whose white and catch light MediaPipe leaves in the skin triangles
under the eye, and a frontal target stretches them 1.6-2.5x while the mirror texture is gated off.)
"""

from __future__ import annotations

import cv2
import numpy as np

from functools import lru_cache

from ..face import topology
from ..face.canonical import canonical_face_model
from .layers import push_pull_fill, turn_offset

# How far inside the mesh's outline the silhouette band reaches, as a fraction of the crop.
BAND = 0.03
# ``share`` = distance to the background / (distance to the background + distance to the skin), per pixel:
# below the first value a pixel is refilled entirely, above the second it is kept, in between partly ...
BACKGROUND_LIKE = (0.5, 0.85)
# ... and only when its colour is within these RGB distances (0-255) of the background: fully below the
# first, not at all above the second.
BACKGROUND_NEAR = (30.0, 70.0)
# The band is grown by this fraction of the crop (at least a pixel) into the face: the silhouette's edge.
EDGE = 0.004
# Background and skin must differ by at least this (RGB distance): where they are alike (a beige wall) a
# background-coloured strip is no stripe, and the colour test cannot tell them apart.
SEPARATION = 40.0
# In the target, a profile's face texture takes over from the photo between BAND + INNER_MARGIN and
# BAND + INNER_MARGIN + INNER_RAMP (fractions of the crop) inside the mesh's outline.
INNER_MARGIN = 0.01
INNER_RAMP = 0.03
# A 3/4 view's takes over where a pixel lies deeper inside the target's mesh than the source pixel it samples
# lies inside the source's, by TURN_MARGIN (none) to TURN_MARGIN + TURN_RAMP (all), fractions of the crop: its
# nose band is deep inside the mesh already, and a turn to the camera spreads it wider rather than moving it in.
TURN_MARGIN = 0.01
TURN_RAMP = 0.02
NOSE_TIP = 1
# A face whose nose lies this fraction of its outline's width (across the face) off the outline's centre is a
# 3/4 view (MediaPipe: about 0.3 at 35 degrees of yaw, 0.11 at 13): its nose may be its silhouette against the
# background too, and it gets a face texture for the band beside the nose (0.15 does that). None: profiles only,
# the default: on the engine-12 turned protocol (14 dev clips) the nose band cost SFace 0.7534 -> 0.7528, all of
# it on the two clips whose patch it takes away (vox2 5816 -0.0049, pcavs 00373 -0.0025), L1/SSIM unchanged.
THREE_QUARTER: float | None = None
# On a 3/4 view only the band beside the nose is refilled (within NOSE_REACH of the crop of the nose's outline):
# where the nose is the silhouette, a turn to the camera draws the strip of background beside it onto the nose
# tip and the far nostril; the far cheek's outline elsewhere is left as it is (refilled, the face drawn
# frontal came out a little wider than the photo's, and lost likeness: dev lp_s32 SFace -0.006).
NOSE_REACH = 0.03
# Blend share (see blend_share) from which a 3/4 view's nose band pixel is refilled at all, and fully; and its
# RGB distance from the skin-to-background line below which it counts fully, above which not at all.
BLEND_SHARE = (0.15, 0.4)
BLEND_OFF = (30.0, 60.0)


def mesh_mask(points: np.ndarray, triangles: np.ndarray, size: int) -> np.ndarray:
    """``(size, size)`` uint8 mask (1 inside) of the union of ``triangles`` over ``points`` ``(V, 2)``."""
    mask = np.zeros((size, size), np.uint8)
    corners = np.round(np.asarray(points, np.float64)[triangles] * 16).astype(np.int32)
    for polygon in corners:
        cv2.fillConvexPoly(mask, polygon, 1, cv2.LINE_8, 4)
    return mask


def profile_direction(landmarks: np.ndarray) -> np.ndarray | None:
    """Unit vector ``(2,)`` across the face towards the side it turns to, when its midline is its silhouette
    (the nose tip lies beyond the far side's face-outline points), else None."""
    xy, towards, _ = _turn(landmarks)
    if towards is None:
        return None
    beyond = float(xy[NOSE_TIP] @ towards - (xy[topology.FACE_OVAL] @ towards).max())
    return towards if beyond > 0.0 else None


def _turn(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """``(xy (468, 2), unit vector towards the side the face turns to or None, length of the turn offset)``."""
    xy = np.asarray(landmarks, np.float64)[:468, :2]
    offset = turn_offset(xy)
    length = float(np.linalg.norm(offset))
    return xy, (offset / length if length > 0.0 else None), length


@lru_cache(maxsize=1)
def nose_landmarks() -> np.ndarray:
    """Indices of the nose's landmarks: those of MediaPipe's canonical face within 2 units of the midline,
    between the brows' bridge (168) and the nose's base (2), and standing out of the face (z <= -4.8)."""
    canonical = canonical_face_model()[:468]
    return np.flatnonzero((np.abs(canonical[:, 0]) <= 2.0) & (canonical[:, 1] >= -3.4)
                          & (canonical[:, 1] <= 2.2) & (canonical[:, 2] <= -4.8))


def three_quarter_direction(landmarks: np.ndarray) -> np.ndarray | None:
    """Unit vector ``(2,)`` across the face towards the side it turns to, when :data:`THREE_QUARTER` is set and
    the face is turned at least that far (the nose's offset from the outline's centre at least that fraction of
    the outline's width across the face): its nose can be its silhouette against the background; else None.
    A profile (:func:`profile_direction`) is checked first by the caller."""
    if THREE_QUARTER is None:
        return None
    xy, towards, length = _turn(landmarks)
    if towards is None:
        return None
    width = float(np.ptp(xy[topology.FACE_OVAL] @ towards))
    return towards if length >= THREE_QUARTER * width else None


def nearest_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` (float32 HWC) with each unknown pixel (``known`` False) taking the colour of the nearest known
    one, softened a little: the skin just inside a silhouette continues straight across the band (lip colour
    beside the lips, nose skin beside the nose), where a fill from all around averaged them into one tone."""
    _, labels = cv2.distanceTransformWithLabels((~known).astype(np.uint8), cv2.DIST_L2, 5,
                                                labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(known)
    lookup = np.zeros((labels.max() + 1, image.shape[2]), np.float32)
    lookup[labels[ys, xs]] = image[ys, xs]
    filled = cv2.GaussianBlur(lookup[labels], (0, 0), 1.0)
    return np.where(known[..., None], image, filled)


def background_likeness(image: np.ndarray, skin: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: 1 where a pixel (float32 HWC) has the background's colour rather than the
    skin's (:data:`BACKGROUND_LIKE`, :data:`BACKGROUND_NEAR`), 0 where the two are too alike to tell
    (:data:`SEPARATION`). ``skin``, ``background``: per-pixel estimates, float32 HWC."""
    to_background = np.linalg.norm(image - background, axis=2)
    to_skin = np.linalg.norm(image - skin, axis=2)
    share = to_background / np.maximum(to_background + to_skin, 1e-6)
    low, high = BACKGROUND_LIKE
    weight = np.clip((high - share) / (high - low), 0.0, 1.0)
    near, far = BACKGROUND_NEAR
    weight *= np.clip((far - to_background) / (far - near), 0.0, 1.0)
    weight[np.linalg.norm(skin - background, axis=2) < SEPARATION] = 0.0
    return weight.astype(np.float32)


def blend_share(image: np.ndarray, skin: np.ndarray, background: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 in [0, 1]: how much of each pixel (float32 HWC) is the background blended into the
    skin, for a 3/4 view's nose band: the pixel's position along the line from the skin's colour to the
    background's (:data:`BLEND_SHARE`, none to all), while it lies near that line (:data:`BLEND_OFF`); 0
    where skin and background are too alike to tell (:data:`SEPARATION`). Where :func:`background_likeness`
    takes only what is clearly background, this takes the silhouette's blended edge too: spread by a turn to
    the camera over the far nostril, half sea and half skin made a pale blue-grey patch."""
    axis = background - skin
    length2 = np.maximum((axis * axis).sum(2), 1e-6)
    offset = image - skin
    share = (offset * axis).sum(2) / length2
    off_line = np.linalg.norm(offset - share[..., None] * axis, axis=2)
    low, high = BLEND_SHARE
    weight = np.clip((share - low) / (high - low), 0.0, 1.0)
    near, far = BLEND_OFF
    weight *= np.clip((far - off_line) / (far - near), 0.0, 1.0)
    weight[np.sqrt(length2) < SEPARATION] = 0.0
    return weight.astype(np.float32)


class FaceTexture:
    """The face mesh's copy of a profile source, its silhouette band refilled (see the module's text).

    Args:
        source: the source crop, RGB uint8 HWC (square).
        landmarks: its ``(478, 3)`` landmarks (crop pixels).
        points: the control mesh's source vertices ``(V, 2)``.
        face: the triangles the mesh draws from the source (seen face triangles) ``(F, 3)``.
        interiors: the eye and mouth interior triangles ``(I, 3)``.
        plate: the background behind the person (RGB uint8, the layers' plate), or None: no band found.
        person: the person mask (the layers', [0, 1]), or None. Given, a 3/4 view's background behind each band
            pixel is the nearest sure background's (outside the mask, spread inwards), not the plate's: the
            plate's fill under the person mixes both sides of the head, where the wall right beside the
            silhouette is what the band's blended edge shows.

    Attributes:
        active: whether the source has a band (a profile over a background unlike its skin).
        image: the face texture (the source with its band refilled), or the source itself when not active.
    """

    def __init__(self, source: np.ndarray, landmarks: np.ndarray, points: np.ndarray, face: np.ndarray,
                 interiors: np.ndarray, plate: np.ndarray | None, person: np.ndarray | None = None):
        size = source.shape[0]
        self.size = size
        self.image = source
        self.active = False
        self.three_quarter = False
        profile = profile_direction(landmarks)
        towards = profile if profile is not None else three_quarter_direction(landmarks)
        if plate is None or towards is None:
            return
        skin_mask = mesh_mask(points, face, size) > 0
        drawn = (skin_mask | (mesh_mask(points, interiors, size) > 0)).astype(np.uint8)
        depth = cv2.distanceTransform(drawn, cv2.DIST_L2, 3)
        self.depth = depth  # how deep each source pixel lies inside the drawn mesh (see inner_weight)
        band = BAND * size
        # Only the outline on the side the face turns to: its silhouette against the background (the near
        # side's outline is the cheek's, against hair and ears).
        centre = np.asarray(landmarks, np.float64)[topology.FACE_OVAL, :2].mean(0)
        across = (np.arange(size) - centre[0])[None, :] * towards[0] + (np.arange(size) - centre[1])[:, None] * towards[1]
        near_outline = (drawn > 0) & (depth <= band) & (across > 0.0)
        three_quarter = self.three_quarter = profile is None
        if three_quarter:  # only beside the nose
            nose = np.zeros((size, size), np.uint8)
            hull = cv2.convexHull(np.round(np.asarray(landmarks)[nose_landmarks(), :2]).astype(np.int32))
            cv2.fillConvexPoly(nose, hull, 1)
            reach = max(1, int(round(NOSE_REACH * size)))
            near_outline &= cv2.dilate(nose, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * reach + 1,) * 2)) > 0
        inner_skin = skin_mask & (depth > band)
        if not near_outline.any() or not inner_skin.any():
            return
        image = source.astype(np.float32)
        # The skin beside each pixel: the face's inner skin spread outwards.
        skin = push_pull_fill(image, inner_skin)
        if three_quarter:
            behind = plate.astype(np.float32) if person is None else push_pull_fill(image, person < 0.01)
            weight = blend_share(image, skin, behind) * near_outline
        else:
            weight = background_likeness(image, skin, plate.astype(np.float32)) * near_outline
        if weight.max() <= 0.0:
            return
        grow = max(1, int(round(EDGE * size)))
        weight = cv2.dilate(weight, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2)) * near_outline
        # Refilled from all the skin that stays, the silhouette's own skin included.
        skin = nearest_fill(image, skin_mask & (weight <= 0.0))
        alpha = (cv2.GaussianBlur(weight, (0, 0), 0.5) * (drawn > 0))[..., None]
        self.image = np.clip(image * (1.0 - alpha) + skin * alpha + 0.5, 0, 255).astype(np.uint8)
        self.active = bool((self.image != source).any())

    def inner_weight(self, drawn: np.ndarray, scale: float, map_x: np.ndarray,
                     map_y: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
        """How much each target pixel takes the face texture: ``(weight (h, w) float32, (x0, y0, x1, y1))``
        in full-resolution pixels, or None. ``drawn``: the target's reduced-resolution mask (bool) of the
        pixels the mesh's face or interiors cover, at ``scale`` of the crop; ``map_x``, ``map_y``: where each
        target pixel samples the source (``cv2.remap``'s maps).

        A profile's texture is taken deeper than its band inside the target's mesh (:data:`INNER_MARGIN`,
        :data:`INNER_RAMP`); a 3/4 view's where the target puts a pixel deeper inside its mesh than the source
        pixel it samples lies inside the source's (:data:`TURN_MARGIN`, :data:`TURN_RAMP`). Either way the band
        kept at the target's outline stays the photo (a still target is the photo exactly)."""
        side = drawn.shape[0]
        depth = cv2.distanceTransform(drawn.astype(np.uint8), cv2.DIST_L2, 3) * (1.0 / scale)
        if self.three_quarter:
            margin, ramp = TURN_MARGIN * self.size, TURN_RAMP * self.size
            deep = depth > margin
        else:
            start = (BAND + INNER_MARGIN) * self.size
            deep = np.clip((depth - start) * (1.0 / (INNER_RAMP * self.size)), 0.0, 1.0)
        rows, cols = np.nonzero(deep.any(1))[0], np.nonzero(deep.any(0))[0]
        if not len(rows):
            return None
        ly0, ly1 = max(rows[0] - 1, 0), min(rows[-1] + 2, side)
        lx0, lx1 = max(cols[0] - 1, 0), min(cols[-1] + 2, side)
        x0, y0 = int(lx0 / scale), int(ly0 / scale)
        x1, y1 = min(int(np.ceil(lx1 / scale)), self.size), min(int(np.ceil(ly1 / scale)), self.size)
        if not self.three_quarter:
            full = cv2.resize(deep[ly0:ly1, lx0:lx1], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
            return full, (x0, y0, x1, y1)
        full = cv2.resize(depth[ly0:ly1, lx0:lx1], (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
        sampled = cv2.remap(self.depth, map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1], cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        return np.clip((full - sampled - margin) * (1.0 / ramp), 0.0, 1.0), (x0, y0, x1, y1)

    def apply(self, image: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, drawn: np.ndarray,
              scale: float) -> None:
        """Blend the face texture, sampled through the warp's maps, into ``image`` (the warped photo, RGB
        uint8, changed in place) where the target moves the source's pixels deeper into the face
        (:meth:`inner_weight`)."""
        inner = self.inner_weight(drawn, scale, map_x, map_y)
        if inner is None:
            return
        weight, (x0, y0, x1, y1) = inner
        patch = cv2.remap(self.image, map_x[y0:y1, x0:x1], map_y[y0:y1, x0:x1], cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
        region = image[y0:y1, x0:x1]
        region[:] = cv2.blendLinear(patch, region, weight, 1.0 - weight)
