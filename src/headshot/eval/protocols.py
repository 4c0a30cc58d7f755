"""Evaluation protocols: self-reenactment, few-shot self-reenactment and cross-identity reenactment.

Each protocol runs every *engine row* on every manifest item (a clip, or a portrait + driver clip) and
returns per-frame numbers; ``pooling.py`` pools them. The three share one skeleton (:func:`measure`): each
builds a :class:`Scene` (source crop, targets, what outputs are compared with), then every row renders, is
scored (``scoring.py``) and recorded. The rows (``rows.py``) and the detectors and networks (``toolkit.py``)
are set up once per run. A small internal runner does what the animate pipeline does, with
evaluation-specific choices that keep the comparison fair:

- One fixed square crop box per item, computed from the source frame's landmarks, crops the source,
  every real frame and the driver for the crop-space targets; engines render at 256x256 in that crop,
  so outputs and real frames are compared pixel for pixel on the *same* box (no per-frame re-cropping that
  could hide motion errors).
- Landmarks of crops are detected in IMAGE mode (each frame independently) with the same detector for real
  frames and outputs, so AKD measures the engine, not a tracking difference.
- Self-reenactment targets are absolute: the real frame's landmarks in crop pixels. Because the driver
  *is* the ground truth there, an engine that copies driver pixels (the warp engine pastes the driver's
  mouth interior) is scored twice: with the driver frame, and from the pixel-free motion alone
  (``driver_frame=None``), shown as separate rows.
- Cross-identity targets are relative (motion since a reference frame, applied to the source's own face):
  the pipeline's ``motion.retarget.Retargeter`` with its ``best_reference`` frame (see
  :func:`cross_targets`); pose and expression errors compare changes since that reference.
- Few-shot: T shots from the first half of a clip, targets from the second half, driven by landmarks only.
  Engines that declare ``info.takes_shots`` get the others through ``prepare_shots(shots)`` (the warp
  engine: each part of the face from the shot that sees it best; the neural engine: the mean embedding);
  engines that declare ``info.finetunes``
  get a fine-tuned row, fine-tuned on the shots by ``headshot.train.finetune.finetune_engine(engine, shots,
  steps=N)`` (``N`` from ``headshot eval --finetune-steps``; ``None``: the model's default).
  Single-image engines get the first shot, and their T>1 results are reported as equal to T=1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, NamedTuple

import numpy as np

from ..errors import HeadshotError
from ..io.images import read_image
from ..io.video import read_frames_at
from .background import BACKGROUND_METRIC, FullFrames, score_background
from .data import EVAL_SIZE, eval_crop, eval_crop_box
from .rows import EngineRow, engine_supports_shots
from .scoring import score_frames
from .toolkit import Observation, Toolkit
from .turned import YAW_CHANGE, sheet_steps_by_yaw, yaw_context

CROSS_TARGETS_METHOD = "motion.retarget relative, best_reference"


@dataclass
class ItemResult:
    """Results of all rows on one manifest item (JSON-able except ``features`` and ``sheet``)."""

    item: str
    protocol: str
    frames: list[int] = field(default_factory=list)
    rows: dict = field(default_factory=dict)          # label -> {"per_frame", "per_item", "render_seconds", ...}
    skipped: str | None = None
    seconds: float = 0.0                              # wall time it took to compute this item
    features: dict = field(default_factory=dict)      # "<label>|<network>" -> (N, D) float32
    sheet: dict | None = None                         # images for the contact sheet
    context: dict = field(default_factory=dict)       # per-item facts for tables (source yaw, |Δyaw| per frame)

    def to_json(self) -> dict:
        return {"item": self.item, "protocol": self.protocol, "frames": self.frames, "rows": self.rows,
                "skipped": self.skipped, "seconds": self.seconds, "context": self.context}


# --- The skeleton every protocol shares -----------------------------------------------------------------

@dataclass
class Scene:
    """What every row of one item shares: the source, the targets, and what the outputs are scored against.

    Attributes:
        source_crop: the crop engines prepare from (RGB uint8, ``EVAL_SIZE`` square).
        source_landmarks: its landmarks ``(478, 3)`` in crop pixels.
        targets: per scored frame, the target landmarks in source-crop pixels.
        driver_frames: per scored frame, the whole driver frame (driver-pixel rows, contact sheet).
        references: per scored frame, the observation an output's motion is compared with.
        identities: per scored frame, the embeddings (:meth:`Toolkit.embed`) an output should match.
        driver_landmarks: per scored frame, the driver's landmarks in ``driver_frames`` pixels (driver-pixel
            rows only; ``None`` when no row uses driver pixels).
        real_crops: the ground truth (self-reenactment, few-shot); ``None`` in cross-identity.
        real_taps: MobileNetV2 feature maps of ``real_crops``.
        relative_to: ``(source, driver reference)`` observations when motion is compared as changes.
        full: the full frames for background L1 (:class:`headshot.eval.background.FullFrames`; ground-truth
            protocols only).
        sheet_steps: positions of the scored frames shown on the contact sheet (default: 4 spread in time).
    """

    source_crop: np.ndarray
    source_landmarks: np.ndarray
    targets: list[np.ndarray]
    driver_frames: list[np.ndarray]
    references: list[Observation]
    identities: list[dict]
    driver_landmarks: list[np.ndarray] | None = None
    real_crops: list[np.ndarray] | None = None
    real_taps: list | None = None
    relative_to: tuple[Observation, Observation] | None = None
    full: FullFrames | None = None
    sheet_steps: list[int] | None = None


class Rendering(NamedTuple):
    """One row's outputs under ``key``, or ``same_as`` the key of an earlier rendering with identical outputs."""

    key: str
    outputs: list[np.ndarray] | None = None
    seconds: float = 0.0
    extra: dict | None = None
    same_as: str | None = None


