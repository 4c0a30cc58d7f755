"""Image, landmark, motion and distribution metrics of the talking-head literature (pure numpy/scipy).

Conventions: images are RGB uint8 HWC (converted to float in [0, 1] here); landmarks are float arrays in
pixels of the image they were detected in. Network-based metrics (perceptual distances, FID features,
identity embeddings) live in ``features.py`` and ``identity.py``; this module only combines numbers.

References: L1 and AKD as in FOMM (Siarohin et al., NeurIPS 2019); SSIM (Wang et al., 2004); FID
(Heusel et al., NeurIPS 2017); CSIM/AED as in Zakharov et al. (ICCV 2019) and FOMM.
"""

from __future__ import annotations

import math

import numpy as np

from ..face.topology import to_68


def _as_unit_float(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.astype(np.float32) / 255.0
    return image.astype(np.float32)


def l1(output: np.ndarray, real: np.ndarray) -> float:
    """Mean absolute difference of two RGB uint8 images with values scaled to [0, 1] (FOMM's L1)."""
    _check_same_shape(output, real)
    return float(np.mean(np.abs(_as_unit_float(output) - _as_unit_float(real))))


def psnr(output: np.ndarray, real: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two RGB uint8 images (peak 255); ``inf`` when identical."""
    _check_same_shape(output, real)
    mse = float(np.mean((output.astype(np.float64) - real.astype(np.float64)) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(output: np.ndarray, real: np.ndarray) -> float:
    """Structural similarity (Wang et al. 2004, 7x7 uniform window, per channel, averaged) of two RGB uint8
    images; 1 when identical."""
    from skimage.metrics import structural_similarity

    _check_same_shape(output, real)
    return float(structural_similarity(output, real, channel_axis=2, data_range=255))


def _check_same_shape(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def keypoint_distance(output_landmarks: np.ndarray, real_landmarks: np.ndarray) -> float:
    """AKD for one frame: mean Euclidean distance (pixels) of the 68 classic points derived from MediaPipe's
    478 landmarks (``(478, 2|3)``; only x, y are used). Landmarks must be in the same image frame (here the
    256x256 evaluation crop)."""
    out = to_68(np.asarray(output_landmarks, np.float64))[:, :2]
    ref = to_68(np.asarray(real_landmarks, np.float64))[:, :2]
    return float(np.mean(np.linalg.norm(out - ref, axis=1)))


def euler_angles(pose_matrix: np.ndarray) -> np.ndarray:
    """Head pose ``(yaw, pitch, roll)`` in degrees from MediaPipe's 4x4 facial transformation matrix.

    The rotation ``R = Ry(yaw) @ Rx(pitch) @ Rz(roll)`` (y up, as in MediaPipe's canonical face space);
    a frontal face gives angles near 0.
    """
    rotation = np.asarray(pose_matrix, np.float64)[:3, :3]
    # Remove any scale MediaPipe folds into the matrix.
    rotation = rotation / np.cbrt(max(np.linalg.det(rotation), 1e-12))
    pitch = math.asin(float(np.clip(-rotation[1, 2], -1.0, 1.0)))
    yaw = math.atan2(rotation[0, 2], rotation[2, 2])
    roll = math.atan2(rotation[1, 0], rotation[1, 1])
    return np.degrees(np.array([yaw, pitch, roll]))


def pose_error(output_angles: np.ndarray, driver_angles: np.ndarray) -> float:
    """Mean absolute difference (degrees) of yaw, pitch, roll; inputs ``(..., 3)`` from :func:`euler_angles`."""
    diff = np.asarray(output_angles, np.float64) - np.asarray(driver_angles, np.float64)
    diff = (diff + 180.0) % 360.0 - 180.0
    return float(np.mean(np.abs(diff)))


def expression_error(output_blendshapes: np.ndarray, driver_blendshapes: np.ndarray) -> float:
    """Mean absolute difference of MediaPipe's 52 blendshape coefficients (each in [0, 1])."""
    return float(np.mean(np.abs(np.asarray(output_blendshapes, np.float64)
                                - np.asarray(driver_blendshapes, np.float64))))


def landmark_jitter(tracks: np.ndarray, present: np.ndarray | None = None) -> float:
    """High-frequency energy of landmark tracks: mean squared second temporal difference.

    Args:
        tracks: ``(T, N, 2)`` landmark positions over consecutive sampled frames, in pixels.
        present: ``(T,)`` bool, frames where the face was found; differences that touch a missing frame
            are skipped.

    Returns:
        mean over points and valid frames of ``|x[t+1] - 2 x[t] + x[t-1]|^2`` in pixels², divided by the
        squared face size (median inter-ocular-scale of the track) so that it does not depend on the
        crop size; ``nan`` if fewer than three consecutive valid frames. The second difference is a
        high-pass filter: steady motion costs nothing, frame-to-frame shaking does.
    """
    tracks = np.asarray(tracks, np.float64)[..., :2]
    count = tracks.shape[0]
    if present is None:
        present = np.ones(count, bool)
    present = np.asarray(present, bool)
    if count < 3:
        return math.nan
    valid = present[:-2] & present[1:-1] & present[2:]
    if not valid.any():
        return math.nan
    accel = tracks[2:] - 2.0 * tracks[1:-1] + tracks[:-2]
    energy = np.sum(accel[valid] ** 2, axis=-1).mean()
    scale = np.median(np.ptp(tracks[present][..., 0], axis=-1))  # face width per frame (pixels)
    return float(energy / max(scale, 1e-6) ** 2)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray, regularisation: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, D)`` (the FID formula).

    With fewer samples than dimensions the sample covariances are singular; ``regularisation`` times the
    mean feature variance is added to both diagonals so that the matrix square root is defined (the
    value is then biased upwards for small N: compare FIDs only at equal N and feature network).
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with equal D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        return math.nan
    import torch

    # Linear algebra in torch, single-threaded: numpy's multi-threaded OpenBLAS stalls badly (10-40x)
    # on a busy 2-core machine, and these are 1280x1280 problems.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        mean_a, mean_b = ta.mean(dim=0), tb.mean(dim=0)
        cov_a, cov_b = torch.cov(ta.T).reshape(a.shape[1], -1), torch.cov(tb.T).reshape(a.shape[1], -1)
        eps = regularisation * max(float(torch.diagonal(cov_a).mean() + torch.diagonal(cov_b).mean()) / 2, 1e-12)
        identity = torch.eye(a.shape[1], dtype=torch.float64)
        cov_a, cov_b = cov_a + eps * identity, cov_b + eps * identity
        # tr sqrt(A B) = sum of square roots of the eigenvalues of L^T B L, with A = L L^T (Cholesky; A is
        # positive definite thanks to the regularisation): one symmetric eigenvalue problem instead of a
        # general matrix square root (scipy.linalg.sqrtm), much faster at D = 1280 and steadier.
        lower = torch.linalg.cholesky(cov_a)
        inner = torch.linalg.eigvalsh(lower.T @ cov_b @ lower)
        trace_root = float(inner.clamp(min=0).sqrt().sum())
        value = float(((mean_a - mean_b) ** 2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2.0 * trace_root)
    finally:
        torch.set_num_threads(threads)
    return max(value, 0.0)


def cosine_similarity(embedding_a: np.ndarray, embedding_b: np.ndarray) -> float:
    """Cosine of the angle between two embedding vectors (CSIM when they are identity embeddings)."""
    a = np.asarray(embedding_a, np.float64).ravel()
    b = np.asarray(embedding_b, np.float64).ravel()
    return float(a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12))


def embedding_distance(embedding_a: np.ndarray, embedding_b: np.ndarray) -> float:
    """Euclidean distance of the L2-normalised embeddings (one term of FOMM's AED), in [0, 2]."""
    a = np.asarray(embedding_a, np.float64).ravel()
    b = np.asarray(embedding_b, np.float64).ravel()
    a = a / max(np.linalg.norm(a), 1e-12)
    b = b / max(np.linalg.norm(b), 1e-12)
    return float(np.linalg.norm(a - b))
