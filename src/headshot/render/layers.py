"""The person moves, the background stays: a person mask, a background plate, and their composite.

The warp moves control points around the face (hair, ears, neck), and every pixel between them and the fixed
frame border bends with the head, background included: a straight shelf edge behind the speaker bowed into a
wave. Here the warped image is kept only where the warped *person* is (the source's person mask carried by
the same flow, plus the target's face); everywhere else the output shows a still background plate: the
source with the person removed and the hole filled, row by row, from the background beside it, so what a head turn
reveals behind the head is plausible background instead of stretched hair or a copy of the head.

No segmentation network ships with headshot, so the person mask is GrabCut's (as :mod:`.silhouette`'s head
mask) seeded for a head and shoulders: the face oval and the neck certain, an ellipse around the head (raised
for hair) and a trapezoid widening from the neck to the bottom of the crop probable foreground; for a turned
face these move behind it, and beyond its far outline is certain background (:func:`person_mask`).
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import topology
from .mesh import face_up
from .silhouette import grabcut_frame, grabcut_mask, head_seeds

# The person mask is grown by this fraction of the crop before the background under it is filled, so that
# the plate carries no fringe of hair or skin.
PLATE_GROW = 0.005
# The background plate's hole is filled along rows (:func:`row_fill`), smoothed over this fraction of the crop.
FILL_SMOOTH = 0.02
# The row fill reads the wall SEED_MARGIN of the crop away from the hole, and weighs it left and right by
# 1 / distance ** FILL_POWER. Read right at the hole's edge (the hair and shadow GrabCut leaves at the person's
# outline) and by 1 / distance (the far side of the person tinting it all across), as by default, the fill
# beside a turned head is darker and greyer than the wall, and the old head outline stays behind as a dark arc
# once the head turns to the camera. SEED_MARGIN 0.02 with FILL_POWER 2 takes the arc away (dev 3/4 view pcavs
# 00373, 256 px eval crop: plate 2-12 px inside the hole vs the wall 4-20 px outside it, beside the face,
# 8.2 -> 1.3 RGB levels; vox2 5816 8.9 -> 6.1) but is not the default: on the engine-12 turned protocol SFace
# 0.7534 -> 0.7528, L1 0.0805 -> 0.0807, SSIM 0.6953 -> 0.6945, background L1 0.0705 either way (the real
# frames show hair where the arc was; the darker fill is nearer to it). Growing the hole over that fringe
# instead (PLATE_GROW 0.015) took the arc away too, and cost SFace 0.0075 on pcavs 00373.
FILL_POWER = 1.0
SEED_MARGIN = 0.0
# Where the warp moves a pixel less than this (pixels), the warped image is the output (see Layers.composite).
STILL_FLOW = 1.0
# The person mask is grown by this fraction of the crop (see :class:`Layers`).
PERSON_GROW = 0.02
# The outer eye corners: the face outline below their height is swept over a turned face's far cheek.
SWEEP_BELOW = (33, 263)
# A face whose nose lies more than this fraction of the face's width off its outline's centre is turned
# (about 15 degrees of yaw): its person seeds move back by BEHIND x that offset, and beyond its far outline,
# by FAR_MARGIN of the face's width, is certain background (see person_mask).
TURNED_OFFSET = 0.06
BEHIND = 1.0
FAR_MARGIN = 0.12


def turn_offset(xy: np.ndarray) -> np.ndarray:
    """``(2,)`` image-pixel offset of the nose tip (4) from the face outline's centre, across the face
    (perpendicular to its chin-to-forehead axis): about zero for a frontal face, towards the side the face
    turns to for a turned one. ``xy``: the ``(478+, 2)`` landmarks."""
    xy = np.asarray(xy, np.float64)[:, :2]
    up = face_up(xy)
    across = np.array([-up[1], up[0]])
    return across * float((xy[4] - xy[topology.FACE_OVAL].mean(0)) @ across)


def person_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 mask in [0, 1] of the person (head, hair, neck, shoulders) in a square RGB uint8
    crop with its ``(478, 3)`` landmarks (crop pixels); soft over a pixel or two at the outline.

    A turned head is not centred on its face: the skull and the body lie behind the face (away from the
    side it turns to), and beyond the face's far outline there is background. The seeds follow: the head
    ellipse, the neck and the body move back by :data:`BEHIND` × the nose's offset (:func:`turn_offset`),
    and beyond the far outline (by :data:`FAR_MARGIN` of the face's width, above the chin) is certain
    background. Without it GrabCut took the sea beside a 38° turned face for person and the white shirt
    below it for background, and the background plate was filled with shirt white where the sea had been.
    """
    size = image.shape[0]
    small, xy, oval, centre, radius = grabcut_frame(image, landmarks)
    side = small.shape[0]
    chin = xy[152]
    width = 2.0 * radius[0]
    offset = turn_offset(xy)
    turned = float(np.linalg.norm(offset)) > TURNED_OFFSET * width
    back = -BEHIND * offset if turned else np.zeros(2)

    seeds = head_seeds(side, centre + back, radius)
    neck_x = chin[0] + back[0]
    body = np.array([[neck_x - 0.5 * width, chin[1]], [neck_x + 0.5 * width, chin[1]],
                     [neck_x + 1.6 * width, side + 1.6 * width], [neck_x - 1.6 * width, side + 1.6 * width]])
    cv2.fillPoly(seeds, [np.round(body).astype(np.int32)], cv2.GC_PR_FGD)
    if turned:
        towards = offset / np.linalg.norm(offset)  # across the face, to the side it turns to
        far = float(np.max(np.vstack([oval + offset, xy[:468]]) @ towards))
        grid = np.mgrid[0:side, 0:side][::-1].reshape(2, -1).T.astype(np.float64)
        beyond = grid @ towards > far + FAR_MARGIN * width
        up = face_up(xy)
        above = grid @ up > chin @ up
        seeds.reshape(-1)[beyond & above] = cv2.GC_BGD
    cv2.fillConvexPoly(seeds, np.round(centre + (oval - centre) * 0.9).astype(np.int32), cv2.GC_FGD)
    # The skull just above the face outline is person whatever GrabCut thinks of dark or grey hair.
    cv2.ellipse(seeds, (int(round(centre[0])), int(round(centre[1]))),
                (int(round(1.0 * radius[0])), int(round(1.12 * radius[1]))), 0, 180, 360, cv2.GC_FGD, -1)
    neck = np.array([[neck_x - 0.2 * width, chin[1] - 0.1 * width], [neck_x + 0.2 * width, chin[1] - 0.1 * width],
                     [neck_x + 0.2 * width, chin[1] + 0.35 * width], [neck_x - 0.2 * width, chin[1] + 0.35 * width]])
    cv2.fillConvexPoly(seeds, np.round(neck).astype(np.int32), cv2.GC_FGD)
    edge = max(2, side // 64)
    shoulders = int(np.clip(chin[1], 0, side))
    seeds[:edge] = cv2.GC_BGD
    seeds[:shoulders, :edge] = cv2.GC_BGD
    seeds[:shoulders, -edge:] = cv2.GC_BGD
    mask = grabcut_mask(small, seeds, centre, size)
    return cv2.GaussianBlur(mask, (0, 0), max(0.7, size / 256))


def background_plate(image: np.ndarray, person: np.ndarray) -> np.ndarray:
    """The source crop (RGB uint8) with the person (``person`` mask, [0, 1]) removed and the hole filled from
    the background beside it (:func:`row_fill`)."""
    size = image.shape[0]
    grow = max(1, int(round(PLATE_GROW * size)))
    hole = cv2.dilate((person > 0.01).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                                 (2 * grow + 1, 2 * grow + 1)))
    if not hole.any():
        return image.copy()
    if hole.all():
        return np.full_like(image, int(np.median(image)))
    seeds = hole == 0
    margin = int(round(SEED_MARGIN * size))
    if margin > 0:  # the wall a little away from the person (not the hair or shadow at its outline)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * margin + 1,) * 2)
        wall = cv2.erode(seeds.astype(np.uint8), kernel) > 0
        seeds = wall if wall.any() else seeds
    filled = row_fill(image.astype(np.float32), seeds, FILL_SMOOTH * size)
    weight = cv2.GaussianBlur(hole.astype(np.float32), (0, 0), 1.0)[..., None]
    return np.clip(image * (1.0 - weight) + filled * weight + 0.5, 0, 255).astype(np.uint8)


