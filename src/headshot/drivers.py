"""Drivers: everything that can move a portrait, reduced to one stream of :class:`DriverFrame`.

A driver is a talking-head video, a single image, a saved motion template (``.motion``: landmarks
only, no pixels) or a built-in preset. Each yields, per output frame, the driver's landmarks (or
``None`` where its face is lost) and, when it has pixels, the driver frame itself.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import InputError, NoFaceError, OptionError
from .face.landmarker import FaceAnalyzer, FaceObservation


@dataclass
class DriverFrame:
    """One step of a driver.

    Attributes:
        index: frame number in the driver.
        time: seconds from the driver's start.
        image: the driver frame, RGB uint8 HWC, or ``None`` for pixel-free drivers.
        landmarks: ``(478, 3)`` float32 in the driver frame's pixels, or ``None`` where no face was found.
        blendshapes: ``(52,)`` MediaPipe coefficients where a video driver's face was found, else ``None``.
    """

    index: int
    time: float
    image: np.ndarray | None
    landmarks: np.ndarray | None
    blendshapes: np.ndarray | None = None


def _closest(faces: list[FaceObservation], previous: np.ndarray | None) -> FaceObservation | None:
    """The face to follow: the largest at first, then the one nearest the previous frame's face."""
    if not faces:
        return None
    if previous is None:
        return faces[0]
    centre = previous[:, :2].mean(axis=0)
    return min(faces, key=lambda face: float(np.linalg.norm(face.landmarks[:, :2].mean(axis=0) - centre)))


class Driver:
    """Base class: iterate to get :class:`DriverFrame` items.

    Attributes:
        kind: ``"video"``, ``"image"``, ``"template"`` or ``"preset"``.
        fps: frames per second of the stream.
        frame_size: ``(width, height)`` of the frame the landmarks refer to.
        frame_count: number of frames (an estimate for videos).
        audio_path: a file whose audio track the output should carry, or ``None``.
        path: the driver file, or ``None`` for presets.
        has_pixels: whether frames carry images.
    """

    kind = "driver"
    has_pixels = False
    audio_path: Path | None = None
    path: Path | None = None

    def __iter__(self) -> Iterator[DriverFrame]:
        raise NotImplementedError

    def landmark_sequence(self, stride: int = 1, limit: int | None = None) -> list[tuple[int, np.ndarray]]:
        """``(index, landmarks)`` of the frames with a face among every ``stride``-th of the first
        ``limit`` (all if ``None``), for choosing a reference."""
        out = []
        for frame in self:
            if limit is not None and frame.index >= limit:
                break
            if frame.index % stride == 0 and frame.landmarks is not None:
                out.append((frame.index, frame.landmarks))
        return out

    def close(self) -> None:
        pass


class _FaceTracker:
    """One face followed through consecutive video frames: MediaPipe in VIDEO mode (tracking state
    between calls) plus the choice of the face nearest the previous frame's."""

    def __init__(self):
        self.analyzer = FaceAnalyzer(video=True)
        self.previous: np.ndarray | None = None

    def __call__(self, frame) -> DriverFrame:
        """The :class:`DriverFrame` of the next decoded ``frame`` (an ``io.video.Frame``)."""
        faces = self.analyzer.detect(frame.rgb, timestamp_ms=int(round(frame.time_s * 1000)))
        face = _closest(faces, self.previous)
        if face is None:
            return DriverFrame(frame.index, frame.time_s, frame.rgb, None)
        self.previous = face.landmarks
        return DriverFrame(frame.index, frame.time_s, frame.rgb, face.landmarks, face.blendshapes)

    def close(self) -> None:
        self.analyzer.close()


