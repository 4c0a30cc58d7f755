"""One live session: camera frames in, animated (marked) portrait frames out, with fps and latency measured."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, replace

import numpy as np

from ..drivers.camera import LiveFeed
from ..options import AnimateOptions

LIVE_SIZE = 512  # default side of the live portrait (a face crop)


@dataclass
class LiveStats:
    """What a live session measured over its last frames.

    ``fps``: output frames per second of wall time (the rate the caller's loop achieved);
    ``latency_ms``: mean time from a camera frame handed over to its animated frame ready (the latency
    the portrait adds; camera and display latency are not included); ``frames``: frames so far.
    """

    fps: float = 0.0
    latency_ms: float = 0.0
    frames: int = 0

    def line(self) -> str:
        """``"24.8 fps, 12 ms"``: the figures as shown in the window and the web page."""
        return f"{self.fps:.1f} fps, {self.latency_ms:.0f} ms added latency"


class LiveSession:
    """The portrait ``source`` animated live, one camera frame at a time.

    Args:
        source: portrait photo path or RGB uint8 array.
        options: :class:`AnimateOptions` (the animate options: engine, regions, scales, smoothing, size,
            watermark ...); keyword overrides on top. Live defaults: ``crop_only=True`` with ``size=512``
            (a full photo with paste-back if ``crop_only=False``) and ``reference="first"`` (the first
            frame with a face is "no motion"; :meth:`recalibrate` takes the latest one instead).
        fps: the nominal camera rate (used for a recording's frame rate).

    :meth:`step` is not thread-safe: one caller at a time (the web app keeps one session per browser
    tab). Every frame carries the invisible watermark unless ``watermark=False``.
    """

    def __init__(self, source, options: AnimateOptions | None = None, fps: float = 25.0, window: int = 30,
                 **overrides):
        from ..pipeline import Animation

        base = options or AnimateOptions(crop_only=True, size=LIVE_SIZE)
        options = replace(base, **overrides)
        if options.reference == "auto":
            options = replace(options, reference="first")
        self.feed = LiveFeed(fps)
        self.animation = Animation(source, self.feed, options.validate())
        self._frames = self.animation.frames()
        self._done: deque[float] = deque(maxlen=window)
        self._latency: deque[float] = deque(maxlen=window)
        self.stats = LiveStats()

    @property
    def output_size(self) -> tuple[int, int]:
        """``(width, height)`` of the animated frames."""
        return self.animation.output_size

    def step(self, rgb: np.ndarray, time_s: float | None = None) -> np.ndarray:
        """The animated frame (RGB uint8 HWC, marked) for camera frame ``rgb`` taken at ``time_s`` s.

        Where the camera shows no face the last motion is held (at first: the photo at rest).
        """
        started = time.perf_counter()
        self.feed.push(rgb, time_s)
        out = next(self._frames)
        done = time.perf_counter()
        self._latency.append(done - started)
        self._done.append(done)
        span = self._done[-1] - self._done[0]
        self.stats = LiveStats(fps=(len(self._done) - 1) / span if span > 0 else 0.0,
                               latency_ms=1000 * float(np.mean(self._latency)), frames=self.stats.frames + 1)
        return out

    def recalibrate(self) -> bool:
        """Take the latest face seen as the new "no motion" reference; ``False`` if no face was seen yet."""
        if self.feed.last_landmarks is None:
            return False
        self.animation.retargeter.set_reference(self.feed.last_landmarks)
        return True

    def close(self) -> None:
        """Stop the stream and release the face tracker. Call it (or use ``with``): MediaPipe is shut down
        here, in the caller's thread, never by the garbage collector."""
        self._frames.close()
        self.feed.close()

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
