"""Finding the invisible watermark in frames: :func:`decode_frames` -> :class:`WatermarkResult`.

Whitens the luma, folds every period of the pattern into one tile per candidate scale, finds the pilot's
shift by FFT cross-correlation, reads the cells and decodes the payload (see
:mod:`headshot.provenance.watermark` for the design and the thresholds' measurements).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable

import cv2
import numpy as np

from .watermark_pattern import GRID, TILE, downsample_tile, tile_layout
from .watermark_payload import N_BITS, Payload

SCALES = (1.0, 0.5, 0.75, 2.0 / 3.0, 1.5, 2.0)  # candidate output/original size ratios tried at decode
WHITEN_SIGMA = 2.0  # px; the high-pass that removes the host's low frequencies
ENERGY_SIGMA = 2.5  # px; the window of the local contrast that the residual is divided by
DETECT_Z = 6.5  # pilot peak, in standard deviations of the correlation surface, that means "marked"
PAYLOAD_Z = 5.0  # below this pilot peak the shift is unreliable and no payload is read
MIN_DECODE_SIDE = TILE // 2  # px at the original scale: less than half a period is not searched


@dataclass
class WatermarkResult:
    """Outcome of :func:`decode_frames`.

    ``found``: the keyed pilot pattern is present (peak ``pilot_z`` >= ``DETECT_Z``), or a payload with a
    valid CRC was read at a pilot peak >= ``PAYLOAD_Z``. ``payload``: the
    decoded payload when its CRC matched, else None. ``confidence``: 1 minus the chance that unmarked
    content gives a pilot peak this high over all shifts and scales tried (Gaussian tail, 0..1).
    ``scale``: the size ratio (file / marked original) where it was found. ``votes``: frames that, read
    one by one, show the pilot; ``payload_votes``: frames that alone decode the same payload.
    ``bit_snr``: mean/std of the payload's soft bits (above about 4 the payload reads reliably).
    ``checkable``: False when the frames are too small to search (under ``MIN_DECODE_SIDE`` px per side at
    every scale tried), so "not found" means "not looked for".
    """

    found: bool
    payload: Payload | None
    confidence: float
    frames_checked: int
    votes: int = 0
    payload_votes: int = 0
    pilot_z: float = 0.0
    scale: float = 1.0
    bit_snr: float = 0.0
    checkable: bool = True


def _luma(rgb: np.ndarray) -> np.ndarray:
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        return rgb.astype(np.float32)
    return cv2.cvtColor(np.ascontiguousarray(rgb[:, :, :3]), cv2.COLOR_RGB2GRAY).astype(np.float32)


def _whiten(luma: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Remove the host image's low frequencies and equalise local contrast (the host is the noise).

    ``scale``: size of the marked original relative to ``luma``'s pixels, so the filters follow the pattern.
    """
    residual = luma - cv2.GaussianBlur(luma, (0, 0), WHITEN_SIGMA * scale)
    energy = cv2.GaussianBlur(residual * residual, (0, 0), ENERGY_SIGMA * scale)
    return residual / np.sqrt(energy + 4.0)


