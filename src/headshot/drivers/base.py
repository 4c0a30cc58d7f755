"""The driver protocol: what the animate pipeline asks of anything that moves a portrait.

A driver is an iterable of :class:`DriverFrame` plus a few facts declared as data (class or instance
attributes), so that the pipeline never has to guess what a driver can do. A new kind of driver (audio, a
camera, several photos) subclasses :class:`Driver`, sets these attributes and yields frames; the pipeline
does not change.

==================  ===============================================================================
``kind``            a short name for logs and credentials: ``video``, ``image``, ``template``,
                    ``preset``, ``speech`` ...
``fps``             frames per second of the stream.
``frame_size``      ``(width, height)`` of the frame the landmarks refer to.
``frame_count``     frames in the stream (an estimate for videos; 0 when unknown, e.g. a live camera).
``has_pixels``      frames carry the driver's image (the engine may copy its mouth interior; drivers
                    with pixels are landmarked as they stream, so the reference search is bounded).
``still``           one still image, not a motion: the source takes on its expression, one output
                    frame, no reference frame.
``measured``        the landmarks are measured on real frames (noisy: the pipeline smooths them with its
                    One-Euro filter, ``--smoothing``); ``False`` for synthetic landmarks (speech), which
                    are played as they are (smoothing would only delay quick lip closures).
``starts_at_rest``  frame 0 is the source's own face at rest (presets, speech): ``--reference auto``
                    takes it as the "no motion" reference instead of searching for one.
``audio_path``      a file whose audio track the output carries, or ``None``.
``path``            the driver file (its SHA-256 goes into the content credentials), or ``None``.
``mouth``           ``None``, or an object with ``apply(target_landmarks, index) -> target_landmarks``
                    that puts a mouth on the *retargeted* landmarks of frame ``index`` (speech over a
                    driving video: head and eyes from the video, the mouth from audio); the engine then
                    gets no driver pixels, since the driver's own mouth is not the one shown.
``provenance``      JSON-able facts for the content credentials (names, hashes; never content such
                    as a text or a transcript).
==================  ===============================================================================

Methods: ``__iter__`` (the frames, in order; a driver may be iterated more than once),
:meth:`Driver.landmark_sequence` (frames for choosing a reference) and :meth:`Driver.close`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import NoFaceError


@dataclass
class DriverFrame:
    """One step of a driver.

    Attributes:
        index: frame number in the driver.
        time: seconds from the driver's start.
        image: the driver frame, RGB uint8 HWC, or ``None`` for pixel-free drivers.
        landmarks: ``(478, 3)`` float32 in the driver frame's pixels, or ``None`` where no face was found.
        blendshapes: ``(52,)`` MediaPipe coefficients where known (video drivers, speech), else ``None``.
    """

    index: int
    time: float
    image: np.ndarray | None
    landmarks: np.ndarray | None
    blendshapes: np.ndarray | None = None


class Driver:
    """Base class of every driver: iterate to get :class:`DriverFrame` items (see the module docstring for
    the attributes a driver declares)."""

    kind = "driver"
    fps: float = 25.0
    frame_size: tuple[int, int] = (0, 0)
    frame_count: int = 0
    has_pixels = False
    still = False
    measured = True
    starts_at_rest = False
    audio_path: Path | None = None
    path: Path | None = None
    mouth = None
    provenance: dict = {}

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


def ensure_face_found(found_any: bool, driver: Driver) -> None:
    """Raise :class:`NoFaceError` when a whole driver went by without a face."""
    if not found_any:
        name = driver.path.name if driver.path is not None else driver.kind
        raise NoFaceError(f"no face found in any frame of the driver {name}")