def measure(result: ItemResult, scene: Scene, rows: list[EngineRow], toolkit: Toolkit,
            renders: Callable[[EngineRow], Iterable[Rendering]]) -> ItemResult:
    """Render, score and record every row on one item, and build its contact sheet.

    ``renders(row)`` yields the row's :class:`Rendering` s (one per row; one per shot count in few-shot).
    Each is scored against ``scene`` (:func:`score_frames`) and stored in ``result.rows[key]`` with its FID
    features; the first rendering of a row becomes a contact-sheet column, after the driver and source columns
    and before the real frames'.
    """
    steps = scene.sheet_steps if scene.sheet_steps is not None else _sheet_steps(len(scene.targets))
    result.sheet = {"columns": ["driver", "source"],
                    "steps": [[scene.driver_frames[step], scene.source_crop] for step in steps]}
    if YAW_CHANGE in result.context:  # each line says how far the head turned from the source
        result.sheet["labels"] = [f"frame {result.frames[step]}, |dyaw| {result.context[YAW_CHANGE][step]:.0f} deg"
                                  for step in steps]
    for row in rows:
        for position, rendering in enumerate(renders(row)):
            if rendering.same_as is not None:
                result.rows[rendering.key] = dict(result.rows[rendering.same_as])
                prefix = rendering.same_as + "|"
                for feature_key in [k for k in result.features if k.startswith(prefix)]:
                    result.features[f"{rendering.key}|{feature_key[len(prefix):]}"] = result.features[feature_key]
                continue
            outputs = rendering.outputs
            per_frame, per_item, features = score_frames(
                toolkit, outputs, scene.real_crops, scene.references, scene.identities,
                relative_to=scene.relative_to, reference_taps=scene.real_taps)
            if scene.full is not None:
                per_frame[BACKGROUND_METRIC] = score_background(toolkit, outputs, scene.full)
            result.rows[rendering.key] = {"per_frame": per_frame, "per_item": per_item,
                                          "render_seconds": rendering.seconds, "rendered": len(outputs),
                                          **(rendering.extra or {})}
            for network, values in features.items():
                result.features[f"{rendering.key}|{network}"] = values
            if position == 0:
                _add_sheet_column(result.sheet, row.label, outputs, steps)
    if scene.real_crops is not None:
        _add_sheet_column(result.sheet, "real", scene.real_crops, steps)
    return result


