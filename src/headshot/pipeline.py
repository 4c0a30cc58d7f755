"""The animate pipeline: source analysis → driver stream → motion transfer → engine → paste-back.

Shared by every engine: cropping, motion, paste-back, provenance and I/O live here, the engine only
renders a crop from target landmarks (see DESIGN.md).
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .drivers import Driver, DriverFrame, ensure_face_found, open_driver
from .errors import InputError, OptionError
from .face.crop import CropBox, StableCropper, crop, crop_box
from .face.landmarker import FaceAnalyzer, choose_face
from .face.paste import Paster
from .shots import photo_list
from .options import MAX_MOTION_SCALE, REGIONS, AnimateOptions  # noqa: F401 (re-exported: headshot.pipeline.AnimateOptions)

log = logging.getLogger("headshot")

MAX_FULL_SIDE = 1920  # full-photo outputs are capped to this long side unless --size says otherwise
# A single photo whose face is turned at least this far (degrees of yaw) gets a line of advice: the engines
# mirror what it hides, and on the dev profile (58 degrees) a turn to the camera looked flat and cut out.
TURNED_ADVICE = 30.0


class StageTimer:
    """Wall time per pipeline stage, in seconds (for progress display and benchmarks)."""

    def __init__(self):
        self.total: dict[str, float] = defaultdict(float)
        self.frames = 0

    def add(self, stage: str, seconds: float) -> None:
        self.total[stage] += seconds

    def ms_per_frame(self) -> dict[str, float]:
        return {stage: 1000 * t / max(1, self.frames) for stage, t in self.total.items()}


def load_source(source) -> tuple[np.ndarray, Path | None]:
    """Source photo as RGB uint8 and its path (``None`` for arrays)."""
    from .io.images import read_image

    if isinstance(source, np.ndarray):
        return read_image(source), None
    if not isinstance(source, (str, os.PathLike)):
        raise OptionError(f"source must be a photo path or an RGB uint8 array (got {type(source).__name__})")
    path = Path(source)
    if not path.exists():
        raise InputError(f"source photo not found: {path}")
    return read_image(path), path


def _fit_long_side(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if abs(scale - 1) < 1e-3:
        return image
    size = (max(2, int(round(width * scale))), max(2, int(round(height * scale))))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


class Animation:
    """One animation job, set up and ready to stream frames.

    Args:
        source: path of the portrait photo or an RGB uint8 array; or a list of them, photos of one person:
            the first is animated, the others are extra views for engines that declare ``takes_shots``
            (:mod:`headshot.shots`).
        driver: path of a video / image / ``.motion`` file, a ``MotionTemplate``, or ``None`` with
            ``options.motion``.
        options: :class:`AnimateOptions`.

    Attributes after construction: ``fps``, ``frame_count``, ``output_size`` (w, h), ``audio_path``,
    ``driver``, ``source_path``, ``timer``, ``run_id``.
    """

    def __init__(self, source, driver=None, options: AnimateOptions | None = None):
        from .motion.retarget import RetargetOptions, Retargeter
        from .engines import engine_info, get_engine

        self.options = options = (options or AnimateOptions()).validate()
        self.timer = StageTimer()
        self.run_id = uuid.uuid4().hex[:8]
        self.shot_hashes: list[str | None] = []  # SHA-256 of the photos after the first (None: arrays)
        photos = photo_list(source)
        image, self.source_path = load_source(photos[0])
        if not options.crop_only:
            cap = options.size or (MAX_FULL_SIDE if max(image.shape[:2]) > MAX_FULL_SIDE else None)
            if cap:
                if options.size is None:
                    log.info("source is large: output capped to %d px on the long side (use --size)", cap)
                image = _fit_long_side(image, cap)
        self.source_image = image
        name = self.source_path.name if self.source_path else "source image"
        if len(photos) > 1 and not engine_info(options.engine).takes_shots:
            raise OptionError(f"--engine {options.engine} animates one photo; give one source photo, or use an "
                              f"engine that takes several (warp, neural)")
        with FaceAnalyzer() as analyzer:
            faces = analyzer.detect(image)
            face = choose_face(faces, options.face_index, what=f"source photo {name}")
            self.box: CropBox = crop_box(face.landmarks, scale=options.crop_scale)
            if options.crop_only:
                self.render_size = options.size or 512
            else:
                self.render_size = int(np.clip(2 ** np.ceil(np.log2(max(self.box.side, 1))), 256, 512))
            shots = self._load_shots(photos[1:], analyzer, image, face.landmarks, name)
        if len(faces) > 1:  # not an error: say which one, and how to pick another
            which = ("the largest (--face-index 1 for the next)" if options.face_index == 0 else
                     f"--face-index {options.face_index} (0 is the largest)")
            log.warning("%s: %d faces found, animating %s", name, len(faces), which)
        if len(photos) == 1:
            _advise_if_turned(name, face.landmarks)
        self.source_face = face
        self.source_crop = crop(image, self.box, self.render_size)
        self.source_landmarks = self.box.to_crop(face.landmarks, self.render_size)

        self.driver: Driver = open_driver(
            driver, motion=options.motion, audio=options.audio, transcript=options.transcript,
            fps=options.fps, source_landmarks=self.source_landmarks,
            frame_size=(self.render_size, self.render_size), max_frames=options.max_frames,
            seconds=options.seconds)
        self.fps = float(options.fps or self.driver.fps)
        self.audio_path = self.driver.audio_path
        self.frame_count = self.driver.frame_count
        if options.fps and self.driver.fps and self.frame_count:
            self.frame_count = int(round(self.frame_count * options.fps / self.driver.fps))

        if options.model and not engine_info(options.engine).needs_model:
            raise OptionError(f"--model is for engines that read a model file; --engine {options.engine} does not")
        engine_options = {"model_path": options.model} if options.model else {}
        self.engine = get_engine(options.engine, **engine_options)
        self.engine.prepare(self.source_crop, self.source_landmarks)
        if shots:
            self.engine.prepare_shots(shots)
        self.retargeter = Retargeter(self.source_landmarks, RetargetOptions(
            mode=options.mode, regions=list(options.regions), expression_scale=options.expression_scale,
            pose_scale=options.pose_scale, still=self.driver.still))
        self.reference_index: int | None = None
        self.reference_landmarks = self._choose_reference()
        if options.crop_only:
            self.paster = None
            height = width = self.render_size
        else:
            self.paster = Paster(image, self.box, self.render_size)
            height, width = image.shape[:2]
        # side by side: driver crop (square) | source | result
        self.output_size = (height + 2 * width, height) if options.side_by_side else (width, height)
        self.watermark_partial = False  # output smaller than the watermark's tile (see provenance.watermark)
        self.marker = self._make_marker()

    # -- set-up helpers ------------------------------------------------------------------------------------
    def _load_shots(self, photos: list, analyzer, image: np.ndarray, landmarks: np.ndarray, name: str) -> list:
        """The photos after the first as shots cropped like the first (``headshot.shots``); their paths'
        SHA-256 go into the credentials (``source_shots``)."""
        if not photos:
            return []
        from .io.files import sha256_file
        from .shots import load_shots, photo_name

        loaded = [load_source(photo) for photo in photos]
        self.shot_hashes = [sha256_file(path) if path is not None else None for _, path in loaded]
        return load_shots([shot for shot, _ in loaded], [photo_name(p, i) for i, p in enumerate(photos, 1)],
                          analyzer, image, landmarks, self.render_size, self.options.crop_scale, name)

    def _choose_reference(self) -> np.ndarray | None:
        """Landmarks of the driver frame used as the motion reference, or ``None`` for "the first
        frame with a face" (found while streaming).

        A single image has none, whatever ``--reference`` says (see :attr:`RetargetOptions.still`).
        ``auto`` (the default) is ``first`` for drivers that start at rest (presets, speech: their first
        frame is the source's own face by construction), and ``best`` otherwise: a talking driver's first
        frame often has the mouth open, which relative transfer would then read as "closed" for the whole
        video. For videos (drivers with pixels) the candidates are every 3rd frame of the first 20 s;
        tracking them takes every frame of those 20 s, whose landmarks the driver keeps for the main pass
        (each frame is landmarked once). Drivers without pixels (``.motion`` templates) offer every frame.
        """
        reference = str(self.options.reference)
        if self.driver.still:
            # One photo has no motion of its own, so no reference: the retargeter reads its expression
            # (and the source's) against a face at rest and turns the head towards its pose
            # (RetargetOptions.still).
            return None
        if reference == "auto":
            reference = "first" if self.driver.starts_at_rest else "best"
        if reference == "first":
            return None
        if reference.isdigit():
            index = int(reference)
            for frame in self.driver:
                if frame.index == index and frame.landmarks is not None:
                    return frame.landmarks
                if frame.index >= index:
                    break
            log.warning("driver frame %d has no face: the first frame with a face is the reference", index)
            return None
        from .motion.retarget import best_reference

        is_video = self.driver.has_pixels  # landmarked while streaming: bound the search
        limit = int(20 * self.driver.fps) if is_video else None
        candidates = self.driver.landmark_sequence(stride=3 if is_video else 1, limit=limit)
        if not candidates:
            return None
        best = best_reference(self.source_landmarks, np.stack([lm for _, lm in candidates]))
        self.reference_index = candidates[best][0]
        return candidates[best][1]

    def _make_marker(self):
        if not (self.options.watermark or self.options.label):
            return None
        from .provenance.label import burn_label
        from .provenance.watermark import TILE, Payload, Watermarker, fully_marked

        watermarker = Watermarker(Payload(run_id=self.run_id)) if self.options.watermark else None
        if watermarker is not None and not fully_marked(*self.output_size):
            self.watermark_partial = True  # recorded in the credentials (settings)
            log.warning("the output (%dx%d) is under %d px on a side: its invisible watermark is partial and "
                        "headshot verify may not find it", *self.output_size, TILE)

        def mark(frame: np.ndarray) -> np.ndarray:
            if self.options.label:
                frame = burn_label(frame)
            if watermarker is not None:
                frame = watermarker.mark(frame)
            return frame

        return mark

    # -- per-frame -----------------------------------------------------------------------------------------
    def _resampled(self, frames: Iterator[DriverFrame]) -> Iterator[DriverFrame]:
        """Drop or repeat driver frames so the output runs at ``self.fps`` (nearest frame in time)."""
        if not self.options.fps or abs(self.fps - self.driver.fps) < 1e-6:
            yield from frames
            return
        ratio = self.driver.fps / self.fps
        output_index = 0
        for frame in frames:
            while round(output_index * ratio) <= frame.index:
                yield frame
                output_index += 1

    def _side_panels(self, frame: DriverFrame, cropper: StableCropper, height: int) -> np.ndarray:
        """The driver panel of a side-by-side output: the driver's face crop, or its landmarks drawn."""
        if frame.image is not None:
            box = cropper.update(frame.landmarks)
            if box is None:
                return cv2.resize(frame.image, (height, height))
            return crop(frame.image, box, height)
        panel = np.full((height, height, 3), 24, np.uint8)
        if frame.landmarks is not None:
            box = cropper.update(frame.landmarks) or crop_box(frame.landmarks)
            points = box.to_crop(frame.landmarks, height)[:, :2]
            for x, y in points.astype(int):
                cv2.circle(panel, (int(x), int(y)), max(1, height // 256), (120, 230, 160), -1, cv2.LINE_AA)
        return panel

    def _compose(self, rendered: np.ndarray, frame: DriverFrame, cropper: StableCropper) -> np.ndarray:
        """Paste back (unless crop-only) and lay out side by side if asked."""
        out = rendered if self.paster is None else self.paster(rendered)
        if self.options.side_by_side:
            height = out.shape[0]
            source_panel = self.source_crop if self.paster is None else self.source_image
            driver_panel = self._side_panels(frame, cropper, height)
            out = np.concatenate([driver_panel, source_panel, out], axis=1)
        return out

    def frames(self) -> Iterator[np.ndarray]:
        """Output frames, RGB uint8 HWC, one per (resampled) driver frame; marks applied if enabled.

        Where the driver's face is lost, the last motion is held; when it returns, the first frame is
        halfway between the held motion and the new one (one frame of easing). Raises
        :class:`NoFaceError` at the end if the driver never showed a face.
        """
        from .face.smoothing import OneEuroFilter, smoothing_params

        smooth = self.options.smoothing > 0 and self.driver.measured  # synthetic landmarks are exact already
        smoother = OneEuroFilter(**smoothing_params(self.options.smoothing)) if smooth else None
        reference = self.reference_landmarks
        cropper = StableCropper()
        timer = self.timer
        target = held = None
        lost_run, found_any, last_index = 0, False, -1
        mouth = self.driver.mouth  # speech over a driver: a mouth put on each retargeted frame
        frames = self._resampled(iter(self.driver))
        clock = time.perf_counter()
        for frame in frames:
            now = time.perf_counter()
            timer.add("decode+landmarks", now - clock)
            if frame.index != last_index:  # repeated frames (fps up-sampling) reuse the target
                last_index = frame.index
                if frame.landmarks is not None:
                    landmarks = frame.landmarks if smoother is None else smoother(frame.landmarks, frame.time)
                    if not found_any:
                        self.retargeter.set_reference(reference if reference is not None else landmarks)
                        found_any = True
                    target = self.retargeter(landmarks)
                    if lost_run and held is not None:
                        target = 0.5 * (target + held)
                    lost_run, held = 0, target
                else:
                    lost_run += 1
                    target = held if held is not None else self.source_landmarks
                if mouth is not None:
                    target = mouth.apply(target, frame.index)
            mark = time.perf_counter()
            timer.add("motion", mark - now)
            pixels = frame.image if mouth is None else None  # the driver's own mouth is not the one shown
            rendered = self.engine.render(target, pixels, frame.landmarks if pixels is not None else None)
            timer.add("render", time.perf_counter() - mark)
            mark = time.perf_counter()
            out = self._compose(rendered, frame, cropper)
            timer.add("paste", time.perf_counter() - mark)
            if self.marker is not None:
                mark = time.perf_counter()
                out = self.marker(out)
                timer.add("watermark", time.perf_counter() - mark)
            timer.frames += 1
            yield out
            clock = time.perf_counter()
        ensure_face_found(found_any, self.driver)

    def settings(self) -> dict:
        """Options and derived facts for logs and content credentials."""
        out = asdict(self.options)
        out["regions"] = list(self.options.regions)
        for private in ("audio", "transcript"):  # a file name and a text: their hashes are in the provenance
            out.pop(private)
        if self.shot_hashes:
            out["source_shots_sha256"] = self.shot_hashes
        out.update(run_id=self.run_id, driver_kind=self.driver.kind, fps=self.fps,
                   output_size=list(self.output_size), watermark_partial=self.watermark_partial)
        out.update(self.driver.provenance)
        return out


def _advise_if_turned(name: str, landmarks: np.ndarray) -> None:
    """Log one line of advice when the one photo given shows its face turned :data:`TURNED_ADVICE` or more."""
    from .motion.pose import decompose

    yaw = abs(decompose(landmarks)[0].yaw_pitch_roll()[0])
    if yaw >= TURNED_ADVICE:
        log.warning("%s: the face is turned %.0f° from the camera; what the photo hides (far cheek, hair) is "
                    "mirrored from the side it shows, so turns towards the camera look flat: a second, more "
                    "frontal photo of the same person helps (headshot animate turned.jpg frontal.jpg ...)", name, yaw)
