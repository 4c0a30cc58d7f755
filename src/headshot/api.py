"""The public Python API.

    >>> import headshot
    >>> for frame in headshot.animate("photo.jpg", "talk.mp4"):   # RGB uint8 frames
    ...     ...
    >>> headshot.animate_to_file("photo.jpg", "talk.mp4", "out.mp4")
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields, replace
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .errors import HeadshotError, OptionError, OutputError
from .pipeline import Animation, AnimateOptions

__all__ = ["AnimateOptions", "Animation", "animate", "animate_to_file", "extract_motion", "make_options"]

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
        source: portrait photo path, or an RGB uint8 array.
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
    Returns the finished :class:`Animation` (timings in ``.timer``).
    """
    from .io.atomic import atomic_output, check_output_path
    from .io.images import is_image_path, write_image

    options = make_options(options, **overrides)
    output = Path(_path_argument(output, "output"))
    image_output = is_image_path(output)
    if image_output and options.max_frames != 1 and not _is_image_driver(driver):
        raise OutputError(f"{output.name} is an image but the driver has many frames: write a video (.mp4), "
                          f"or pass --max-frames 1 for one frame")
    output = check_output_path(output, kinds=("image",) if image_output else ("video",),
                               inputs=(source, driver, options.model))
    if options.credentials:  # a container or key folder that cannot sign fails now, not after the encode
        from .provenance.credentials import check_signable, ensure_signing_identity

        check_signable(output)
        ensure_signing_identity()
    job = Animation(source, driver, options)
    if job.driver.kind == "image" and not image_output:
        raise OutputError(f"the driver is a single image, so the output must be an image (.png/.jpg), not {output.name}")
    total = job.frame_count
    # Everything, credentials included, goes into a private hidden file that is renamed into place last.
    with atomic_output(output) as staging:
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
        if options.credentials:
            _sign(staging, output.name, job)
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

    Frames where the face is lost are marked absent (the template's ``present`` mask).
    """
    from . import __version__
    from .drivers import VideoDriver
    from .io.atomic import check_output_path
    from .io.files import sha256_file
    from .motion.template import MotionTemplate

    output = Path(output)
    check_output_path(output, kinds=("motion",), inputs=(driver,))
    video = VideoDriver(Path(driver), max_frames)
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