def _render(engine, row: EngineRow, scene: Scene) -> tuple[list[np.ndarray], float]:
    """A prepared engine's outputs for the scene's targets, and the seconds ``render`` took in all."""
    outputs, seconds = [], 0.0
    for index, target in enumerate(scene.targets):
        frame = scene.driver_frames[index] if row.driver_pixels else None
        frame_landmarks = scene.driver_landmarks[index] if row.driver_pixels else None
        start = time.perf_counter()
        output = engine.render(target, driver_frame=frame, driver_landmarks=frame_landmarks)
        seconds += time.perf_counter() - start
        outputs.append(_check_output(output, scene.source_crop.shape, row))
    return outputs, seconds


def _render_row(row: EngineRow, scene: Scene) -> list[Rendering]:
    """The one rendering of a row prepared from the scene's source (self-reenactment, cross-identity)."""
    engine = row.make()
    engine.prepare(scene.source_crop, scene.source_landmarks)
    return [Rendering(row.label, *_render(engine, row, scene))]


def _check_output(output, shape, row: EngineRow) -> np.ndarray:
    output = np.asarray(output)
    if output.dtype != np.uint8 or output.shape != shape:
        raise HeadshotError(f"engine row '{row.label}' returned {output.dtype} {output.shape}, expected uint8 {shape}")
    return output


def _add_sheet_column(sheet: dict, label: str, images: list[np.ndarray], steps: list[int]) -> None:
    """Append one labelled column (the images at ``steps``) to a contact sheet under construction."""
    sheet["columns"].append(label)
    for line, step in zip(sheet["steps"], steps):
        line.append(images[step])


def _sheet_steps(count: int, steps: int = 4) -> list[int]:
    return sorted({int(round(x)) for x in np.linspace(0, count - 1, min(steps, count))}) if count else []


def _observed_frames(toolkit: Toolkit, frames: dict, indices: list[int], box=None
                     ) -> tuple[list[int], list[np.ndarray], list[Observation]]:
    """``(indices, images, observations)`` of the decoded ``frames`` at ``indices`` (cropped by ``box`` when
    given) in which the detector finds a face; the others are dropped."""
    kept, images, observations = [], [], []
    for index in indices:
        if index not in frames:
            continue
        image = eval_crop(frames[index], box) if box is not None else frames[index]
        observation = toolkit.observe(image)
        if observation is not None:
            kept.append(index)
            images.append(image)
            observations.append(observation)
    return kept, images, observations


def _ground_truth(toolkit: Toolkit, result: ItemResult, crops: list[np.ndarray],
                  observations: list[Observation]) -> dict:
    """The :class:`Scene` fields of real frames (identities, crops, MobileNetV2 taps); their FID features go
    into ``result.features`` as ``real|<network>``."""
    identities = [toolkit.embed(crop, o.landmarks) for crop, o in zip(crops, observations)]
    taps, features = toolkit.encode(crops)
    for network, values in features.items():
        result.features[f"real|{network}"] = values
    return {"identities": identities, "real_crops": crops, "real_taps": taps}


# --- The three protocols --------------------------------------------------------------------------------

