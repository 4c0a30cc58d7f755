"""MediaPipe FaceLandmarker (Tasks API) wrapped for headshot.

Conventions: images are RGB uint8 HWC. Landmarks are float32 ``(478, 3)`` in *pixels* of the analysed
image: x to the right, y down, z towards the camera scaled like x (MediaPipe's normalised z times the
image width), so that the three axes share one unit.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np

from ..assets import face_landmarker_path
from ..errors import NoFaceError, OptionError

N_LANDMARKS = 478
N_BLENDSHAPES = 52

# MediaPipe's face detector stops finding faces much below this size (pixels, landmark box height).
MIN_FACE_PIXELS = 24


@dataclass
class FaceObservation:
    """One face found in one image.

    Attributes:
        landmarks: ``(478, 3)`` float32, pixels of the analysed image (see module docstring).
        blendshapes: ``(52,)`` float32 in [0, 1], MediaPipe's ARKit-style coefficients.
        pose_matrix: ``(4, 4)`` float32, MediaPipe's facial transformation matrix (canonical face, cm,
            to camera space).
        blendshape_names: names of the 52 coefficients, in order.
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray = field(default_factory=lambda: np.zeros(N_BLENDSHAPES, np.float32))
    pose_matrix: np.ndarray = field(default_factory=lambda: np.eye(4, dtype=np.float32))
    blendshape_names: tuple[str, ...] = ()

    @property
    def box(self) -> tuple[float, float, float, float]:
        """Landmark bounding box ``(x0, y0, x1, y1)`` in pixels."""
        xy = self.landmarks[:, :2]
        x0, y0 = xy.min(axis=0)
        x1, y1 = xy.max(axis=0)
        return float(x0), float(y0), float(x1), float(y1)

    @property
    def size(self) -> float:
        """Face size in pixels: the larger side of the landmark box."""
        x0, y0, x1, y1 = self.box
        return max(x1 - x0, y1 - y0)

    def blendshape(self, name: str) -> float:
        return float(self.blendshapes[self.blendshape_names.index(name)])


@contextlib.contextmanager
def _quiet_native_logs():
    """Silence the C++ (glog/absl) lines MediaPipe prints to stderr when a graph starts."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (e.g. some notebooks)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class FaceAnalyzer:
    """Find faces and their 478 landmarks, blendshapes and head pose.

    Args:
        video: ``True`` for a stream of frames (MediaPipe VIDEO mode: tracking, timestamps required),
            ``False`` for independent images (IMAGE mode).
        max_faces: how many faces to look for.
        min_confidence: detection / presence threshold.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, video: bool = False, max_faces: int = 4, min_confidence: float = 0.5):
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from mediapipe.tasks.python import BaseOptions, vision

        self.video = video
        options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(face_landmarker_path())),
            running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE,
            num_faces=max_faces,
            min_face_detection_confidence=min_confidence,
            min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True,
            output_facial_transformation_matrixes=True,
        )
        with _quiet_native_logs():
            self._landmarker = vision.FaceLandmarker.create_from_options(options)
        self._last_ms = -1

    def __enter__(self) -> "FaceAnalyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None

    def __del__(self):  # MediaPipe's own __del__ is noisy at interpreter exit
        try:
            self.close()
        except Exception:
            pass

    def detect(self, image: np.ndarray, timestamp_ms: int | None = None) -> list[FaceObservation]:
        """All faces in ``image`` (RGB uint8 HWC), largest first.

        In video mode ``timestamp_ms`` must increase from call to call; if omitted, the previous one
        plus 40 ms is used.
        """
        import mediapipe as mp

        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an RGB uint8 HWC image, got {image.dtype} {image.shape}")
        frame = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image))
        if self.video:
            if timestamp_ms is None:
                timestamp_ms = self._last_ms + 40
            timestamp_ms = max(int(timestamp_ms), self._last_ms + 1)
            self._last_ms = timestamp_ms
            result = self._landmarker.detect_for_video(frame, timestamp_ms)
        else:
            result = self._landmarker.detect(frame)
        height, width = image.shape[:2]
        faces = []
        for index, points in enumerate(result.face_landmarks):
            landmarks = np.array([(p.x * width, p.y * height, p.z * width) for p in points], np.float32)
            blendshapes = np.zeros(N_BLENDSHAPES, np.float32)
            names: tuple[str, ...] = ()
            if result.face_blendshapes:
                categories = result.face_blendshapes[index]
                blendshapes = np.array([c.score for c in categories], np.float32)
                names = tuple(c.category_name for c in categories)
            pose = np.eye(4, dtype=np.float32)
            if result.facial_transformation_matrixes:
                pose = np.asarray(result.facial_transformation_matrixes[index], np.float32)
            faces.append(FaceObservation(landmarks, blendshapes, pose, names))
        faces.sort(key=lambda face: face.size, reverse=True)
        return faces

    def detect_one(self, image: np.ndarray, face_index: int = 0, what: str = "image",
                   timestamp_ms: int | None = None) -> FaceObservation:
        """The ``face_index``-th largest face in ``image``; :class:`NoFaceError` if there is none.

        ``what`` names the image in error messages ("source photo", "driver frame 12", ...).
        """
        return choose_face(self.detect(image, timestamp_ms), face_index, what)


def choose_face(faces: list[FaceObservation], face_index: int = 0, what: str = "image") -> FaceObservation:
    """The ``face_index``-th of ``faces`` (largest first, as :meth:`FaceAnalyzer.detect` returns them).

    Raises :class:`NoFaceError` (one line, naming ``what``) if there is no such face or it is smaller
    than ``MIN_FACE_PIXELS``, and :class:`OptionError` for a negative index.
    """
    if face_index < 0:
        raise OptionError(f"--face-index must be 0 (the largest face) or more (got {face_index})")
    if not faces:
        raise NoFaceError(f"no face found in the {what}")
    if face_index >= len(faces):
        raise NoFaceError(
            f"--face-index {face_index} asked for, but the {what} has {len(faces)} face(s)")
    face = faces[face_index]
    if face.size < MIN_FACE_PIXELS:
        raise NoFaceError(
            f"the face in the {what} is too small ({face.size:.0f} px; need at least "
            f"{MIN_FACE_PIXELS} px): use a larger or closer photo")
    return face
