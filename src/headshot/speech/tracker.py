"""Frame features of a voice every 10 ms, computed chunk by chunk: RMS energy, F0 and periodicity.

:class:`ProsodyTracker` carries a window's worth of samples between chunks, so any chunking gives the same
frames and memory does not grow with the recording. F0 is YIN (de Cheveigne & Kawahara, "YIN, a
fundamental frequency estimator for speech and music", JASA 2002), vectorised over frames with FFTs.
:func:`silence_threshold` picks a recording's silence level from its energies.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["HOP_SECONDS", "FrameFeatures", "ProsodyTracker", "runs", "silence_threshold", "smooth"]

HOP_SECONDS = 0.01  # 100 analysis frames per second, as PocketSphinx's
SILENCE_DB = -100.0  # the energy of digital silence
F0_MIN, F0_MAX = 60.0, 500.0  # Hz: covers low male to high child voices
_ENERGY_WINDOW_SECONDS = 0.025
_YIN_WINDOW_SECONDS = 0.025  # the integration window; the frame adds the longest period to it
_YIN_THRESHOLD = 0.2  # absolute threshold of the cumulative mean normalised difference
_VOICED_PERIODICITY = 0.6  # 1 - the CMND minimum above which a frame counts as voiced


class FrameFeatures(NamedTuple):
    """Features of consecutive 10 ms frames, float32 arrays of one length.

    ``energy_db``: RMS energy in dBFS (>= -100); ``pitch_hz``: F0, 0 where unvoiced; ``periodicity``:
    1 minus YIN's difference minimum (near 1 for a clean voice, near 0 for noise).
    """

    energy_db: np.ndarray
    pitch_hz: np.ndarray
    periodicity: np.ndarray

    def __len__(self) -> int:  # frames, not fields
        return len(self.energy_db)

    @classmethod
    def empty(cls) -> "FrameFeatures":
        return cls(*(np.zeros(0, np.float32) for _ in range(3)))

    @classmethod
    def concatenate(cls, parts: list["FrameFeatures"]) -> "FrameFeatures":
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([part[i] for part in parts]) for i in range(3)))

    def slice(self, start: int, end: int) -> "FrameFeatures":
        return FrameFeatures(*(values[start:end] for values in self))


class ProsodyTracker:
    """Frame features every 10 ms from audio pushed chunk by chunk.

    Frame ``k`` is centred at ``k * 0.01`` seconds. :meth:`push` returns the frames that the samples so far
    complete (their window must be whole), :meth:`finish` the rest (padding the end with silence); together
    they return ``ceil(samples / hop)`` frames, as :class:`FrameFeatures`.

    Parameters:
        sample_rate: samples per second of the pushed mono float32 audio.
    """

    def __init__(self, sample_rate: int = 16000):
        self.sample_rate = int(sample_rate)
        self.hop = round(HOP_SECONDS * sample_rate)
        self._energy_half = round(_ENERGY_WINDOW_SECONDS * sample_rate) // 2
        self._tau_min = int(sample_rate / F0_MAX)
        self._tau_max = int(np.ceil(sample_rate / F0_MIN))
        self._yin_window = round(_YIN_WINDOW_SECONDS * sample_rate)
        self._frame_length = self._yin_window + self._tau_max + 1
        self._half = max(self._frame_length // 2 + 1, self._energy_half)
        self._fft_size = 1 << int(np.ceil(np.log2(self._frame_length + self._yin_window)))
        # the buffer holds samples from index self._start on (negative before the first chunk: padding)
        self._buffer = np.zeros(self._half, np.float32)
        self._start = -self._half
        self._next_frame = 0
        self._samples_in = 0
        self._finished = False

    @property
    def samples_in(self) -> int:
        """Samples pushed so far."""
        return self._samples_in

    @property
    def frames_done(self) -> int:
        """Frames returned so far."""
        return self._next_frame

    def push(self, samples: np.ndarray) -> FrameFeatures:
        """Add mono float32 samples; returns the features of the frames they complete."""
        if self._finished:
            raise RuntimeError("this ProsodyTracker is finished")
        samples = np.asarray(samples, np.float32).reshape(-1)
        self._buffer = np.concatenate([self._buffer, samples])
        self._samples_in += len(samples)
        end = self._start + len(self._buffer)  # one past the last sample held
        count = max(0, (end - self._half) // self.hop + 1 - self._next_frame)
        return self._compute(count)

    def finish(self) -> FrameFeatures:
        """Features of the frames left (the end padded with silence); the tracker takes no more samples."""
        total = -(-self._samples_in // self.hop)
        count = max(0, total - self._next_frame)
        self._buffer = np.concatenate([self._buffer, np.zeros(self._half + self.hop, np.float32)])
        features = self._compute(count)
        self._finished = True
        return features

    def _compute(self, count: int) -> FrameFeatures:
        if count == 0:
            return FrameFeatures.empty()
        centres = (self._next_frame + np.arange(count)) * self.hop - self._start
        energy_db = self._energy(centres)
        pitch_hz, periodicity = self._pitch(centres)
        pitch_hz[energy_db < -60.0] = 0.0  # periodic hum far below speech is no voice
        self._next_frame += count
        drop = self._next_frame * self.hop - self._half - self._start  # samples no future frame needs
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._start += drop
        return FrameFeatures(energy_db, pitch_hz, periodicity)

    def _frames(self, centres: np.ndarray, half: int, length: int) -> np.ndarray:
        index = centres[:, None] - half + np.arange(length)[None, :]
        return self._buffer[index]

    def _energy(self, centres: np.ndarray) -> np.ndarray:
        frames = self._frames(centres, self._energy_half, 2 * self._energy_half)
        power = np.mean(frames.astype(np.float64) ** 2, axis=1)
        return np.maximum(10.0 * np.log10(power + 1e-12), SILENCE_DB).astype(np.float32)

    def _pitch(self, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """YIN: the cumulative mean normalised difference, its first dip under the threshold, refined."""
        window, tau_max, tau_min = self._yin_window, self._tau_max, self._tau_min
        frames = self._frames(centres, self._frame_length // 2, self._frame_length).astype(np.float64)
        frames -= frames.mean(axis=1, keepdims=True)
        spectrum = np.fft.rfft(frames, self._fft_size)
        head = np.fft.rfft(frames[:, :window], self._fft_size)
        cross = np.fft.irfft(spectrum * np.conj(head), self._fft_size)[:, : tau_max + 1]  # sum x[j] x[j+tau]
        squares = np.concatenate([np.zeros((len(frames), 1)), np.cumsum(frames**2, axis=1)], axis=1)
        energy0 = squares[:, window][:, None]
        taus = np.arange(tau_max + 1)
        energy_tau = squares[:, taus + window] - squares[:, taus]
        difference = np.maximum(energy0 + energy_tau - 2.0 * cross, 0.0)
        difference[:, 0] = 0.0
        cumulative = np.cumsum(difference[:, 1:], axis=1)
        cmnd = np.ones_like(difference)
        cmnd[:, 1:] = difference[:, 1:] * taus[1:] / np.maximum(cumulative, 1e-12)

        search = cmnd[:, tau_min : tau_max + 1]
        below = search < _YIN_THRESHOLD
        # first dip under the threshold, followed to its local minimum; else the global minimum
        first = np.where(below.any(axis=1), below.argmax(axis=1), search.argmin(axis=1))
        rows = np.arange(len(frames))
        best = first.copy()
        for _ in range(search.shape[1]):  # walk down while the next lag is lower (converges in a few steps)
            step = (best + 1 < search.shape[1]) & (search[rows, np.minimum(best + 1, search.shape[1] - 1)]
                                                   < search[rows, best])
            if not step.any():
                break
            best += step
        tau = best + tau_min
        # parabolic interpolation around the minimum
        left = cmnd[rows, np.maximum(tau - 1, 1)]
        centre = cmnd[rows, tau]
        right = cmnd[rows, np.minimum(tau + 1, tau_max)]
        curvature = left + right - 2.0 * centre
        shift = np.where(curvature > 1e-9, 0.5 * (left - right) / np.maximum(curvature, 1e-9), 0.0)
        periodicity = np.clip(1.0 - centre, 0.0, 1.0)
        pitch = self.sample_rate / (tau + np.clip(shift, -1.0, 1.0))
        voiced = (periodicity >= _VOICED_PERIODICITY) & (tau > tau_min) & (tau < tau_max)
        return np.where(voiced, pitch, 0.0).astype(np.float32), periodicity.astype(np.float32)


def silence_threshold(energy_db: np.ndarray) -> float:
    """The energy (dBFS) below which a 10 ms frame counts as silence in this recording.

    30% of the way from the noise floor (10th percentile) to the speech level (95th percentile), and never
    more than 35 dB under the speech level; -60 dBFS for a recording without a usable spread.
    """
    energy_db = np.asarray(energy_db)
    if energy_db.size == 0:
        return -60.0
    floor, level = np.percentile(energy_db, [10, 95])
    if level - floor < 6.0:  # all one level: silence, steady noise, or speech without pauses
        return float(min(-60.0, level - 6.0)) if level > -60.0 else -60.0
    return float(max(floor + 0.3 * (level - floor), level - 35.0))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) index pairs of the runs of True in a 1-D ``mask`` (end exclusive)."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def smooth(values: np.ndarray, frames: int) -> np.ndarray:
    """``values`` smoothed by a Hann window ``frames`` long (same length, edges extended), float64."""
    if frames <= 1 or len(values) == 0:
        return values.astype(np.float64)
    kernel = np.hanning(frames + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(values.astype(np.float64), (frames // 2, frames - 1 - frames // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")