def run_self_item(entry: dict, data_root: Path, rows: list[EngineRow], toolkit: Toolkit,
                  protocol: str = "self") -> ItemResult:
    """Self-reenactment on one clip: the source frame animated by the clip's own landmarks (``protocol``
    ``turned``: the same with the clip's most turned frame as the source, see :mod:`headshot.eval.turned`)."""
    result = ItemResult(entry["id"], protocol)
    source_index = int(entry.get("source_frame", 0))
    frames = read_frames_at(Path(data_root) / entry["video"], [source_index, *entry["frames"]])
    if source_index not in frames:
        result.skipped = "source frame not in the video"
        return result
    source_frame_observation = toolkit.observe(frames[source_index])
    if source_frame_observation is None:
        result.skipped = "no face in the source frame"
        return result
    box = eval_crop_box(source_frame_observation.landmarks)
    source_crop = eval_crop(frames[source_index], box)
    source_observation = toolkit.observe(source_crop)
    source_landmarks = (source_observation.landmarks if source_observation is not None
                        else box.to_crop(source_frame_observation.landmarks, EVAL_SIZE))

    # A frame without a face has no target motion: not scored for any row.
    indices, real_crops, real_observations = _observed_frames(toolkit, frames, entry["frames"], box)
    result.frames = indices
    if not indices:
        result.skipped = "no face in any target frame"
        return result
    targets = [o.landmarks for o in real_observations]
    source_angles = (source_observation or source_frame_observation).angles
    result.context = yaw_context(source_angles, [o.angles for o in real_observations])
    full_frames = [frames[index] for index in indices]
    scene = Scene(source_crop, source_landmarks, targets, full_frames, real_observations,
                  driver_landmarks=[box.to_image(t, EVAL_SIZE) for t in targets],
                  full=FullFrames(frames[source_index], source_landmarks, box, full_frames, targets),
                  sheet_steps=sheet_steps_by_yaw(result.context[YAW_CHANGE]) if protocol == "turned" else None,
                  **_ground_truth(toolkit, result, real_crops, real_observations))
    return measure(result, scene, rows, toolkit, lambda row: _render_row(row, scene))


def run_cross_item(entry: dict, data_root: Path, portraits_parent: Path, rows: list[EngineRow],
                   toolkit: Toolkit) -> ItemResult:
    """Cross-identity reenactment: one portrait driven by another person's clip (relative motion)."""
    result = ItemResult(entry["id"], "cross")
    portrait = read_image(Path(portraits_parent) / entry["portrait"])
    portrait_observation = toolkit.observe(portrait)
    if portrait_observation is None:
        result.skipped = "no face in the portrait"
        return result
    box = eval_crop_box(portrait_observation.landmarks)
    source_crop = eval_crop(portrait, box)
    source_observation = toolkit.observe(source_crop)
    if source_observation is None:
        result.skipped = "no face in the portrait crop"
        return result
    source_embedding = toolkit.embed(source_crop, source_observation.landmarks)
    frames = read_frames_at(Path(data_root) / entry["driver"], entry["frames"])
    indices, driver_frames, driver_observations = _observed_frames(toolkit, frames, entry["frames"])
    result.frames = indices
    if not indices:
        result.skipped = "no face in the driver frames"
        return result
    driver_landmarks = [o.landmarks for o in driver_observations]
    targets, reference_index = cross_targets(source_observation.landmarks, driver_landmarks)
    scene = Scene(source_crop, source_observation.landmarks, targets, driver_frames, driver_observations,
                  [source_embedding] * len(targets), driver_landmarks=driver_landmarks,
                  relative_to=(source_observation, driver_observations[reference_index]))
    return measure(result, scene, rows, toolkit, lambda row: _render_row(row, scene))