def row_fill(image: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` (float32 HWC) with its unknown pixels (``known`` False) filled along each row from the
    nearest known pixels left and right of them, weighted by inverse distance to :data:`FILL_POWER`; rows
    with none from :func:`push_pull_fill`. The known side colours are their neighbourhood's (a known-weighted
    Gaussian of ``sigma`` px), and the fill is smoothed down the columns by ``sigma``: soft, without streaks.

    What a head reveals lies beside it, at its own height: a wall, a horizon, a shelf continues across the
    hole, where a fill from all around (push-pull) brought the shirt's colour up into the gap beside the face.
    """
    known_f = known.astype(np.float32)
    local = cv2.GaussianBlur(image * known_f[..., None], (0, 0), sigma)
    local /= np.maximum(cv2.GaussianBlur(known_f, (0, 0), sigma), 1e-6)[..., None]
    height, width = known.shape
    column = np.broadcast_to(np.arange(width), (height, width))
    left = np.maximum.accumulate(np.where(known, column, -1), axis=1)
    right = np.minimum.accumulate(np.where(known, column, width)[:, ::-1], axis=1)[:, ::-1]
    rows = np.arange(height)[:, None]
    left_weight = np.where(left >= 0, 1.0 / np.maximum(column - left, 1) ** FILL_POWER, 0.0).astype(np.float32)
    right_weight = np.where(right < width, 1.0 / np.maximum(right - column, 1) ** FILL_POWER, 0.0).astype(np.float32)
    total = left_weight + right_weight
    filled = (local[rows, np.clip(left, 0, width - 1)] * left_weight[..., None]
              + local[rows, np.clip(right, 0, width - 1)] * right_weight[..., None])
    filled /= np.maximum(total, 1e-9)[..., None]
    if not total.all():
        filled = np.where((total > 0)[..., None], filled, push_pull_fill(image, known))
    filled = cv2.GaussianBlur(filled, (0, 0), sigmaX=1.0, sigmaY=sigma)
    return np.where(known[..., None], image, filled)


def push_pull_fill(image: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``image`` (float32 HWC) with its unknown pixels (``known`` False) filled smoothly from the known ones:
    a pyramid of known-weighted averages (push-pull, Gortler et al. 1996), each level filling the holes of
    the one above. What a head reveals behind it is a soft continuation of the background's colours: no
    streaks of hair or of lines dragged into the hole, as edge-propagating inpainting gives."""
    levels = []
    colour, weight = image * known[..., None], known.astype(np.float32)
    while min(weight.shape) > 4:
        levels.append((colour, weight))
        colour, weight = cv2.pyrDown(colour), cv2.pyrDown(weight)
    filled = colour.reshape(*weight.shape, -1) / np.maximum(weight, 1e-6)[..., None]
    for colour, weight in reversed(levels):
        up = cv2.pyrUp(filled, dstsize=(weight.shape[1], weight.shape[0])).reshape(*weight.shape, -1)
        own = colour.reshape(*weight.shape, -1) / np.maximum(weight, 1e-6)[..., None]
        trust = np.clip(weight, 0.0, 1.0)[..., None]
        filled = own * trust + up * (1.0 - trust)
    return np.where(known[..., None], image, filled)


class Layers:
    """A source's person mask and background plate, and the per-frame composite.

    Args:
        source: the source crop, RGB uint8 HWC (square).
        landmarks: its ``(478, 3)`` landmarks (crop pixels).
        head: the head mask (:func:`headshot.render.silhouette.head_mask`), merged into the person's.
    """

    def __init__(self, source: np.ndarray, landmarks: np.ndarray, head: np.ndarray | None = None):
        person = person_mask(source, landmarks)
        if head is not None:
            person = np.maximum(person, head)
        # Generous by a few pixels: hair GrabCut missed moves with the head instead of staying behind.
        grow = max(1, int(round(PERSON_GROW * source.shape[0])))
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
        # A sharp edge (a pixel or two): in a soft band the still plate would show through a still person.
        person = (person > 0.5).astype(np.float32)
        self.person = cv2.GaussianBlur(cv2.dilate(person, kernel), (0, 0), max(0.7, source.shape[0] / 512))
        self.plate = background_plate(source, self.person)
        # The face is drawn by the face mesh only: where anything else (rings of hair and neck carried past
        # a turned face's profile) samples the source's face, it would paint a second nose beside the face.
        # On a turned face MediaPipe's far outline falls inside the real one: the outline below the eyes is
        # swept towards the side the nose points to by the nose's offset from the outline's centre, so the
        # far cheek's skin beyond the landmarks counts as face too. Only below the eyes, and across the face
        # (perpendicular to its chin-to-forehead axis): swept as a whole and along image x, the forehead's
        # outline cut the hair above the temple out of the person (on a tilted head even without a turn),
        # and the plate showed through it as a crescent between face and hair once the head moved.
        xy = np.asarray(landmarks, np.float64)[:468, :2]
        offset = turn_offset(xy)
        height = xy @ face_up(xy)
        cheek = height <= height[list(SWEEP_BELOW)].mean()
        swept = np.vstack([xy, xy[cheek] + offset])
        hull = cv2.convexHull(np.round(swept).astype(np.int32))
        face = np.zeros_like(self.person)
        cv2.fillConvexPoly(face, hull, 1.0)
        face = cv2.erode(face, kernel)
        self.carried = self.person * (1.0 - cv2.GaussianBlur(face, (0, 0), grow / 2.0))

    def composite(self, warped: np.ndarray, flow_x: np.ndarray, flow_y: np.ndarray, flow: np.ndarray,
                  target_landmarks: np.ndarray, face_weight: tuple | None = None) -> np.ndarray:
        """The warped person over the still plate, a new RGB uint8 image (``warped`` is left as it is).

        ``flow_x``/``flow_y``: the absolute sampling maps the warp used (``cv2.remap``'s); the person mask is
        carried by them. ``flow``: the warp's backward flow ``(H, W, 2)``: where it moves nothing (under
        :data:`STILL_FLOW` px) the warped image is kept as it is, so a still frame is the source exactly (no
        plate along the person's outline). The target's face (the hull of its landmarks) is always person, as is ``face_weight``
        ``(weight (h, w), (x0, y0, x1, y1))`` (the mirror texture's blend weight in its box).
        """
        alpha = cv2.remap(self.carried, flow_x, flow_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        still = 1.0 - cv2.magnitude(flow[..., 0], flow[..., 1]) * (1.0 / STILL_FLOW)
        np.maximum(alpha, still, out=alpha)
        hull = cv2.convexHull(np.round(np.asarray(target_landmarks)[:468, :2] * 16).astype(np.int32))
        cv2.fillConvexPoly(alpha, hull, 1.0, cv2.LINE_8, 4)
        if face_weight is not None:
            weight, (x0, y0, x1, y1) = face_weight
            np.maximum(alpha[y0:y1, x0:x1], weight, out=alpha[y0:y1, x0:x1])
        return cv2.blendLinear(warped, self.plate, alpha, 1.0 - alpha)
