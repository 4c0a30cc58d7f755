"""What the invisible watermark carries: :class:`Payload` (tool, version, run id) and its channel code.

54 data bits and a CRC-16 (:meth:`Payload.info_bits`) go through a rate-1/2 convolutional code
(constraint length 7, generators 171 and 133 octal, terminated) to the 152 coded bits the pattern
spreads (:meth:`Payload.to_bits`); :meth:`Payload.from_soft` decodes soft bits with a Viterbi decoder and
checks the CRC. See :mod:`headshot.provenance.watermark` for the pattern.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import numpy as np

N_INFO = 70  # payload bits before coding: 54 data + CRC-16
_CODE_MEMORY = 6  # convolutional code constraint length 7, rate 1/2 (generators 171, 133 octal)
_GENERATORS = (0o171, 0o133)
N_BITS = 2 * (N_INFO + _CODE_MEMORY)  # 152 coded payload bits
_TOOLS = {"headshot": 1}
_TOOL_NAMES = {code: name for name, code in _TOOLS.items()}


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