class VideoDriver(Driver):
    """A talking-head video, decoded and tracked frame by frame (memory flat in its length).

    :meth:`landmark_sequence` tracks the first frames once and keeps their landmarks and the tracker;
    the next iteration reuses them and carries on tracking from there, so every frame is landmarked
    once and the stream is the same as one uninterrupted tracking pass.
    """

    kind = "video"
    has_pixels = True

    def __init__(self, path: Path, max_frames: int | None = None):
        from .io.video import probe

        self.path = Path(path)
        info = probe(self.path)
        self.fps = float(info["fps"])
        self.frame_size = tuple(info["size"])
        self.frame_count = int(info["frames"]) if info.get("frames") else 0
        if max_frames is not None:
            self.frame_count = min(self.frame_count, max_frames) if self.frame_count else max_frames
        self.max_frames = max_frames
        self.audio_path = self.path if info.get("has_audio") else None
        # Set by landmark_sequence: (landmarks, blendshapes) of the first frames, and the tracker that
        # has seen exactly those frames. Taken by the next __iter__.
        self._head_start: tuple[list, _FaceTracker] | None = None

    def landmark_sequence(self, stride: int = 1, limit: int | None = None) -> list[tuple[int, np.ndarray]]:
        """``(index, landmarks)`` of the frames with a face among every ``stride``-th of the first
        ``limit`` (all if ``None``).

        Tracking needs consecutive frames, so all of the first ``limit`` frames are landmarked; their
        results (about 6 kB a frame, no pixels) are kept for the next iteration, which decodes those
        frames again but does not landmark them.
        """
        from .io.video import VideoReader

        self.close()
        tracker = _FaceTracker()
        head: list[tuple[np.ndarray | None, np.ndarray | None]] = []
        with VideoReader(self.path, max_frames=self.max_frames) as reader:
            for frame in reader:
                if limit is not None and frame.index >= limit:
                    break
                step = tracker(frame)
                head.append((step.landmarks, step.blendshapes))
        self._head_start = (head, tracker)
        return [(index, landmarks) for index, (landmarks, _) in enumerate(head)
                if index % stride == 0 and landmarks is not None]

    def __iter__(self) -> Iterator[DriverFrame]:
        from .io.video import VideoReader

        # The kept tracker is only right for the frame after the head: one iteration uses it.
        head, tracker = self._head_start or ([], None)
        self._head_start = None
        tracker = tracker or _FaceTracker()
        try:
            with VideoReader(self.path, max_frames=self.max_frames) as reader:
                for frame in reader:
                    if frame.index < len(head):
                        landmarks, blendshapes = head[frame.index]
                        head[frame.index] = (None, None)  # memory: the head is read once
                        yield DriverFrame(frame.index, frame.time_s, frame.rgb, landmarks, blendshapes)
                    else:
                        yield tracker(frame)
        finally:
            tracker.close()

    def close(self) -> None:
        if self._head_start is not None:
            self._head_start[1].close()
            self._head_start = None


class ImageDriver(Driver):
    """A single photo as the driver: one output frame."""

    kind = "image"
    has_pixels = True
    fps = 25.0
    frame_count = 1

    def __init__(self, path: Path):
        from .io.images import read_image

        self.path = Path(path)
        self.image = read_image(self.path)
        self.frame_size = (self.image.shape[1], self.image.shape[0])
        with FaceAnalyzer() as analyzer:
            self.landmarks = analyzer.detect_one(self.image, what=f"driver image {self.path.name}").landmarks

    def __iter__(self) -> Iterator[DriverFrame]:
        yield DriverFrame(0, 0.0, self.image, self.landmarks)


class TemplateDriver(Driver):
    """A saved motion template: landmarks only, no pixels (privacy-preserving)."""

    kind = "template"

    def __init__(self, template, path: Path | None = None, max_frames: int | None = None, kind: str = "template"):
        self.template = template
        self.kind = kind
        self.path = Path(path) if path is not None else None
        self.fps = float(template.fps)
        self.frame_size = tuple(template.frame_size)
        count = len(template.landmarks)
        self.frame_count = min(count, max_frames) if max_frames is not None else count

    @classmethod
    def load(cls, path: Path, max_frames: int | None = None) -> "TemplateDriver":
        from .motion.template import MotionTemplate

        return cls(MotionTemplate.load(path, max_frames), path, max_frames)

    def __iter__(self) -> Iterator[DriverFrame]:
        present = np.asarray(self.template.present, bool)
        for index in range(self.frame_count):
            landmarks = self.template.landmarks[index] if present[index] else None
            yield DriverFrame(index, index / self.fps, None, landmarks)


def open_driver(driver, *, motion: str | None = None, source_landmarks: np.ndarray | None = None,
                frame_size: tuple[int, int] | None = None, max_frames: int | None = None,
                seconds: float | None = None) -> Driver:
    """Open whatever the user gave as driver.

    Args:
        driver: a path (video, image, ``.motion`` file), a :class:`MotionTemplate`, or ``None`` when
            ``motion`` names a preset.
        motion: a preset name (``talk``, ``nod``, ``smile``, ``blink``); needs ``source_landmarks``
            and ``frame_size`` (the presets deform the source's own face).
    """
    from .motion.template import MotionTemplate

    if driver is None:
        if motion is None:
            raise InputError("no driver given: pass a video, an image, a .motion file, or --motion PRESET")
        from .motion.presets import preset

        kwargs = {} if seconds is None else {"seconds": seconds}
        template = preset(motion, source_landmarks, frame_size, **kwargs)
        return TemplateDriver(template, None, max_frames, kind="preset")
    if isinstance(driver, MotionTemplate):
        return TemplateDriver(driver, None, max_frames)
    from .io.images import is_image_path
    from .io.video import check_input_file

    if not isinstance(driver, (str, os.PathLike)):
        raise OptionError(f"driver must be a file path (video, image, .motion), a MotionTemplate or None "
                          f"with a preset (got {type(driver).__name__})")
    path = Path(driver)
    check_input_file(path, "driver")

    if path.suffix.lower() == ".motion":
        return TemplateDriver.load(path, max_frames)
    if is_image_path(path):
        return ImageDriver(path)
    return VideoDriver(path, max_frames)


def ensure_face_found(found_any: bool, driver: Driver) -> None:
    if not found_any:
        name = driver.path.name if driver.path is not None else driver.kind
        raise NoFaceError(f"no face found in any frame of the driver {name}")
