"""What each tab of the web app does, as plain functions on checked uploads (no Gradio here).

Every action calls the same library functions as the command line (``headshot.api.animate_to_file``,
``headshot.api.say``, ``headshot.provenance.verify.verify_file``, ``headshot.live.LiveSession``), so every
result is marked and signed exactly as ``headshot animate`` / ``say`` would mark and sign it. Inputs are
checked by :mod:`headshot.app.uploads` first; results go to the session's private folder under names
the app makes up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import HeadshotError
from .uploads import UploadLimits, check_upload
from .workspace import Workspace

MOTIONS = ("talk", "nod", "smile", "blink")
Progress = Callable[[float, str], None]


@dataclass
class AnimateRequest:
    """The Animate tab's inputs (defaults as the CLI's). ``size`` 0 = automatic; ``regions`` a tuple."""

    crop_only: bool = False
    size: int = 0
    regions: tuple[str, ...] = ("pose", "expression", "eyes", "lips")
    expression_scale: float = 1.0
    pose_scale: float = 1.0
    reference: str = "auto"
    seconds: float = 4.0

    def options(self) -> dict:
        """``AnimateOptions`` keyword arguments."""
        return dict(crop_only=self.crop_only, size=self.size or None, regions=tuple(self.regions),
                    expression_scale=float(self.expression_scale), pose_scale=float(self.pose_scale),
                    reference=self.reference)


@dataclass
class Result:
    """A finished result: the file, and lines for the page (what was made, its marks)."""

    path: Path
    lines: list[str] = field(default_factory=list)


def _marks_line(job) -> str:
    credentials = "signed C2PA content credentials" if job.options.credentials else "no credentials"
    return f"marked: invisible watermark (run {job.run_id}) and {credentials}, as the CLI does"


class AppActions:
    """The app's actions over one :class:`Workspace`, with the upload ``limits``."""

    def __init__(self, workspace: Workspace, limits: UploadLimits = UploadLimits()):
        self.workspace = workspace
        self.limits = limits
        self._live: dict[str, tuple[str, object, threading.Lock]] = {}  # session -> (photo, LiveSession, lock)
        self._live_lock = threading.Lock()

    def _check(self, path, expected: tuple[str, ...], what: str):
        return check_upload(self.workspace.owned(path), expected, self.limits, what)

    # -- Animate ------------------------------------------------------------------------------------------
    def animate(self, session: str | None, photos: list, driver, motion: str | None, request: AnimateRequest,
                progress: Progress | None = None) -> list[Result]:
        """Animate each photo with the driver file (video, image, .motion) or a built-in motion."""
        from ..api import animate_to_file

        if not photos:
            raise HeadshotError("upload a portrait photo first (or click an example)")
        sources = [self._check(photo, ("image",), f"photo {i + 1}" if len(photos) > 1 else "photo")
                   for i, photo in enumerate(photos)]
        driver_upload = None
        if driver is not None:
            driver_upload = self._check(driver, ("video", "motion", "image"), "driver")
        elif motion not in MOTIONS:
            raise HeadshotError(f"upload a driver video, or choose a built-in motion ({', '.join(MOTIONS)})")
        options = request.options()
        if driver_upload is None:
            options.update(motion=motion, seconds=float(request.seconds))
        suffix = ".png" if driver_upload is not None and driver_upload.kind == "image" else ".mp4"
        results = []
        for number, source in enumerate(sources):
            output = self.workspace.result_path(session, suffix)

            def update(done, total, _job, number=number):
                if progress is not None:
                    share = done / total if total else 0.0
                    progress((number + min(share, 1.0)) / len(sources),
                             f"photo {number + 1} of {len(sources)}: frame {done}" + (f" of {total}" if total else ""))

            job = animate_to_file(source.path, driver_upload.path if driver_upload else None, output,
                                  progress=update, **options)
            results.append(Result(output, [f"photo {number + 1}: {job.timer.frames} frames, "
                                           f"{job.output_size[0]}x{job.output_size[1]}", _marks_line(job)]))
        return results

    # -- Say ----------------------------------------------------------------------------------------------
    def say(self, session: str | None, photo, text: str | None, language: str, voice: str | None,
            recording=None, crop_only: bool = False, progress: Progress | None = None) -> Result:
        """The photo says ``text`` (text to speech), or speaks an uploaded ``recording``."""
        from ..api import animate_to_file, say

        if photo is None:
            raise HeadshotError("upload a portrait photo first (or click an example)")
        source = self._check(photo, ("image",), "photo")
        output = self.workspace.result_path(session, ".mp4")

        def update(done, total, _job):
            if progress is not None:
                progress(done / total if total else 0.0, f"frame {done}" + (f" of {total}" if total else ""))

        if recording is not None:
            audio = self._check(recording, ("audio",), "recording")
            job = animate_to_file(source.path, None, output, audio=str(audio.path), crop_only=crop_only,
                                  progress=update)
            spoken = f"the recording ({audio.seconds:.1f} s)"
        else:
            if not (text or "").strip():
                raise HeadshotError("type something to say, or upload a recording")
            job = say(source.path, text, output, language=language or "en", voice=voice or None,
                      crop_only=crop_only, progress=update)
            speech = job.driver.provenance.get("speech", {})
            spoken = f"{speech.get('seconds', 0):.1f} s of speech, voice {speech.get('voice')}"
        return Result(output, [f"{job.timer.frames} frames, {spoken}", _marks_line(job)])

    # -- Verify -------------------------------------------------------------------------------------------
    def verify(self, upload) -> tuple[bool, list[str]]:
        """Whether an uploaded image or video carries headshot's marks, and the report's lines."""
        from ..provenance.verify import verify_file

        if upload is None:
            raise HeadshotError("upload an image or a video to check")
        checked = self._check(upload, ("image", "video"), "file")
        report = verify_file(checked.path)
        return report.marked, report.summary

    # -- Live ---------------------------------------------------------------------------------------------
    def live_step(self, session: str | None, frame: np.ndarray | None, photo) -> tuple[np.ndarray | None, str]:
        """One webcam frame through the session's live portrait; returns the animated frame and the stats line.

        A new photo starts a new live session (the first frame then takes about a second: face analysis).
        """
        from ..live import LiveSession

        if frame is None:
            return None, "waiting for the webcam"
        if photo is None:
            raise HeadshotError("choose a portrait photo for the live portrait")
        key = session or "anonymous"
        with self._live_lock:
            current = self._live.get(key)
        if current is None or current[0] != str(photo):
            source = self._check(photo, ("image",), "photo")
            if current is not None:
                with current[2]:
                    current[1].close()
            current = (str(photo), LiveSession(str(source.path)), threading.Lock())
            with self._live_lock:
                self._live[key] = current
        _, live, lock = current
        with lock:  # one frame at a time per session (the tracker and the motion smoother are sequential)
            out = live.step(np.ascontiguousarray(frame[..., :3]))
        return out, live.stats.line()

    def recalibrate(self, session: str | None) -> str:
        """Take the latest webcam face of this tab as "no motion"; returns a line for the page."""
        with self._live_lock:
            current = self._live.get(session or "anonymous")
        if current is None or not current[1].recalibrate():
            return "no face seen yet: start the webcam first"
        return "the current face is now 'no motion'"

    def close(self) -> None:
        """Stop every live portrait (the app is closing)."""
        with self._live_lock:
            sessions, self._live = list(self._live.values()), {}
        for _, live, lock in sessions:
            with lock:
                live.close()

    def end_session(self, session: str | None) -> None:
        """A browser tab closed: stop its live portrait and delete its results."""
        with self._live_lock:
            current = self._live.pop(session or "anonymous", None)
        if current is not None:
            with current[2]:  # not in the middle of a frame
                current[1].close()
        self.workspace.end_session(session)