def run_fewshot_item(entry: dict, data_root: Path, rows: list[EngineRow], shot_counts: list[int],
                     toolkit: Toolkit) -> ItemResult:
    """Few-shot self-reenactment on one clip: T shots (first half) animate held-out targets (second half)."""
    result = ItemResult(entry["id"], "fewshot")
    frames = read_frames_at(Path(data_root) / entry["video"], [*entry["shots"], *entry["targets"]])
    shot_frames = [frames[i] for i in entry["shots"] if i in frames]
    if not shot_frames:
        result.skipped = "no shot frames"
        return result
    first = toolkit.observe(shot_frames[0])
    if first is None:
        result.skipped = "no face in the first shot"
        return result
    box = eval_crop_box(first.landmarks)
    shot_indices, shot_crops, shot_observations = _observed_frames(toolkit, frames, entry["shots"], box)
    shot_landmarks = [observation.landmarks for observation in shot_observations]
    if not shot_crops:
        result.skipped = "no face in the shot crops"
        return result
    indices, real_crops, real_observations = _observed_frames(toolkit, frames, entry["targets"], box)
    result.frames = indices
    if not indices:
        result.skipped = "no face in any target frame"
        return result
    targets = [o.landmarks for o in real_observations]
    full_frames = [frames[index] for index in indices]
    scene = Scene(shot_crops[0], shot_landmarks[0], targets, full_frames, real_observations,
                  full=FullFrames(frames[shot_indices[0]], shot_landmarks[0], box, full_frames, targets),
                  **_ground_truth(toolkit, result, real_crops, real_observations))

    def renders(row: EngineRow) -> Iterable[Rendering]:
        # Single-image engines see the first shot only: their T > 1 results are those of T = 1.
        single = None
        for count in shot_counts:
            key = f"{row.label}|T={count}"
            engine = row.make()
            takes_shots = engine_supports_shots(engine)
            if not takes_shots and single is not None:
                yield Rendering(key, same_as=single)
                continue
            chosen = _subset(shot_crops, count)
            shots = [(shot_crops[i], shot_landmarks[i]) for i in chosen]
            engine.prepare(*shots[0])
            if takes_shots and len(shots) > 1:
                engine.prepare_shots(shots[1:])
            if row.finetune:
                # train/ here, not at the top: it loads torch, which rows without fine-tuning never need.
                from ..train.finetune import finetune_engine

                finetune_engine(engine, shots, steps=row.finetune_steps)
            outputs, seconds = _render(engine, row, scene)
            yield Rendering(key, outputs, seconds, {"shots_used": len(chosen) if takes_shots else 1})
            if not takes_shots:
                single = key

    return measure(result, scene, rows, toolkit, renders)


def _subset(shots: list, count: int) -> list[int]:
    """Positions of ``count`` shots spread evenly over the available ones (the first always included)."""
    if count >= len(shots):
        return list(range(len(shots)))
    return sorted({int(round(x)) for x in np.linspace(0, len(shots) - 1, count)})


# --- Cross-identity targets -----------------------------------------------------------------------------

def relative_targets(source_landmarks: np.ndarray, driver_reference: np.ndarray,
                     driver_landmarks: np.ndarray) -> np.ndarray:
    """FOMM-style relative motion transfer of landmarks ``(478, 3)``.

    The driver's displacement from its reference frame, mapped by the rotation+scale of the similarity
    that takes the reference's rigid points onto the source's, is added to the source landmarks (z is
    scaled by the same factor). Output in the source's pixels.
    """
    import cv2

    from ..face.topology import RIGID

    matrix, _ = cv2.estimateAffinePartial2D(driver_reference[RIGID, :2].astype(np.float32),
                                            source_landmarks[RIGID, :2].astype(np.float32), method=cv2.LMEDS)
    if matrix is None:
        matrix = np.eye(2, 3)
    linear = matrix[:, :2]
    scale = math.sqrt(abs(np.linalg.det(linear)))
    delta = driver_landmarks - driver_reference
    target = source_landmarks.astype(np.float64).copy()
    target[:, :2] += delta[:, :2] @ linear.T
    target[:, 2] += delta[:, 2] * scale
    return target.astype(np.float32)


def cross_targets(source_landmarks: np.ndarray, driver_landmarks: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """Target landmarks (source-crop pixels) for a cross-identity drive, and the reference frame's position.

    Uses the pipeline's own retargeting (``headshot.motion.retarget``: relative mode, reference frame
    chosen by ``best_reference``) so the protocol measures what users get; falls back to
    :func:`relative_targets` with the first frame as reference when that module is unavailable.
    """
    try:
        from ..motion.retarget import Retargeter, best_reference
    except ImportError:
        return [relative_targets(source_landmarks, driver_landmarks[0], d) for d in driver_landmarks], 0
    reference = int(best_reference(source_landmarks, driver_landmarks))
    retargeter = Retargeter(source_landmarks)
    retargeter.set_reference(driver_landmarks[reference])
    return [retargeter(d) for d in driver_landmarks], reference
