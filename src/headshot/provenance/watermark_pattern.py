"""The watermark's keyed pattern: which cell of the tile carries which coded bit, the pilot, and the tile.

Shared by marking (:mod:`headshot.provenance.watermark`) and decoding
(:mod:`headshot.provenance.watermark_decode`). A tile is ``TILE`` x ``TILE`` px made of ``GRID`` x
``GRID`` cells, band-limited by Fourier interpolation (:func:`upsample_grid`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass

import numpy as np

from .watermark_payload import N_BITS, Payload

TILE = 128  # period of the pattern in pixels
GRID = 32  # cells per tile side (cell = 4 px)
PILOT_SHARE = 0.5  # fraction of the pattern's energy in the pilot (the rest carries the payload)
_KEY = b"headshot-watermark-v1"


@dataclass(frozen=True)
class TileLayout:
    """The keyed arrangement of one tile (the same for every payload; fixed by the key)."""

    pilot_signs: np.ndarray  # (GRID*GRID,) +-1, the pilot's value on every cell
    bit_of_cell: np.ndarray  # (GRID*GRID,) which coded bit each cell carries
    cell_signs: np.ndarray  # (GRID*GRID,) +-1 keyed chip sign of each cell
    pilot_tile: np.ndarray  # (TILE, TILE) float32 band-limited pilot pattern, unit RMS


def upsample_grid(grid: np.ndarray) -> np.ndarray:
    """Band-limited periodic interpolation of a (GRID, GRID) array to (TILE, TILE) through the 2-D FFT."""
    spectrum = np.fft.fftshift(np.fft.fft2(grid))
    padded = np.zeros((TILE, TILE), dtype=complex)
    start = (TILE - GRID) // 2
    padded[start:start + GRID, start:start + GRID] = spectrum
    return np.real(np.fft.ifft2(np.fft.ifftshift(padded))).astype(np.float32) * (TILE / GRID) ** 2


def downsample_tile(tile: np.ndarray) -> np.ndarray:
    """Adjoint of :func:`upsample_grid` up to scale: the (GRID, GRID) cell values seen in a tile."""
    spectrum = np.fft.fftshift(np.fft.fft2(tile))
    start = (TILE - GRID) // 2
    low = spectrum[start:start + GRID, start:start + GRID]
    return np.real(np.fft.ifft2(np.fft.ifftshift(low)))


@functools.lru_cache(maxsize=1)
def tile_layout() -> TileLayout:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(_KEY).digest()[:8], "little"))
    cells = GRID * GRID
    pilot_signs = rng.choice(np.array([-1.0, 1.0]), size=cells)
    bit_of_cell = np.empty(cells, dtype=np.int64)
    bit_of_cell[rng.permutation(cells)] = np.arange(cells) % N_BITS
    cell_signs = rng.choice(np.array([-1.0, 1.0]), size=cells)
    pilot_tile = upsample_grid(pilot_signs.reshape(GRID, GRID))
    pilot_tile /= np.sqrt(np.mean(pilot_tile**2))
    return TileLayout(pilot_signs, bit_of_cell, cell_signs, pilot_tile)


def payload_tile(payload: Payload) -> np.ndarray:
    """The (TILE, TILE) float32 pattern for a payload, unit RMS: pilot plus spread payload bits."""
    layout = tile_layout()
    symbols = payload.to_bits().astype(np.float64) * 2 - 1
    data = layout.cell_signs * symbols[layout.bit_of_cell]
    grid = math.sqrt(PILOT_SHARE) * layout.pilot_signs + math.sqrt(1 - PILOT_SHARE) * data
    tile = upsample_grid(grid.reshape(GRID, GRID))
    return tile / np.sqrt(np.mean(tile**2))
