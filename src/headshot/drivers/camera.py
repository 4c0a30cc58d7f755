"""Live drivers: frames that arrive one at a time from a camera, a browser webcam or a video standing in.

:class:`LiveFeed` is pushed to: the caller hands it one frame (:meth:`LiveFeed.push`) and then asks the
pipeline for the next output frame, which pulls exactly that frame through the driver. So a webcam
callback or a desktop camera loop runs the same pipeline as ``headshot animate`` (tracking, smoothing,
retargeting, engine, paste-back, watermark), one frame per call, with no queue between them.
"""

from __future__ import annotations

import time
from typing import Iterator

import numpy as np

from ..io.video_reader import Frame
from .base import Driver, DriverFrame
from .video import _FaceTracker


class LiveFeed(Driver):
    """A driver fed one frame at a time (a camera): :meth:`push` a frame, then pull one output frame.

    The frame count is unknown (0); the motion reference is the first frame with a face (a caller may
    reset it to :attr:`last_landmarks`, the latest face seen). Frames may change size
    between pushes (a browser may renegotiate its webcam): landmarks always refer to the frame they came
    from. Iterating ends when a pull finds no pushed frame.
    """

    kind = "camera"
    has_pixels = True
    measured = True
    frame_count = 0

    def __init__(self, fps: float = 25.0, label: str = "camera"):
        self.fps = float(fps)
        self.kind = label
        self.frame_size = (0, 0)
        self.provenance = {"live": True}
        self.last_landmarks: np.ndarray | None = None
        self._pending: tuple[np.ndarray, float] | None = None
        self._tracker: _FaceTracker | None = None
        self._start = time.perf_counter()

    def push(self, rgb: np.ndarray, time_s: float | None = None) -> None:
        """Hand over the next camera frame (RGB uint8 HWC) taken at ``time_s`` seconds (default: now)."""
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"a camera frame must be RGB uint8 HWC (got {getattr(rgb, 'shape', type(rgb))})")
        self._pending = (np.ascontiguousarray(rgb), time.perf_counter() - self._start if time_s is None else time_s)

    def __iter__(self) -> Iterator[DriverFrame]:
        # The tracker belongs to the feed and is closed by close(), in the caller's thread: a generator
        # left to the garbage collector must not shut MediaPipe down from a finaliser (it can hang there).
        if self._tracker is None:
            self._tracker = _FaceTracker()
        index = 0
        while self._pending is not None:
            rgb, time_s = self._pending
            self._pending = None
            self.frame_size = (rgb.shape[1], rgb.shape[0])
            frame = self._tracker(Frame(index, time_s, rgb))
            if frame.landmarks is not None:
                self.last_landmarks = frame.landmarks
            yield frame
            index += 1

    def close(self) -> None:
        """Release the face tracker (MediaPipe); call it when the stream ends."""
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.close()

    def landmark_sequence(self, stride: int = 1, limit: int | None = None) -> list[tuple[int, np.ndarray]]:
        """Nothing to search ahead in a live stream: the reference is the first frame with a face."""
        return []
