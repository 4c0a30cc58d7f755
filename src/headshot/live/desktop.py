"""``headshot live``: a camera (or a video file standing in for one) drives the portrait in a desktop window.

The window shows the animated portrait with the measured fps and latency drawn on it (the recording,
``--output``, carries the frames without that overlay, marked and signed exactly as ``headshot animate``
signs its outputs). Without a display, or with an OpenCV built without a GUI, the run says so in one
line; ``--no-window --output out.mp4`` records without showing.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import cv2
import numpy as np

from ..errors import HeadshotError, InputError
from .session import LiveSession, LiveStats

WINDOW_TITLE = "headshot live (q or Esc: stop, r: take this face as no motion)"


@dataclass
class LiveResult:
    """What :func:`run_live` did: frames shown/recorded, the last stats, the recording (or ``None``)."""

    frames: int
    stats: LiveStats
    output: Path | None


def camera_frames(camera: str | int, max_frames: int | None = None, real_time: bool = False
                  ) -> tuple[Iterator[tuple[np.ndarray, float]], float, Path | None]:
    """``(frames, fps, file)``: an iterator of ``(rgb, seconds)`` from a camera index (``0``) or a video file.

    A file is decoded as it plays (``real_time`` paces it at its own rate, as a camera would deliver it);
    ``file`` is its path (hashed into a recording's credentials), ``None`` for a camera. A camera that
    cannot be opened, or a file that is not a video, is a one-line :class:`InputError`.
    """
    text = str(camera)
    if text.isdigit():
        capture = cv2.VideoCapture(int(text))
        if not capture.isOpened():
            raise InputError(f"camera {text} cannot be opened (no camera, or in use); --camera file.mp4 plays a "
                             f"video instead")
        fps = capture.get(cv2.CAP_PROP_FPS) or 30.0

        def from_camera():
            start = time.perf_counter()
            count = 0
            try:
                while max_frames is None or count < max_frames:
                    ok, bgr = capture.read()
                    if not ok:
                        break
                    count += 1
                    yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.perf_counter() - start
            finally:
                capture.release()

        return from_camera(), float(fps), None
    from ..io.video import VideoReader, check_input_file, probe

    path = Path(text)
    check_input_file(path, "camera stand-in video")
    fps = float(probe(path)["fps"])

    def from_file():
        start = time.perf_counter()
        with VideoReader(path, max_frames=max_frames) as reader:
            for frame in reader:
                if real_time:
                    wait = frame.time_s - (time.perf_counter() - start)
                    if wait > 0:
                        time.sleep(wait)
                yield frame.rgb, frame.time_s

    return from_file(), fps, path


def window_problem() -> str | None:
    """Why no window can be shown here (one line), or ``None`` if one can."""
    gui = next((line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines()
                if line.strip().startswith("GUI:")), "")
    if gui.upper() in ("", "NONE"):
        return "this OpenCV build has no GUI (e.g. opencv-python-headless), so no window can be shown"
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no display (DISPLAY is not set), so no window can be shown"
    return None


def draw_stats(frame: np.ndarray, stats: LiveStats) -> np.ndarray:
    """A copy of ``frame`` with the fps and latency written in its top-left corner (display only)."""
    shown = frame.copy()
    scale = max(0.4, frame.shape[1] / 900)
    for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(shown, stats.line(), (8, int(24 * scale + 6)), cv2.FONT_HERSHEY_SIMPLEX, scale, colour, width,
                    cv2.LINE_AA)
    return shown


def run_live(source, camera: str | int = 0, output: str | os.PathLike | None = None, window: bool = True,
             max_frames: int | None = None, options=None,
             on_frame: Callable[[np.ndarray, LiveStats], None] | None = None) -> LiveResult:
    """Drive ``source`` live from ``camera`` (an index or a video file); show it and/or record it.

    Args:
        source: portrait photo path or RGB array.
        camera: camera index (``0``) or a video file standing in for a camera.
        output: record to this video (H.264 .mp4, the camera's frame rate), marked and signed as
            ``headshot animate`` does; written whole or not at all (Ctrl-C and ``q`` keep what was recorded).
        window: show a window; without a display this is a one-line :class:`HeadshotError` that names
            ``--no-window --output``.
        max_frames: stop after this many camera frames.
        options: :class:`~headshot.options.AnimateOptions` (live defaults: a 512 px face crop).
        on_frame: called with each animated frame and the stats (tests, other front ends).
    """
    from ..api import _check_output, _sign

    if not window and output is None and on_frame is None:
        raise HeadshotError("nothing to do: --no-window needs --output out.mp4 to record")
    if window:
        problem = window_problem()
        if problem:
            raise HeadshotError(f"{problem}; record instead with --no-window --output out.mp4")
    frames, fps, camera_path = camera_frames(camera, max_frames, real_time=window and not str(camera).isdigit())
    session = LiveSession(source, options, fps=fps)
    if output is not None:
        output = _check_output(Path(output), "video", session.animation.options,
                               inputs=(source, camera_path))
    try:
        if output is None:
            count = _play(session, frames, None, window, on_frame)
        else:
            count = _record(session, frames, Path(output), window, on_frame, _sign, camera_path)
    finally:
        session.close()
        if window:
            cv2.destroyAllWindows()
    return LiveResult(count, session.stats, Path(output) if output is not None else None)


def _play(session: LiveSession, frames, writer, window: bool, on_frame) -> int:
    """Run the loop until the frames end or the user presses q/Esc; returns the frames done."""
    count = 0
    for rgb, time_s in frames:
        out = session.step(rgb, time_s)
        count += 1
        if writer is not None:
            writer.write(out)
        if on_frame is not None:
            on_frame(out, session.stats)
        if window:
            cv2.imshow(WINDOW_TITLE, cv2.cvtColor(draw_stats(out, session.stats), cv2.COLOR_RGB2BGR))
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                break
            if key == ord("r"):  # the face now is "no motion"
                session.recalibrate()
    return count


def _record(session: LiveSession, frames, output: Path, window: bool, on_frame, sign, camera_path) -> int:
    """:func:`_play` into a video at ``output``, signed like ``headshot animate``'s before it is renamed."""
    from ..io.atomic import atomic_output
    from ..io.video import VideoWriter

    job = session.animation
    job.driver.path = camera_path  # a stand-in file is hashed into the credentials; a camera is not a file
    with atomic_output(output) as staging:
        with VideoWriter(staging, fps=session.feed.fps, size=session.output_size) as writer:
            try:
                count = _play(session, frames, writer, window, on_frame)
            except KeyboardInterrupt:  # keep what was recorded: Ctrl-C is how a camera recording ends
                count = session.stats.frames
        if count == 0:
            raise InputError("the camera gave no frames; nothing was recorded")
        if job.options.credentials:
            sign(staging, output.name, job)
    return count
