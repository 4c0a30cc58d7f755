"""The public Python API.

    >>> import headshot
    >>> for frame in headshot.animate("photo.jpg", "talk.mp4"):   # RGB uint8 frames
    ...     ...
    >>> headshot.animate_to_file("photo.jpg", "talk.mp4", "out.mp4")
    >>> headshot.say("photo.jpg", "Hello from a single photo.", "hello.mp4")
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import HeadshotError, OptionError, OutputError
from .options import SAY_FPS
from .pipeline import Animation, AnimateOptions
from .shots import photo_list

__all__ = ["AnimateOptions", "Animation", "animate", "animate_to_file", "extract_motion", "make_options", "say"]

log = logging.getLogger("headshot")


def make_options(options: AnimateOptions | None = None, **overrides) -> AnimateOptions:
    """``options`` (or the defaults) with keyword overrides, checked (:meth:`AnimateOptions.validate`).

    Unknown keywords, wrong types and out-of-range values raise :class:`~headshot.errors.OptionError`
    (a ``HeadshotError`` that is also a ``TypeError``/``ValueError``) with the CLI's one-line message.
    """
    if options is not None and not isinstance(options, AnimateOptions):
        raise OptionError(f"options must be an AnimateOptions (got {type(options).__name__}); "
                          f"pass single options as keywords, e.g. size=256")
    names = {f.name for f in fields(AnimateOptions)}
    unknown = set(overrides) - names
    if unknown:
        raise OptionError(f"unknown animate option(s): {', '.join(sorted(unknown))}")
    return replace(options or AnimateOptions(), **overrides).validate()


def _path_argument(value, what: str):
    """``value`` if it is a path (str or ``os.PathLike``); else :class:`OptionError`."""
    if not isinstance(value, (str, os.PathLike)):
        raise OptionError(f"{what} must be a file path (got {type(value).__name__})")
    return value


def _is_image_driver(driver) -> bool:
    """Whether ``driver`` is an image file (one output frame); presets, templates and videos are not."""
    from .io.images import is_image_path

    return isinstance(driver, (str, os.PathLike)) and is_image_path(driver)


def animate(source, driver=None, options: AnimateOptions | None = None, **overrides) -> Iterator[np.ndarray]:
    """Animate ``source`` with ``driver``; yields output frames (RGB uint8 HWC) as they are made.

    Args:
        source: portrait photo path, or an RGB uint8 array; or a list of photos of one person (the
            first is animated; each part of the face is drawn from the photo that sees it best, see
            :mod:`headshot.shots`). Photos of different people raise a one-line ``InputError``.
        driver: driving video / image / ``.motion`` path, a ``MotionTemplate``, or ``None`` with
            ``motion="talk"`` (or another preset).
        options: an :class:`AnimateOptions`; keyword overrides (``engine="warp"``, ``crop_only=True``,
            ...) are applied on top.
    """
    return Animation(source, driver, make_options(options, **overrides)).frames()


def animate_to_file(source, driver, output, options: AnimateOptions | None = None,
                    progress: Callable[[int, int, Animation], None] | None = None, **overrides) -> Animation:
    """Animate and write the result: a video (H.264 mp4, driver's fps and audio) or, for an image driver, an image.

    The output appears only when complete (temporary file + rename); it carries the invisible watermark
    and, unless disabled, C2PA content credentials, signed on the temporary file before the rename: a run
    either leaves a signed file or nothing (an earlier file at ``output`` is then untouched). An output
    that is one of the inputs (under any spelling, link or hard link), or whose container cannot carry
    credentials, is refused before any work. ``progress(done, total, animation)`` is called per frame.
    With ``audio="speech.wav"`` the face speaks the recording (with a driver: only the mouth) and the
    video carries its sound. Returns the finished :class:`Animation` (timings in ``.timer``).
    """
    from .io.images import is_image_path

    options = make_options(options, **overrides)
    output = Path(_path_argument(output, "output"))
    image_output = is_image_path(output)
    if image_output and options.max_frames != 1 and not _is_image_driver(driver):
        raise OutputError(f"{output.name} is an image but the driver has many frames: write a video (.mp4), "
                          f"or pass --max-frames 1 for one frame")
    if image_output and options.audio is not None:
        raise OutputError(f"{output.name} is an image; speech from --audio needs a video output (.mp4)")
    output = _check_output(output, "image" if image_output else "video", options,
                           inputs=(*photo_list(source), driver, options.model, options.audio))
    job = Animation(source, driver, options)
    if job.driver.still and not image_output:
        raise OutputError(f"the driver is a single image, so the output must be an image (.png/.jpg), not {output.name}")
    _write(job, output, image_output, progress)
    return job


def _check_output(output: Path, kind: str, options: AnimateOptions, inputs) -> Path:
    """``output`` checked as a ``kind`` file that is none of ``inputs``, and signable if credentials are on."""
    from .io.atomic import check_output_path

    output = check_output_path(output, kinds=(kind,), inputs=inputs)
    if options.credentials:  # a container or key folder that cannot sign fails now, not after the encode
        from .provenance.credentials import check_signable, ensure_signing_identity

        check_signable(output)
        ensure_signing_identity()
    return output


@contextlib.contextmanager
def _named_as(output: Path, staging: Path):
    """Errors about the private temporary file (a full disk while encoding) name ``output`` instead."""
    try:
        yield
    except OutputError as error:
        error.args = tuple(str(arg).replace(str(staging), str(output)) for arg in error.args)
        raise


def _write(job: Animation, output: Path, image_output: bool, progress, before_rename=None) -> None:
    """Render ``job`` into ``output`` (an image: its first frame), sign it, and rename it into place.

    ``before_rename()`` runs after the frames are written and signed, before the rename (e.g. to write a
    companion file that must exist only if the output does).
    """
    from .io.atomic import atomic_output
    from .io.images import write_image

    total = job.frame_count
    # Everything, credentials included, goes into a private hidden file that is renamed into place last.
    with atomic_output(output) as staging, _named_as(output, staging):
        if image_output:
            frame = next(iter(job.frames()), None)
            if frame is None:
                raise HeadshotError("the driver produced no frames")
            write_image(staging, frame)
            if progress:
                progress(1, 1, job)
        else:
            from .io.video import VideoWriter

            written = 0
            with VideoWriter(staging, fps=job.fps, size=job.output_size, audio_from=job.audio_path) as writer:
                for frame in job.frames():
                    writer.write(frame)
                    written += 1
                    if progress:
                        progress(written, total, job)
        if job.options.credentials:
            _sign(staging, output.name, job)
        if before_rename is not None:
            before_rename()


def say(source, text: str | None, output, options: AnimateOptions | None = None, *,
        text_file: str | os.PathLike | None = None, language: str = "en", voice: str | None = None,
        rate: float = 1.0, motion_out: str | os.PathLike | None = None,
        progress: Callable[[int, int, Animation], None] | None = None,
        speaking: Callable[[int, int], None] | None = None, **overrides) -> Animation:
    """Make the portrait say ``text``: text to speech, speech motion, and a video with the speech as its sound.

    Args:
        source: portrait photo path, or an RGB uint8 array.
        text: what to say (any length: spoken sentence by sentence), or ``None`` with ``text_file``.
        output: the video to write (``.mp4``, ``.mov``, ``.m4v``).
        options: an :class:`AnimateOptions` (``fps`` defaults to ``SAY_FPS``, 25; ``motion``, ``audio`` and
            ``transcript`` do not apply); keyword overrides on top, e.g. ``crop_only=True, size=256``.
        text_file: a UTF-8 text file to say instead of ``text``.
        language: a language code (``en``, ``es``, ``fr``, ``zh`` ...; :func:`headshot.speech.voices.
            list_voices` lists the voices and languages).
        voice: ``None`` (``joe`` for English, eSpeak NG otherwise), ``"joe"``, ``"espeak"`` or
            ``"espeak+VARIANT"``.
        rate: speaking rate, 0.25 to 4 (1 = normal).
        motion_out: also save the speech motion as a ``.motion`` template (landmarks, no pixels).
        progress: ``progress(done, total, animation)`` per written frame.
        speaking: ``speaking(characters_done, characters_total)`` per spoken sentence.

    The content credentials record the voice, the language and the SHA-256 of the text, never the text.
    Bad text (empty, only punctuation, not UTF-8), an unknown language or voice, or an output that is an
    input raise a one-line :class:`HeadshotError` before any work; nothing is written on failure.
    Returns the finished :class:`Animation`.
    """
    import tempfile

    from .drivers import TextSpeech
    from .io.images import is_image_path

    options = make_options(options, **overrides)
    if options.motion is not None or options.audio is not None or options.transcript is not None:
        raise OptionError("say speaks its text: --motion, --audio and --transcript are for headshot animate")
    if options.fps is None:
        options = replace(options, fps=SAY_FPS)
    if (text is None) == (text_file is None):
        raise OptionError("give the text to say or a --text-file (one of them)")
    if text_file is not None:
        from .speech.tts import read_text_file

        text = read_text_file(_path_argument(text_file, "text_file"))
    elif not isinstance(text, str):
        raise OptionError(f"text must be a str (got {type(text).__name__}); decode bytes first")
    if not isinstance(language, str) or (voice is not None and not isinstance(voice, str)):
        raise OptionError("language and voice must be names, e.g. language='es', voice='espeak'")
    output = Path(_path_argument(output, "output"))
    if is_image_path(output):
        raise OutputError(f"{output.name} is an image; say makes a video with sound (.mp4)")
    inputs = (*photo_list(source), text_file, options.model)
    if motion_out is not None:
        from .io.atomic import check_output_path

        motion_out = check_output_path(_path_argument(motion_out, "motion_out"), kinds=("motion",), inputs=inputs)
    output = _check_output(output, "video", options, inputs=(*inputs, motion_out))
    handle, wav_name = tempfile.mkstemp(prefix="headshot-say-", suffix=".wav")  # private (0600), removed below
    os.close(handle)
    try:
        request = TextSpeech(text, Path(wav_name), language, voice, rate, speaking)
        request.check()  # bad text, language, voice or rate: one line now, before the photo is analysed
        job = Animation(source, request, options)
        save_motion = None
        if motion_out is not None:
            save_motion = lambda: job.driver.template().save(motion_out)  # noqa: E731
        _write(job, output, False, progress, before_rename=save_motion)
    finally:
        os.unlink(wav_name)
    return job


def _sign(path: Path, title: str, job: Animation) -> None:
    """Sign the finished file at ``path`` (to become ``title``); any failure is a one-line CredentialsError."""
    from .provenance.credentials import CredentialsError, sign_file

    try:
        sign_file(path, source_path=job.source_path, driver_path=job.driver.path,
                  settings=job.settings(), watermarked=job.options.watermark, title=title)
    except HeadshotError:
        raise
    except Exception as error:  # a run asked for credentials never ends with an unsigned file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CredentialsError(f"could not add content credentials to {title} ({reason}); nothing was written "
                               f"(--no-credentials skips them)") from None


def extract_motion(driver, output, max_frames: int | None = None,
                   progress: Callable[[int, int], None] | None = None) -> Path:
    """Save a driver video's motion as a ``.motion`` template: landmarks and blendshapes, no pixels.

    Frames where the face is lost are marked absent (the template's ``present`` mask). Wrong types
    raise :class:`OptionError`; a video whose frame rate a template cannot hold (under 1 or over 1000
    fps) an :class:`~headshot.errors.InputError`, before any frame is tracked.
    """
    import math

    from . import __version__
    from . import validation as check
    from .drivers import VideoDriver
    from .errors import InputError
    from .io.atomic import check_output_path
    from .io.files import sha256_file
    from .motion.template import MAX_FPS, MIN_FPS, MotionTemplate

    driver = Path(_path_argument(driver, "driver"))
    output = Path(_path_argument(output, "output"))
    max_frames = check.number(max_frames, "--max-frames", 1, math.inf, integer=True, optional=True)
    if progress is not None and not callable(progress):
        raise OptionError(f"progress must be a function (got {type(progress).__name__})")
    check_output_path(output, kinds=("motion",), inputs=(driver,))
    video = VideoDriver(driver, max_frames)
    if not MIN_FPS <= video.fps <= MAX_FPS:
        raise InputError(f"{driver.name} runs at {video.fps:g} fps; a motion template holds {MIN_FPS:g} to "
                         f"{MAX_FPS:g} fps")
    landmarks, blendshapes, present = [], [], []
    empty_lm, empty_bs = np.zeros((478, 3), np.float32), np.zeros(52, np.float32)
    for frame in video:
        present.append(frame.landmarks is not None)
        landmarks.append(empty_lm if frame.landmarks is None else frame.landmarks)
        blendshapes.append(empty_bs if frame.blendshapes is None else frame.blendshapes)
        if progress:
            progress(frame.index + 1, video.frame_count)
    if not any(present):
        from .errors import NoFaceError

        raise NoFaceError(f"no face found in any frame of {video.path.name}")
    template = MotionTemplate(
        fps=video.fps, frame_size=tuple(video.frame_size), landmarks=np.stack(landmarks),
        blendshapes=np.stack(blendshapes), present=np.array(present, bool),
        metadata={"driver_sha256": sha256_file(video.path), "creator": f"headshot {__version__}"})
    template.save(output)
    return output
