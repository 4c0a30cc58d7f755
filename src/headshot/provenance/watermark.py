"""Invisible watermark: a keyed, periodically tiled spread-spectrum pattern added to the luma of every frame.

Design (chosen by measurement, see ``benchmarks/watermark_bench.py``):

* The payload (tool, version, run id: 54 bits) plus a CRC-16 goes through a rate-1/2 convolutional
  code (constraint length 7, soft-decision Viterbi) to 152 coded bits (:meth:`Payload.to_bits`). Coded
  bits are spread over the *cells* of a 32 x 32 grid (6-7 cells each per tile, times every tile in the
  frame), with a keyed random sign per cell. A fixed keyed *pilot* (random sign on every cell) is
  superimposed to find the tile's position; the decoder subtracts it before reading the bits. The
  grid is upsampled to a 128 x 128 pixel tile by band-limited (Fourier) interpolation, so the pattern's
  energy sits below 1/8 cycle per pixel, the band that H.264, JPEG and 50 % downscaling keep. The tile
  is repeated over the frame in absolute pixels, so any crop still holds whole periods.
* Marking adds the same integer delta to R, G and B (which is a delta on luma only) from a pattern
  precomputed once per frame size: two saturating ``cv2`` adds per frame.
* Decoding whitens the luma (minus a local mean, divided by local contrast), folds the frame into one
  tile-sized array (sum of all periods) for a small set of candidate scales, finds the shift by FFT
  cross-correlation with the pilot, reads the cells, decodes and checks the CRC. A video's frames are
  folded together, since the pattern is static in pixel coordinates.

Detection is the pilot test (``found``: peak >= ``DETECT_Z`` standard deviations of the correlation
surface; on the 98 unmarked dev clips and 112 portraits the highest peak was 5.4), or a payload whose
CRC-16 matches at a peak >= ``PAYLOAD_Z``; random content does not produce a valid payload (the CRC).
A weak watermark (heavy attacks, small frames) can be detected while its payload is unreadable
(``payload`` None).

Small frames: a frame with a side under ``TILE`` px holds only part of one tile. It is still marked (the
part that fits), but decoding may miss it: on 56 dev portraits shrunk and marked (PNG, one frame), the
pilot was found in 51 at 120x240, 15 at 100x100 and none at 64x64 (too few pixels; 38 at 128x128, 56
at 256x256). :func:`fully_marked` lets the pipeline say so in its log and credentials. Decoding tries every frame with at least ``MIN_DECODE_SIDE`` px per side at
the original scale; below that it reports ``checkable=False``.

This module marks (:class:`Watermarker`); the parts live beside it and are re-exported here:
``watermark_payload`` (:class:`Payload` and its code), ``watermark_pattern`` (the keyed tile) and
``watermark_decode`` (:func:`decode_frames`, :class:`WatermarkResult`, the thresholds).
"""

from __future__ import annotations

import cv2
import numpy as np

# The parts, re-exported here: the payload and its code, the keyed pattern, and the decoder.
from .watermark_decode import (  # noqa: F401
    DETECT_Z, ENERGY_SIGMA, MIN_DECODE_SIDE, PAYLOAD_Z, SCALES, WHITEN_SIGMA, WatermarkResult, decode_frames)
from .watermark_pattern import GRID, PILOT_SHARE, TILE, payload_tile  # noqa: F401
from .watermark_payload import N_BITS, N_INFO, Payload  # noqa: F401

DEFAULT_STRENGTH = 2.4  # RMS of the luma delta, in 8-bit levels (PSNR about 40.5 dB on real frames)


def fully_marked(width: int, height: int) -> bool:
    """Whether a ``width`` x ``height`` frame holds at least one whole tile of the pattern.

    Smaller frames are marked too, with the part of the tile that fits, but the watermark may then not
    be found by :func:`decode_frames` (see the module docstring).
    """
    return min(width, height) >= TILE


class Watermarker:
    """Adds the invisible watermark to RGB uint8 HWC frames.

    ``payload`` defaults to :meth:`Payload.new` (random run id). ``strength`` is the RMS of the luma delta in
    8-bit levels; the default keeps PSNR above 40 dB. The pattern for a frame size is computed once and
    cached, so :meth:`mark` is two saturating adds.
    """

    def __init__(self, payload: Payload | None = None, strength: float = DEFAULT_STRENGTH):
        self.payload = payload if payload is not None else Payload.new()
        self.strength = float(strength)
        self._tile = payload_tile(self.payload) * self.strength
        self._patterns: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _pattern(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        key = (height, width)
        if key not in self._patterns:
            reps = (-(-height // TILE), -(-width // TILE))
            delta = np.rint(np.tile(self._tile, reps)[:height, :width])
            positive = np.repeat(np.clip(delta, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            negative = np.repeat(np.clip(-delta, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
            if len(self._patterns) > 8:
                self._patterns.clear()
            self._patterns[key] = (positive, negative)
        return self._patterns[key]

    def mark(self, rgb: np.ndarray) -> np.ndarray:
        """Return a watermarked copy of ``rgb`` (RGB uint8 HWC, any size); same shape and dtype.

        A frame with a side under ``TILE`` px gets the part of the pattern that fits (see
        :func:`fully_marked`).
        """
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or 0 in rgb.shape:
            raise ValueError(f"expected an RGB uint8 HWC frame, got {rgb.dtype} {rgb.shape}")
        height, width = rgb.shape[:2]
        positive, negative = self._pattern(height, width)
        out = cv2.add(np.ascontiguousarray(rgb), positive)
        cv2.subtract(out, negative, dst=out)
        return out
