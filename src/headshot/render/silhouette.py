"""The head's silhouette in a source portrait (face, hair, ears), so that the warp moves it as one piece.

No segmentation network ships with headshot, so the mask comes from OpenCV's GrabCut (Rother et al.,
"GrabCut", SIGGRAPH 2004) seeded by the face landmarks: the face oval is certain foreground, an ellipse
around it (raised for hair) probable foreground, the rest probable background and the top and side
edges of the crop certain background. Done once per source, on at most a 256 px copy (~0.1-0.3 s).

GrabCut initialises its colour models with k-means, which draws from OpenCV's global random generator;
:func:`head_mask` seeds that generator with :data:`GRABCUT_SEED` first, so one photo always gets the same
mask (and the same output frames), however many sources the process prepared before. The generator is
left at that seed's state afterwards: nothing in headshot relies on OpenCV's random numbers.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..face import topology

WORK_SIZE = 256  # grabCut runs at this side at most
ITERATIONS = 4
GRABCUT_SEED = 0  # cv2.setRNGSeed before grabCut: the same photo, the same mask


def head_mask(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 mask in [0, 1] of the head in a square RGB uint8 crop with its ``(478, 3)``
    landmarks (crop pixels); softened over a few pixels at the silhouette."""
    size = image.shape[0]
    small, xy, oval, centre, radius = grabcut_frame(image, landmarks)
    side = small.shape[0]
    seeds = head_seeds(side, centre, radius)
    cv2.fillConvexPoly(seeds, np.round(centre + (oval - centre) * 0.9).astype(np.int32), cv2.GC_FGD)
    edge = max(2, side // 64)
    seeds[:edge] = cv2.GC_BGD
    seeds[:, :edge] = cv2.GC_BGD
    seeds[:, -edge:] = cv2.GC_BGD
    mask = grabcut_mask(small, seeds, centre, size)
    return cv2.GaussianBlur(mask, (0, 0), max(1.0, size / 128))


def grabcut_frame(image: np.ndarray, landmarks: np.ndarray):
    """The working copy GrabCut runs on: ``(small, xy, oval, centre, radius)`` — the RGB uint8 image scaled
    to at most :data:`WORK_SIZE`, the landmarks' xy at that scale, the face oval's points,
    their centre and half-extent (x, y; at least 2 px)."""
    scale = min(1.0, WORK_SIZE / image.shape[0])
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    xy = np.asarray(landmarks, np.float64)[:, :2] * scale
    oval = xy[topology.FACE_OVAL]
    centre = oval.mean(0)
    radius = np.maximum(np.abs(oval - centre).max(0), 2.0)
    return small, xy, oval, centre, radius


def head_seeds(side: int, centre: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """``(side, side)`` GrabCut labels: probable background, with an ellipse around the face (raised for
    hair) probable foreground."""
    seeds = np.full((side, side), cv2.GC_PR_BGD, np.uint8)
    cv2.ellipse(seeds, (int(round(centre[0])), int(round(centre[1] - 0.25 * radius[1]))),
                (int(round(1.45 * radius[0])), int(round(1.45 * radius[1]))), 0, 0, 360, cv2.GC_PR_FGD, -1)
    return seeds


def grabcut_mask(small: np.ndarray, seeds: np.ndarray, centre: np.ndarray, size: int) -> np.ndarray:
    """GrabCut on the working copy ``small`` (RGB uint8) from its ``seeds`` (changed in place), seeded with
    :data:`GRABCUT_SEED`; the foreground part connected to ``centre`` (working-copy pixels) is kept, and the
    ``(size, size)`` float32 0/1 mask returned, unblurred."""
    side = small.shape[0]
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    try:
        cv2.setRNGSeed(GRABCUT_SEED)
        cv2.grabCut(np.ascontiguousarray(small[..., ::-1]), seeds, None, background_model, foreground_model,
                    ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # e.g. a flat image where no colour model can be fitted: the certain seeds only
        seeds[seeds != cv2.GC_FGD] = cv2.GC_BGD
    mask = np.isin(seeds, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.float32)
    # Keep the part connected to the face (drop foreground islands in the background).
    count, labels = cv2.connectedComponents(mask.astype(np.uint8))
    if count > 2:
        face_label = labels[int(np.clip(round(centre[1]), 0, side - 1)), int(np.clip(round(centre[0]), 0, side - 1))]
        if face_label:
            mask = (labels == face_label).astype(np.float32)
    if side != size:
        mask = cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
    return mask
