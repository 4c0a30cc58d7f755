"""Drivers: everything that can move a portrait, reduced to one stream of :class:`DriverFrame`.

A driver is a talking-head video, a single image, a saved motion template (``.motion``: landmarks
only, no pixels), a built-in preset, or speech (text to speech or a voice recording). Each yields, per
output frame, the driver's landmarks (or ``None`` where its face is lost) and, when it has pixels, the
driver frame itself; what it can do is declared as data on the :class:`Driver` protocol (see
:mod:`headshot.drivers.base`). :func:`open_driver` opens whatever the user gave.

Modules: ``base`` (the protocol), ``video``, ``still``, ``template`` (templates and presets), ``speech``,
``camera`` (a live feed, pushed one frame at a time).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InputError, OptionError
from .base import Driver, DriverFrame, ensure_face_found
from .camera import LiveFeed
from .speech import SpeechDriver, SpeechMouthDriver, SpeechTrack, TextSpeech, recording_track
from .still import ImageDriver
from .template import TemplateDriver
from .video import VideoDriver

__all__ = ["Driver", "DriverFrame", "ImageDriver", "LiveFeed", "SpeechDriver", "SpeechMouthDriver", "SpeechTrack",
           "TemplateDriver", "TextSpeech", "VideoDriver", "ensure_face_found", "open_driver"]

SPEECH_FPS = 25.0  # speech drivers' frame rate unless the output asks for another


def open_driver(driver, *, motion: str | None = None, audio: str | os.PathLike | None = None,
                transcript: str | None = None, source_landmarks: np.ndarray | None = None,
                frame_size: tuple[int, int] | None = None, max_frames: int | None = None,
                seconds: float | None = None, fps: float | None = None) -> Driver:
    """Open whatever the user gave as driver.

    Args:
        driver: a path (video, image, ``.motion`` file), a :class:`MotionTemplate`, speech
            (:class:`TextSpeech` for ``headshot say``, or a ready :class:`SpeechTrack`), or ``None`` when
            ``motion`` names a preset or ``audio`` a recording.
        motion: a preset name (``talk``, ``nod``, ``smile``, ``blink``).
        audio: a voice recording (any file with an audio track): alone, the face speaks it
            (:class:`SpeechDriver`); with a ``driver``, head and eyes come from the driver and the mouth
            from the recording (:class:`SpeechMouthDriver`). The output carries its sound.
        transcript: what is said in ``audio``, for forced alignment.
        source_landmarks, frame_size: the source's landmarks and the frame they refer to; presets and
            speech deform the source's own face.
        fps: frame rate of speech drivers (default 25).
    """
    from ..motion.template import MotionTemplate

    if audio is not None:
        if motion is not None:
            raise OptionError("give either --audio or --motion, not both (the recording moves the face)")
        if isinstance(driver, (SpeechTrack, TextSpeech)):
            raise OptionError("speech from text has its own audio; do not give --audio too")
        if driver is None:
            track = recording_track(audio, transcript)
            return SpeechDriver.from_track(track, source_landmarks, frame_size, fps or SPEECH_FPS, max_frames)
        from .speech import speech_mouth

        inner = open_driver(driver, frame_size=frame_size, max_frames=max_frames)
        if inner.still:
            raise OptionError("--audio needs a moving driver (a video or .motion) or none; a single image "
                              "cannot speak a recording")
        track = recording_track(audio, transcript)
        return SpeechMouthDriver(inner, speech_mouth(track, source_landmarks, inner.fps), track.audio_path,
                                 track.provenance, max_frames)
    if transcript is not None:
        raise OptionError("--transcript goes with --audio (it is what the recording says)")
    if isinstance(driver, TextSpeech):
        driver = driver.track()
    if isinstance(driver, SpeechTrack):
        return SpeechDriver.from_track(driver, source_landmarks, frame_size, fps or SPEECH_FPS, max_frames)
    if isinstance(driver, Driver):  # a ready driver, e.g. a LiveFeed from a camera
        return driver
    if driver is None:
        if motion is None:
            raise InputError("no driver given: pass a video, an image, a .motion file, --motion PRESET or --audio")
        from ..motion.presets import preset

        kwargs = {} if seconds is None else {"seconds": seconds}
        template = preset(motion, source_landmarks, frame_size, **kwargs)
        return TemplateDriver(template, None, max_frames, kind="preset")
    if isinstance(driver, MotionTemplate):
        return TemplateDriver(driver, None, max_frames)
    from ..io.images import is_image_path
    from ..io.video import check_input_file

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
