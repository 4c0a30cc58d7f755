"""Scoring rendered crops: per-frame metrics against real frames (self-reenactment, few-shot) or against the
driver's motion and the source's identity (cross-identity), and per-item landmark jitter.
"""

from __future__ import annotations

import numpy as np

from . import metrics
from .toolkit import CSIM_KEYS, Observation, Toolkit

NAN = float("nan")


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
