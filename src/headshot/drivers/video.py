"""Video drivers: a talking-head video, decoded and tracked frame by frame."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from ..face.landmarker import FaceAnalyzer, FaceObservation
from .base import Driver, DriverFrame


def _closest(faces: list[FaceObservation], previous: np.ndarray | None) -> FaceObservation | None:
    """The face to follow: the largest at first, then the one nearest the previous frame's face."""
    if not faces:
        return None
    if previous is None:
        return faces[0]
    centre = previous[:, :2].mean(axis=0)
    return min(faces, key=lambda face: float(np.linalg.norm(face.landmarks[:, :2].mean(axis=0) - centre)))


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
        from ..io.video import probe

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
        # The trackers of iterations still running: close() shuts them, so an iteration left unfinished
        # does not wait for a garbage-collector finaliser to shut MediaPipe (which can hang).
        self._running: list[_FaceTracker] = []

    def landmark_sequence(self, stride: int = 1, limit: int | None = None) -> list[tuple[int, np.ndarray]]:
        """``(index, landmarks)`` of the frames with a face among every ``stride``-th of the first
        ``limit`` (all if ``None``).

        Tracking needs consecutive frames, so all of the first ``limit`` frames are landmarked; their
        results (about 6 kB a frame, no pixels) are kept for the next iteration, which decodes those
        frames again but does not landmark them.
        """
        from ..io.video import VideoReader

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
        from ..io.video import VideoReader

        # The kept tracker is only right for the frame after the head: one iteration uses it.
        head, tracker = self._head_start or ([], None)
        self._head_start = None
        tracker = tracker or _FaceTracker()
        self._running.append(tracker)
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
            if tracker in self._running:  # not already shut by close()
                self._running.remove(tracker)
                tracker.close()

    def close(self) -> None:
        """Shut the kept tracker and those of unfinished iterations (which must not be resumed after)."""
        if self._head_start is not None:
            self._head_start[1].close()
            self._head_start = None
        while self._running:
            self._running.pop().close()
