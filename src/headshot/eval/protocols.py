"""Evaluation protocols: self-reenactment, few-shot self-reenactment and cross-identity reenactment.

Each protocol runs every *engine row* on every manifest item (a clip, or a portrait + driver clip) and
returns per-frame numbers; ``report.py`` pools them. A small internal runner does what the animate
pipeline does, with evaluation-specific choices that keep the comparison fair:

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
  Engines that take several shots expose ``prepare_shots(shots)``; engines that can fine-tune in memory
  expose ``finetune(shots)`` (see :func:`engine_supports_finetune`), which adds a fine-tuned row
  (``finetune(shots, steps=N)`` when ``headshot eval --finetune-steps N`` is given).
  Single-image engines get the first shot, and their T>1 results are reported as equal to T=1.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..engines import get_engine
from ..errors import HeadshotError
from . import metrics
from .baselines import BASELINE_LABELS
from .data import eval_crop_box, read_frames, read_image

NAN = float("nan")


# --- Engines --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineRow:
    """One row of the results table: an engine and how it is driven.

    Attributes:
        label: the row's name in tables.
        engine: engine name in ``headshot.engines`` (baselines ``source``/``similarity``, ``warp``, ...).
        driver_pixels: pass the driver frame to ``render`` (else ``driver_frame=None``).
        finetune: fine-tune on the shots before rendering (few-shot protocol only).
        finetune_steps: steps of that fine-tuning (``None``: the engine's default).
        baseline: the row is a baseline.
        engine_options: keyword arguments for the engine's constructor, as ``((name, value), ...)``.
    """

    label: str
    engine: str
    driver_pixels: bool = False
    finetune: bool = False
    finetune_steps: int | None = None
    baseline: bool = False
    engine_options: tuple = ()

    def make(self):
        """A fresh engine for this row."""
        return make_engine(self.engine, **dict(self.engine_options))


def make_engine(name: str, **options):
    """A fresh engine by name from ``headshot.engines`` (baselines ``source``, ``similarity``; ``warp``,
    ``neural``, ...); :class:`HeadshotError` for an unknown name."""
    return get_engine(name, **options)


def engine_supports_finetune(engine) -> bool:
    """Whether an engine can be fine-tuned on a person's shots in memory: it has ``finetune(shots)`` with
    ``shots = [(crop RGB uint8, landmarks (478, 3) crop pixels), ...]``, called after ``prepare``."""
    return callable(getattr(engine, "finetune", None))


def engine_supports_shots(engine) -> bool:
    """Whether an engine takes several source images: it has ``prepare_shots(shots)`` (``shots`` as in
    :func:`engine_supports_finetune`), called after ``prepare`` with the first shot to add the others."""
    return callable(getattr(engine, "prepare_shots", None))


def engine_rows(names: list[str], protocol: str, engine_options: dict[str, dict] | None = None,
                finetune_steps: int | None = None) -> list[EngineRow]:
    """The table rows for ``names`` in ``protocol``: baselines first, then each engine; an engine that can
    use driver pixels gets a pixel row and a template row in self-reenactment and cross-identity.
    ``engine_options`` maps an engine name to its constructor's keyword arguments (e.g. a model file);
    ``finetune_steps`` is passed to ``finetune(shots, steps=...)`` of the few-shot fine-tuned rows
    (``None``: the engine's default)."""
    rows = [EngineRow(BASELINE_LABELS[b], b, baseline=True) for b in ("source", "similarity")]
    for name in names:
        if name in BASELINE_LABELS:
            continue
        options = tuple(sorted((engine_options or {}).get(name, {}).items()))
        engine = make_engine(name, **dict(options))
        uses_pixels = engine.info.uses_driver_pixels
        if protocol == "fewshot":
            rows.append(EngineRow(f"{name} (template, no pixels)", name, engine_options=options))
            if engine_supports_finetune(engine):
                rows.append(EngineRow(f"{name} fine-tuned (template, no pixels)", name, finetune=True,
                                      finetune_steps=finetune_steps, engine_options=options))
        elif uses_pixels:
            rows.append(EngineRow(f"{name} (driver pixels)", name, driver_pixels=True, engine_options=options))
            rows.append(EngineRow(f"{name} (template, no pixels)", name, engine_options=options))
        else:
            rows.append(EngineRow(name, name, engine_options=options))
    return rows


# --- Shared analysis tools ------------------------------------------------------------------------------

@dataclass
class Observation:
    """What the detector sees in one image: landmarks (478, 3) pixels, head angles (deg), blendshapes."""

    landmarks: np.ndarray
    angles: np.ndarray
    blendshapes: np.ndarray


# ``--identity`` choices: the identity embedders each runs, and the per-frame CSIM key of each embedder.
IDENTITY_CHOICES = {"sface": ("sface",), "both": ("sface", "dlib")}
CSIM_KEYS = {"sface": "csim", "dlib": "csim_dlib"}


def check_identity(identity: str) -> None:
    """Raise :class:`HeadshotError` for an unknown ``identity`` choice, and :class:`MissingModelError` (with
    the pip command) when it needs dlib and dlib is not installed; cheap, for checks before a long run."""
    if identity not in IDENTITY_CHOICES:
        raise HeadshotError(f"unknown --identity {identity!r}; choose from {', '.join(IDENTITY_CHOICES)}")
    if "dlib" in IDENTITY_CHOICES[identity]:
        from ..assets import dlib_model_path
        from .identity import import_dlib

        import_dlib()
        dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")


def make_embedder(name: str):
    """An identity embedder by name: ``sface`` (:class:`SFaceEmbedder`) or ``dlib`` (:class:`DlibEmbedder`,
    which raises :class:`MissingModelError` when ``headshot[dlib]`` is not installed)."""
    from .identity import DlibEmbedder, SFaceEmbedder

    return {"sface": SFaceEmbedder, "dlib": DlibEmbedder}[name]()


class Toolkit:
    """The detectors and networks a run needs, created once (all CPU, single-threaded where possible).

    ``identity``: a key of :data:`IDENTITY_CHOICES`; ``both`` adds dlib's ResNet as a CSIM cross-check."""

    def __init__(self, lpips_weights: str | Path | None = None, inception_weights: str | Path | None = None,
                 identity: str = "sface"):
        from ..face.landmarker import FaceAnalyzer
        from .features import MobileNetV2Metrics

        check_identity(identity)
        self.embedders = {name: make_embedder(name) for name in IDENTITY_CHOICES[identity]}
        self.analyzer = FaceAnalyzer(video=False, max_faces=1)
        self.mobilenet = MobileNetV2Metrics()
        self.lpips = None
        self.inception = None
        if lpips_weights:
            from .features import LPIPS

            self.lpips = LPIPS(lpips_weights)
        if inception_weights:
            from .features import InceptionFeatures

            self.inception = InceptionFeatures(inception_weights)

    def close(self) -> None:
        self.analyzer.close()

    def forget(self) -> None:
        """Drop the per-image memo (call between items)."""
        self._memo: dict = {}

    def _remember(self, key: tuple, compute):
        # Identical images recur (the unmoved-source baseline renders one image per frame): compute once.
        memo = self.__dict__.setdefault("_memo", {})
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    @staticmethod
    def _digest(*arrays: np.ndarray) -> bytes:
        import hashlib

        digest = hashlib.blake2b(digest_size=16)
        for array in arrays:
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.digest()

    def observe(self, image: np.ndarray) -> Observation | None:
        """The largest face in ``image`` (RGB uint8), or ``None`` when the detector finds none."""
        def compute():
            faces = self.analyzer.detect(image)
            if not faces:
                return None
            face = faces[0]
            return Observation(face.landmarks, metrics.euler_angles(face.pose_matrix), face.blendshapes)

        return self._remember(("observe", self._digest(image)), compute)

    def embed(self, image: np.ndarray, landmarks: np.ndarray) -> dict[str, np.ndarray]:
        """Identity embeddings ``{embedder name: (128,)}`` (``sface``, and ``dlib`` when enabled) of the face
        in ``image`` at ``landmarks`` (its pixels)."""
        return self._remember(("embed", self._digest(image, landmarks)),
                              lambda: {name: e.embed(image, landmarks) for name, e in self.embedders.items()})

    def encode(self, images: list[np.ndarray]) -> tuple[list, dict[str, np.ndarray]]:
        """``(perceptual feature maps, {network: FID features (N, D)})`` of RGB uint8 crops; identical
        images are encoded once."""
        digests = [self._digest(image) for image in images]
        unique = list(dict.fromkeys(digests))
        first = [digests.index(d) for d in unique]
        where = [unique.index(d) for d in digests]
        taps, pooled = self.mobilenet.encode([images[i] for i in first])
        taps = [tap[where] for tap in taps]
        features = {"mobilenet": pooled[where]}
        if self.inception is not None:
            features["inception"] = self.inception([images[i] for i in first])[where]
        return taps, features


# --- Scoring --------------------------------------------------------------------------------------------

def _tracks(observations: list[Observation | None]) -> tuple[np.ndarray, np.ndarray]:
    from ..face.topology import to_68

    present = np.array([o is not None for o in observations], bool)
    tracks = np.zeros((len(observations), 68, 2), np.float64)
    for index, observation in enumerate(observations):
        if observation is not None:
            tracks[index] = to_68(observation.landmarks)[:, :2]
    return tracks, present


def score_frames(toolkit: Toolkit, outputs: list[np.ndarray], reference_images: list[np.ndarray] | None,
                 reference_observations: list[Observation], identity_embeddings: list[np.ndarray],
                 relative_to: tuple[Observation, Observation] | None = None,
                 reference_taps: list | None = None) -> tuple[dict, dict, dict]:
    """Score rendered crops.

    Args:
        outputs: rendered crops (RGB uint8 256x256).
        reference_images: the real crops (self-reenactment), or ``None`` (cross-identity: no ground truth).
        reference_observations: the driver's/real frame's observation for each output (motion reference).
        identity_embeddings: per output, the embeddings (:meth:`Toolkit.embed`) the output should match (real
            frame's, or the source's): SFace gives ``csim`` and ``aed``, dlib ``csim_dlib``.
        relative_to: ``(source observation, driver reference observation)``: compare *changes* of head
            angles and blendshapes (output minus source vs driver minus its reference frame), as the
            relative motion transfer of cross-identity intends; ``None`` compares absolute values.
        reference_taps: MobileNetV2 feature maps of ``reference_images`` (from :meth:`Toolkit.encode`).

    Returns:
        ``(per_frame, per_item, fid_features)``: per-frame lists (NaN where undefined), per-item numbers
        (jitter), FID features of the outputs.
    """
    csim_keys = [CSIM_KEYS[name] for name in toolkit.embedders]
    per_frame: dict[str, list[float]] = {key: [] for key in
                                         ("face_lost", "akd", *csim_keys, "aed", "pose_error", "expression_error")}
    observations: list[Observation | None] = []
    for index, output in enumerate(outputs):
        observation = toolkit.observe(output)
        observations.append(observation)
        reference = reference_observations[index]
        per_frame["face_lost"].append(float(observation is None))
        if observation is None:
            for key in ("akd", "pose_error", "expression_error"):
                per_frame[key].append(NAN)
            # Identity of a lost face: align on the target landmarks, where the face should be.
            embedding = toolkit.embed(output, reference.landmarks) if reference_images is not None else None
        else:
            per_frame["akd"].append(metrics.keypoint_distance(observation.landmarks, reference.landmarks)
                                    if reference_images is not None else NAN)
            if relative_to is None:
                per_frame["pose_error"].append(metrics.pose_error(observation.angles, reference.angles))
                per_frame["expression_error"].append(metrics.expression_error(observation.blendshapes,
                                                                              reference.blendshapes))
            else:
                source, driver_reference = relative_to
                per_frame["pose_error"].append(metrics.pose_error(observation.angles - source.angles,
                                                                  reference.angles - driver_reference.angles))
                per_frame["expression_error"].append(metrics.expression_error(
                    observation.blendshapes - source.blendshapes, reference.blendshapes - driver_reference.blendshapes))
            embedding = toolkit.embed(output, observation.landmarks)
        if embedding is None:
            for key in (*csim_keys, "aed"):
                per_frame[key].append(NAN)
        else:
            wanted = identity_embeddings[index]
            for name in toolkit.embedders:
                per_frame[CSIM_KEYS[name]].append(metrics.cosine_similarity(embedding[name], wanted[name]))
            per_frame["aed"].append(metrics.embedding_distance(embedding["sface"], wanted["sface"]))
    # MobileNetV2 features only serve pixel comparisons and FID, which need real frames.
    taps, features = toolkit.encode(outputs) if outputs and reference_images is not None else ([], {})
    if reference_images is not None:
        per_frame["l1"] = [metrics.l1(o, r) for o, r in zip(outputs, reference_images)]
        per_frame["psnr"] = [metrics.psnr(o, r) for o, r in zip(outputs, reference_images)]
        per_frame["ssim"] = [metrics.ssim(o, r) for o, r in zip(outputs, reference_images)]
        per_frame["perceptual"] = [float(v) for v in toolkit.mobilenet.distance(taps, reference_taps)]
        if toolkit.lpips is not None:
            per_frame["lpips"] = [float(v) for v in toolkit.lpips(outputs, reference_images)]
    tracks, present = _tracks(observations)
    reference_tracks, reference_present = _tracks(reference_observations)
    per_item = {"jitter": metrics.landmark_jitter(tracks, present),
                "jitter_driver": metrics.landmark_jitter(reference_tracks, reference_present)}
    return per_frame, per_item, features


# --- Items ----------------------------------------------------------------------------------------------

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

    def to_json(self) -> dict:
        return {"item": self.item, "protocol": self.protocol, "frames": self.frames, "rows": self.rows,
                "skipped": self.skipped, "seconds": self.seconds}


def _render_row(row: EngineRow, source_crop, source_landmarks, targets, driver_frames, driver_landmarks):
    engine = row.make()
    engine.prepare(source_crop, source_landmarks)
    outputs, seconds = [], 0.0
    for index, target in enumerate(targets):
        frame = driver_frames[index] if row.driver_pixels else None
        frame_landmarks = driver_landmarks[index] if row.driver_pixels else None
        start = time.perf_counter()
        output = engine.render(target, driver_frame=frame, driver_landmarks=frame_landmarks)
        seconds += time.perf_counter() - start
        outputs.append(_check_output(output, source_crop.shape, row))
    return outputs, seconds


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
        image = box.apply(frames[index]) if box is not None else frames[index]
        observation = toolkit.observe(image)
        if observation is not None:
            kept.append(index)
            images.append(image)
            observations.append(observation)
    return kept, images, observations


def run_self_item(entry: dict, data_root: Path, rows: list[EngineRow], toolkit: Toolkit) -> ItemResult:
    """Self-reenactment on one clip: the source frame animated by the clip's own landmarks."""
    result = ItemResult(entry["id"], "self")
    source_index = int(entry.get("source_frame", 0))
    frames = read_frames(Path(data_root) / entry["video"], [source_index, *entry["frames"]])
    if source_index not in frames:
        result.skipped = "source frame not in the video"
        return result
    source_frame_observation = toolkit.observe(frames[source_index])
    if source_frame_observation is None:
        result.skipped = "no face in the source frame"
        return result
    box = eval_crop_box(source_frame_observation.landmarks)
    source_crop = box.apply(frames[source_index])
    source_observation = toolkit.observe(source_crop)
    source_landmarks = (source_observation.landmarks if source_observation is not None
                        else box.to_crop(source_frame_observation.landmarks))

    # A frame without a face has no target motion: not scored for any row.
    indices, real_crops, real_observations = _observed_frames(toolkit, frames, entry["frames"], box)
    full_frames = [frames[index] for index in indices]
    result.frames = indices
    if not indices:
        result.skipped = "no face in any target frame"
        return result
    targets = [o.landmarks for o in real_observations]
    driver_landmarks = [box.to_frame(t) for t in targets]
    real_embeddings = [toolkit.embed(c, o.landmarks) for c, o in zip(real_crops, real_observations)]
    real_taps, real_features = toolkit.encode(real_crops)
    for network, values in real_features.items():
        result.features[f"real|{network}"] = values
    steps = _sheet_steps(len(indices))
    result.sheet = {"columns": ["driver", "source"], "steps": [[frames[indices[s]], source_crop] for s in steps]}
    for row in rows:
        outputs, seconds = _render_row(row, source_crop, source_landmarks, targets, full_frames, driver_landmarks)
        per_frame, per_item, features = score_frames(toolkit, outputs, real_crops, real_observations,
                                                     real_embeddings, reference_taps=real_taps)
        result.rows[row.label] = {"per_frame": per_frame, "per_item": per_item, "render_seconds": seconds,
                                  "rendered": len(outputs)}
        for network, values in features.items():
            result.features[f"{row.label}|{network}"] = values
        _add_sheet_column(result.sheet, row.label, outputs, steps)
    _add_sheet_column(result.sheet, "real", real_crops, steps)
    return result


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


CROSS_TARGETS_METHOD = "motion.retarget relative, best_reference"


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
    source_crop = box.apply(portrait)
    source_observation = toolkit.observe(source_crop)
    if source_observation is None:
        result.skipped = "no face in the portrait crop"
        return result
    source_embedding = toolkit.embed(source_crop, source_observation.landmarks)
    frames = read_frames(Path(data_root) / entry["driver"], entry["frames"])
    indices, driver_frames, driver_observations = _observed_frames(toolkit, frames, entry["frames"])
    result.frames = indices
    if not indices:
        result.skipped = "no face in the driver frames"
        return result
    driver_landmarks = [o.landmarks for o in driver_observations]
    targets, reference_index = cross_targets(source_observation.landmarks, driver_landmarks)
    reference = driver_observations[reference_index]
    steps = _sheet_steps(len(indices))
    result.sheet = {"columns": ["driver", "source"], "steps": [[driver_frames[s], source_crop] for s in steps]}
    for row in rows:
        outputs, seconds = _render_row(row, source_crop, source_observation.landmarks, targets, driver_frames,
                                       driver_landmarks)
        per_frame, per_item, _ = score_frames(toolkit, outputs, None, driver_observations,
                                              [source_embedding] * len(outputs),
                                              relative_to=(source_observation, reference))
        result.rows[row.label] = {"per_frame": per_frame, "per_item": per_item, "render_seconds": seconds,
                                  "rendered": len(outputs)}
        _add_sheet_column(result.sheet, row.label, outputs, steps)
    return result


def _subset(shots: list, count: int) -> list[int]:
    """Positions of ``count`` shots spread evenly over the available ones (the first always included)."""
    if count >= len(shots):
        return list(range(len(shots)))
    return sorted({int(round(x)) for x in np.linspace(0, len(shots) - 1, count)})


def run_fewshot_item(entry: dict, data_root: Path, rows: list[EngineRow], shot_counts: list[int],
                     toolkit: Toolkit) -> ItemResult:
    """Few-shot self-reenactment on one clip: T shots (first half) animate held-out targets (second half)."""
    result = ItemResult(entry["id"], "fewshot")
    frames = read_frames(Path(data_root) / entry["video"], [*entry["shots"], *entry["targets"]])
    shot_frames = [frames[i] for i in entry["shots"] if i in frames]
    if not shot_frames:
        result.skipped = "no shot frames"
        return result
    first = toolkit.observe(shot_frames[0])
    if first is None:
        result.skipped = "no face in the first shot"
        return result
    box = eval_crop_box(first.landmarks)
    _, shot_crops, shot_observations = _observed_frames(toolkit, frames, entry["shots"], box)
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
    real_embeddings = [toolkit.embed(c, o.landmarks) for c, o in zip(real_crops, real_observations)]
    real_taps, real_features = toolkit.encode(real_crops)
    for network, values in real_features.items():
        result.features[f"real|{network}"] = values
    steps = _sheet_steps(len(indices))
    result.sheet = {"columns": ["driver", "source"],
                    "steps": [[frames[indices[s]], shot_crops[0]] for s in steps]}
    for row in rows:
        single_result = None
        for count in shot_counts:
            chosen = _subset(shot_crops, count)
            engine = row.make()
            takes_shots = engine_supports_shots(engine)
            if not takes_shots and single_result is not None:
                result.rows[f"{row.label}|T={count}"] = dict(single_result, shots_used=1)
                continue
            shots = [(shot_crops[i], shot_landmarks[i]) for i in chosen]
            engine.prepare(*shots[0])
            if takes_shots and len(shots) > 1:
                engine.prepare_shots(shots[1:])
            if row.finetune:
                if row.finetune_steps is None:
                    engine.finetune(shots)
                else:
                    engine.finetune(shots, steps=row.finetune_steps)
            outputs, seconds = [], 0.0
            for target in targets:
                start = time.perf_counter()
                outputs.append(_check_output(engine.render(target), shot_crops[0].shape, row))
                seconds += time.perf_counter() - start
            per_frame, per_item, features = score_frames(toolkit, outputs, real_crops, real_observations,
                                                         real_embeddings, reference_taps=real_taps)
            record = {"per_frame": per_frame, "per_item": per_item, "render_seconds": seconds,
                      "rendered": len(outputs), "shots_used": len(chosen) if takes_shots else 1}
            result.rows[f"{row.label}|T={count}"] = record
            for network, values in features.items():
                result.features[f"{row.label}|T={count}|{network}"] = values
            if not takes_shots:
                single_result = record
                for network, values in features.items():
                    for other in shot_counts:
                        result.features[f"{row.label}|T={other}|{network}"] = values
            if count == shot_counts[0]:
                _add_sheet_column(result.sheet, row.label, outputs, steps)
    _add_sheet_column(result.sheet, "real", real_crops, steps)
    return result


ItemRunner = Callable[[dict], ItemResult]