def _fold(luma: np.ndarray, scale: float) -> np.ndarray:
    """Whitened luma, brought back to the original scale, summed over all (TILE, TILE) periods."""
    period = max(GRID, int(round(TILE * scale)))
    height, width = luma.shape
    # resample so that one period spans exactly ``period`` pixels, fold, then bring the tile to TILE px
    factor = period / (TILE * scale)
    if abs(factor - 1) > 1e-6:
        luma = cv2.resize(luma, (max(1, round(width * factor)), max(1, round(height * factor))),
                          interpolation=cv2.INTER_LINEAR)
    white = _whiten(luma, period / TILE)
    height, width = white.shape
    padded = np.zeros((-(-height // period) * period, -(-width // period) * period), np.float32)
    padded[:height, :width] = white
    folded = padded.reshape(padded.shape[0] // period, period, padded.shape[1] // period, period).sum(axis=(0, 2))
    if period != TILE:
        spectrum = np.fft.fftshift(np.fft.fft2(folded))
        out = np.zeros((TILE, TILE), complex)
        half = min(period, TILE) // 2
        c_in, c_out = period // 2, TILE // 2
        out[c_out - half:c_out + half, c_out - half:c_out + half] = spectrum[c_in - half:c_in + half,
                                                                              c_in - half:c_in + half]
        folded = np.real(np.fft.ifft2(np.fft.ifftshift(out))).astype(np.float32)
    return folded


def _sync(folded: np.ndarray) -> tuple[float, tuple[float, float]]:
    """Pilot z-score and the sub-pixel (dy, dx) shift that aligns the pattern with ``folded``.

    The z-score compares the peak with the spread of the correlation surface away from it (the peak's
    own neighbourhood, one cell either side, is left out). The shift is refined by a parabola through the peak
    and its neighbours (downscaling by 2 moves pixel centres by half a pixel).
    """
    pilot = tile_layout().pilot_tile
    corr = np.real(np.fft.ifft2(np.fft.fft2(folded) * np.conj(np.fft.fft2(pilot))))
    index = int(np.argmax(corr))
    dy, dx = divmod(index, TILE)
    rest = np.roll(corr, (TILE // 2 - dy, TILE // 2 - dx), axis=(0, 1))
    mask = np.ones_like(rest, dtype=bool)
    guard = TILE // GRID  # one cell around the peak
    mask[TILE // 2 - guard:TILE // 2 + guard + 1, TILE // 2 - guard:TILE // 2 + guard + 1] = False
    spread = rest[mask].std()
    z = float((corr.flat[index] - rest[mask].mean()) / spread) if spread > 0 else 0.0

    def vertex(minus: float, centre: float, plus: float) -> float:
        curvature = minus - 2 * centre + plus
        return float(np.clip(0.5 * (minus - plus) / curvature, -0.5, 0.5)) if curvature < 0 else 0.0

    c = TILE // 2
    sub_y = vertex(rest[c - 1, c], rest[c, c], rest[c + 1, c])
    sub_x = vertex(rest[c, c - 1], rest[c, c], rest[c, c + 1])
    return z, (dy + sub_y, dx + sub_x)


def _soft_bits(folded: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Soft value per coded bit (positive = 1) read at the given shift, after removing the pilot."""
    layout = tile_layout()
    frequencies = np.fft.fftfreq(TILE)
    ramp = np.exp(2j * np.pi * (frequencies[:, None] * shift[0] + frequencies[None, :] * shift[1]))
    aligned = np.real(np.fft.ifft2(np.fft.fft2(folded) * ramp))
    cells = downsample_tile(aligned).ravel()
    pilot_gain = np.mean(cells * layout.pilot_signs)
    data = (cells - pilot_gain * layout.pilot_signs) * layout.cell_signs
    return np.bincount(layout.bit_of_cell, weights=data, minlength=N_BITS)


def _decode_folded(folded: np.ndarray) -> tuple[Payload | None, float, tuple[float, float], np.ndarray]:
    z, shift = _sync(folded)
    soft = _soft_bits(folded, shift)
    payload = Payload.from_soft(soft) if z >= PAYLOAD_Z else None
    return payload, z, shift, soft


def _confidence(z: float, trials: int) -> float:
    tail = 0.5 * math.erfc(z / math.sqrt(2.0))
    return float(max(0.0, min(1.0, 1.0 - trials * tail)))


def decode_frames(frames: Iterable[np.ndarray], scales: tuple[float, ...] = SCALES,
                  max_frames: int = 48) -> WatermarkResult:
    """Look for the watermark in frames (RGB uint8 HWC, or gray HW) of one video or image.

    All frames are folded together per candidate scale (the pattern is static), tested once, and then
    each frame is tested alone at the winning scale for ``votes``. Only the first ``max_frames`` frames
    are read. Returns a :class:`WatermarkResult`.
    """
    lumas = []
    for frame in frames:
        lumas.append(_luma(frame))
        if len(lumas) >= max_frames:
            break
    if not lumas:
        return WatermarkResult(False, None, 0.0, 0)
    best = None
    for scale in scales:
        if min(lumas[0].shape) / scale < MIN_DECODE_SIDE:  # too little of a period at the original scale
            continue
        folds = [_fold(luma, scale) for luma in lumas]
        payload, z, shift, soft = _decode_folded(np.sum(folds, axis=0))
        candidate = (payload is not None, z, scale, payload, folds, shift, soft)
        if best is None or candidate[:2] > best[:2]:
            best = candidate
        if payload is not None and z > 1.5 * DETECT_Z:
            break  # a clear hit: the remaining scales cannot do better
    if best is None:
        return WatermarkResult(False, None, 0.0, len(lumas), checkable=False)
    _, z, scale, payload, folds, shift, soft = best
    found = z >= DETECT_Z or payload is not None  # a CRC-valid payload at a pilot peak >= PAYLOAD_Z
    votes = payload_votes = 0
    if found:
        for fold in folds:
            single_payload, single_z, single_shift, _ = _decode_folded(fold)
            votes += int(single_z >= DETECT_Z)
            payload_votes += int(payload is not None and single_payload == payload)
    bit_snr = 0.0
    if payload is not None:
        margins = soft * (payload.to_bits().astype(np.float64) * 2 - 1)
        bit_snr = float(margins.mean() / (margins.std() + 1e-12))
    trials = TILE * TILE * len(scales)
    return WatermarkResult(found=found, payload=payload if found else None,
                           confidence=_confidence(z, trials) if found else 0.0, frames_checked=len(lumas),
                           votes=votes, payload_votes=payload_votes, pilot_z=z, scale=scale, bit_snr=bit_snr)
