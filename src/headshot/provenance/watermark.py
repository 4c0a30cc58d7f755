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
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Iterable

import cv2
import numpy as np

TILE = 128  # period of the pattern in pixels
GRID = 32  # cells per tile side (cell = 4 px)
N_INFO = 70  # payload bits before coding: 54 data + CRC-16
_CODE_MEMORY = 6  # convolutional code constraint length 7, rate 1/2 (generators 171, 133 octal)
_GENERATORS = (0o171, 0o133)
N_BITS = 2 * (N_INFO + _CODE_MEMORY)  # 152 coded payload bits
PILOT_SHARE = 0.5  # fraction of the pattern's energy in the pilot (the rest carries the payload)
DEFAULT_STRENGTH = 2.4  # RMS of the luma delta, in 8-bit levels (PSNR about 40.5 dB on real frames)
SCALES = (1.0, 0.5, 0.75, 2.0 / 3.0, 1.5, 2.0)  # candidate output/original size ratios tried at decode
WHITEN_SIGMA = 2.0  # px; the high-pass that removes the host's low frequencies
ENERGY_SIGMA = 2.5  # px; the window of the local contrast that the residual is divided by
DETECT_Z = 6.5  # pilot peak, in standard deviations of the correlation surface, that means "marked"
PAYLOAD_Z = 5.0  # below this pilot peak the shift is unreliable and no payload is read
MIN_DECODE_SIDE = TILE // 2  # px at the original scale: less than half a period is not searched
_KEY = b"headshot-watermark-v1"
_TOOLS = {"headshot": 1}
_TOOL_NAMES = {code: name for name, code in _TOOLS.items()}


# --------------------------------------------------------------------------------------------- payload
def _crc16(bits: np.ndarray) -> np.ndarray:
    """CRC-16/CCITT (polynomial 0x1021, init 0xFFFF) of a bit array, returned as 16 bits (MSB first)."""
    register = 0xFFFF
    for bit in bits:
        top = (register >> 15) & 1
        register = (register << 1) & 0xFFFF
        if top ^ int(bit):
            register ^= 0x1021
    return np.array([(register >> (15 - i)) & 1 for i in range(16)], dtype=np.uint8)


def _parity(value: int) -> int:
    return bin(value).count("1") & 1


def _conv_encode(info: np.ndarray) -> np.ndarray:
    """Rate-1/2, constraint-length-7 convolutional code, terminated with 6 zero bits."""
    state, out = 0, []
    for bit in list(info) + [0] * _CODE_MEMORY:
        register = (int(bit) << _CODE_MEMORY) | state
        out += [_parity(register & g) for g in _GENERATORS]
        state = register >> 1
    return np.array(out, dtype=np.uint8)


@functools.lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each (next state, input bit): the previous state and the two coded symbols (+-1)."""
    states = 1 << _CODE_MEMORY
    previous = np.zeros((states, 2), dtype=np.int64)
    symbols = np.zeros((states, 2, 2))
    for state in range(states):
        for bit in (0, 1):
            register = (bit << _CODE_MEMORY) | state
            nxt = register >> 1
            branch = state & 1  # the bit that leaves the register picks the branch into ``nxt``
            previous[nxt, branch] = state
            symbols[nxt, branch] = [2 * _parity(register & g) - 1 for g in _GENERATORS]
    return previous, symbols, np.array([(n >> (_CODE_MEMORY - 1)) & 1 for n in range(states)])


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """Soft-decision Viterbi decoding of :func:`_conv_encode` (soft > 0 means 1); returns the info bits."""
    previous, symbols, input_bit = _trellis()
    pairs = np.asarray(soft, dtype=np.float64).reshape(-1, 2)
    states = previous.shape[0]
    metric = np.full(states, -np.inf)
    metric[0] = 0.0
    choices = np.zeros((len(pairs), states), dtype=np.int64)
    for step, pair in enumerate(pairs):
        candidates = metric[previous] + symbols @ pair  # (states, 2)
        choices[step] = np.argmax(candidates, axis=1)
        metric = candidates[np.arange(states), choices[step]]
    state, bits = 0, []  # terminated: the path ends in state 0
    for step in range(len(pairs) - 1, -1, -1):
        bits.append(int(input_bit[state]))
        state = previous[state, choices[step, state]]
    return np.array(bits[::-1][: len(pairs) - _CODE_MEMORY], dtype=np.uint8)


def _to_bits(value: int, width: int) -> list[int]:
    return [(value >> (width - 1 - i)) & 1 for i in range(width)]


def _from_bits(bits: np.ndarray) -> int:
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return value


def _default_version() -> str:
    from headshot import __version__

    return __version__


@dataclass(frozen=True)
class Payload:
    """What the watermark carries: the tool's name and version and a short id of the run.

    ``run_id`` is 6 to 8 lowercase hex characters; ``version`` is ``MAJOR.MINOR.PATCH`` with
    MAJOR < 16, MINOR < 64 and PATCH < 64 (anything after the patch number, e.g. ``.dev1``, is dropped).
    """

    run_id: str
    tool: str = "headshot"
    version: str = field(default_factory=_default_version)

    def __post_init__(self):
        if not re.fullmatch(r"[0-9a-f]{6,8}", self.run_id):
            raise ValueError(f"run_id must be 6-8 lowercase hex characters, got {self.run_id!r}")
        if self.tool not in _TOOLS:
            raise ValueError(f"unknown tool {self.tool!r}")
        self._version_numbers()

    @staticmethod
    def new(version: str | None = None) -> "Payload":
        """A payload with a fresh random 8-hex-character run id."""
        import secrets

        return Payload(run_id=secrets.token_hex(4), version=version or _default_version())

    def _version_numbers(self) -> tuple[int, int, int]:
        match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", self.version)
        if not match:
            raise ValueError(f"version must look like MAJOR.MINOR.PATCH, got {self.version!r}")
        major, minor, patch = int(match[1]), int(match[2]), int(match[3] or 0)
        if major >= 16 or minor >= 64 or patch >= 64:
            raise ValueError(f"version {self.version!r} does not fit the watermark (major<16, minor/patch<64)")
        return major, minor, patch

    def info_bits(self) -> np.ndarray:
        """The 70 bits before coding (uint8 0/1): tool 4, version 16, run-id length 2, run id 32, CRC 16."""
        major, minor, patch = self._version_numbers()
        data = (
            _to_bits(_TOOLS[self.tool], 4)
            + _to_bits(major, 4) + _to_bits(minor, 6) + _to_bits(patch, 6)
            + _to_bits(len(self.run_id) - 6, 2)
            + _to_bits(int(self.run_id, 16), 32)
        )
        data = np.array(data, dtype=np.uint8)
        return np.concatenate([data, _crc16(data)])

    def to_bits(self) -> np.ndarray:
        """The 152 coded bits (uint8 0/1): :meth:`info_bits` through a rate-1/2 convolutional code."""
        return _conv_encode(self.info_bits())

    @staticmethod
    def from_bits(bits: np.ndarray) -> "Payload | None":
        """Inverse of :meth:`to_bits` (hard decisions, corrects scattered errors); None if the CRC fails."""
        bits = np.asarray(bits, dtype=np.float64).ravel()
        return Payload.from_soft(bits * 2 - 1)

    @staticmethod
    def from_soft(soft: np.ndarray) -> "Payload | None":
        """Decode soft coded bits (positive = 1, magnitude = reliability); None when the CRC or a field fails."""
        soft = np.asarray(soft, dtype=np.float64).ravel()
        if soft.size != N_BITS:
            return None
        info = _viterbi(soft)
        data, crc = info[:54], info[54:]
        if not np.array_equal(_crc16(data), crc):
            return None
        tool = _TOOL_NAMES.get(_from_bits(data[0:4]))
        length = _from_bits(data[20:22]) + 6
        if tool is None or length > 8:
            return None
        run_value = _from_bits(data[22:54])
        if run_value >= 16**length:
            return None
        version = f"{_from_bits(data[4:8])}.{_from_bits(data[8:14])}.{_from_bits(data[14:20])}"
        return Payload(run_id=f"{run_value:0{length}x}", tool=tool, version=version)

    def __str__(self) -> str:
        return f"{self.tool} {self.version} run {self.run_id}"


# --------------------------------------------------------------------------------------------- layout
@dataclass(frozen=True)
class _Layout:
    pilot_signs: np.ndarray  # (GRID*GRID,) +-1, the pilot's value on every cell
    bit_of_cell: np.ndarray  # (GRID*GRID,) which coded bit each cell carries
    cell_signs: np.ndarray  # (GRID*GRID,) +-1 keyed chip sign of each cell
    pilot_tile: np.ndarray  # (TILE, TILE) float32 band-limited pilot pattern, unit RMS


def _upsample_grid(grid: np.ndarray) -> np.ndarray:
    """Band-limited periodic interpolation of a (GRID, GRID) array to (TILE, TILE) through the 2-D FFT."""
    spectrum = np.fft.fftshift(np.fft.fft2(grid))
    padded = np.zeros((TILE, TILE), dtype=complex)
    start = (TILE - GRID) // 2
    padded[start:start + GRID, start:start + GRID] = spectrum
    return np.real(np.fft.ifft2(np.fft.ifftshift(padded))).astype(np.float32) * (TILE / GRID) ** 2


def _downsample_tile(tile: np.ndarray) -> np.ndarray:
    """Adjoint of :func:`_upsample_grid` up to scale: the (GRID, GRID) cell values seen in a tile."""
    spectrum = np.fft.fftshift(np.fft.fft2(tile))
    start = (TILE - GRID) // 2
    low = spectrum[start:start + GRID, start:start + GRID]
    return np.real(np.fft.ifft2(np.fft.ifftshift(low)))


@functools.lru_cache(maxsize=1)
def _layout() -> _Layout:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(_KEY).digest()[:8], "little"))
    cells = GRID * GRID
    pilot_signs = rng.choice(np.array([-1.0, 1.0]), size=cells)
    bit_of_cell = np.empty(cells, dtype=np.int64)
    bit_of_cell[rng.permutation(cells)] = np.arange(cells) % N_BITS
    cell_signs = rng.choice(np.array([-1.0, 1.0]), size=cells)
    pilot_tile = _upsample_grid(pilot_signs.reshape(GRID, GRID))
    pilot_tile /= np.sqrt(np.mean(pilot_tile**2))
    return _Layout(pilot_signs, bit_of_cell, cell_signs, pilot_tile)


def payload_tile(payload: Payload) -> np.ndarray:
    """The (TILE, TILE) float32 pattern for a payload, unit RMS: pilot plus spread payload bits."""
    layout = _layout()
    symbols = payload.to_bits().astype(np.float64) * 2 - 1
    data = layout.cell_signs * symbols[layout.bit_of_cell]
    grid = math.sqrt(PILOT_SHARE) * layout.pilot_signs + math.sqrt(1 - PILOT_SHARE) * data
    tile = _upsample_grid(grid.reshape(GRID, GRID))
    return tile / np.sqrt(np.mean(tile**2))


# --------------------------------------------------------------------------------------------- marking
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


# --------------------------------------------------------------------------------------------- decoding
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
    pilot = _layout().pilot_tile
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
    layout = _layout()
    frequencies = np.fft.fftfreq(TILE)
    ramp = np.exp(2j * np.pi * (frequencies[:, None] * shift[0] + frequencies[None, :] * shift[1]))
    aligned = np.real(np.fft.ifft2(np.fft.fft2(folded) * ramp))
    cells = _downsample_tile(aligned).ravel()
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
