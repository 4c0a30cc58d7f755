"""Audio features for speech → face models: log-mel spectrograms at 100 frames per second.

Conventions: waveforms are mono float32 in [-1, 1]; features are ``(frames, bands)`` float32, one frame
every ``HOP_SECONDS`` starting at t = 0 (frame ``i`` is centred on ``i * HOP_SECONDS``). Everything is
NumPy (no torch): the same code feeds training and inference.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16000  # features are computed at this rate; other rates are resampled first
HOP_SECONDS = 0.010
WINDOW_SECONDS = 0.025
N_FFT = 512
N_MELS = 40
F_MIN, F_MAX = 40.0, 7600.0

# Floor of the normalised log-mel, in natural-log power units below a band's mean over the recording
# (9.2 ≈ 40 dB). Digital silence and room noise below it all read the same, whatever the recording gain.
FLOOR = -9.2
# Lowest band mean used: digital silence (ln 1e-10 = -23) minus it stays below FLOOR. The quietest dev
# clip with speech has a speech level of about -10.
MIN_LEVEL = -13.0
# Mean log-mel of a frame of digital silence is ln 1e-10 = -23; 1-LSB 16-bit noise reads about -16.
DIGITAL_SILENCE = -20.0


@dataclass(frozen=True)
class MelConfig:
    """Log-mel analysis parameters (defaults: 40 bands, 25 ms Hann window, 10 ms hop, 40-7600 Hz)."""

    sample_rate: int = SAMPLE_RATE
    n_fft: int = N_FFT
    hop: int = round(HOP_SECONDS * SAMPLE_RATE)
    window: int = round(WINDOW_SECONDS * SAMPLE_RATE)
    n_mels: int = N_MELS
    f_min: float = F_MIN
    f_max: float = F_MAX


def _hz_to_mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz, np.float64) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel, np.float64) / 2595.0) - 1.0)


@functools.lru_cache(maxsize=4)
def mel_filterbank(config: MelConfig = MelConfig()) -> np.ndarray:
    """Triangular HTK-mel filters ``(n_mels, n_fft // 2 + 1)`` float32, each normalised to unit area."""
    edges_hz = _mel_to_hz(np.linspace(_hz_to_mel(config.f_min), _hz_to_mel(config.f_max), config.n_mels + 2))
    bins_hz = np.linspace(0.0, config.sample_rate / 2.0, config.n_fft // 2 + 1)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz[None] - lower) / (centre - lower)
    falling = (upper - bins_hz[None]) / (upper - centre)
    filters = np.maximum(0.0, np.minimum(rising, falling))
    filters /= np.maximum(filters.sum(axis=1, keepdims=True), 1e-12)
    return filters.astype(np.float32)


@functools.lru_cache(maxsize=4)
def _filterbank_columns(config: MelConfig) -> np.ndarray:
    # (bins, n_mels) C-contiguous: a transposed view makes float32 matmul ~15x slower.
    return np.ascontiguousarray(mel_filterbank(config).T)


def resample(samples: np.ndarray, sample_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Polyphase resampling of a mono waveform to ``target_rate`` (float32)."""
    samples = np.asarray(samples, np.float32)
    if int(sample_rate) == int(target_rate):
        return samples
    from math import gcd

    from scipy.signal import resample_poly

    g = gcd(int(sample_rate), int(target_rate))
    return resample_poly(samples, int(target_rate) // g, int(sample_rate) // g).astype(np.float32)


def frame_count(n_samples: int, config: MelConfig = MelConfig()) -> int:
    """Number of feature frames for ``n_samples`` at ``config.sample_rate``: ``ceil(n_samples / hop)``."""
    return max(1, -(-int(n_samples) // config.hop))


def log_mel(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, config: MelConfig = MelConfig(),
            start_frame: int = 0, n_frames: int | None = None) -> np.ndarray:
    """Natural-log mel power spectrogram of a mono waveform.

    Args:
        samples: mono waveform, float in [-1, 1].
        sample_rate: its rate in Hz (resampled to ``config.sample_rate`` if different).
        start_frame, n_frames: compute only frames ``start_frame .. start_frame + n_frames - 1`` (default:
            all ``frame_count(len)`` frames); frames may reach outside the signal, which reads as zeros. A
            slice is bit-identical to the same rows of the whole spectrogram (windowed processing).

    Returns:
        ``(n_frames, n_mels)`` float32, ``ln(power + 1e-10)``; frame ``i`` is centred on sample
        ``i * hop`` (the signal is taken as zero before its start and after its end).
    """
    samples = resample(np.asarray(samples, np.float32).reshape(-1), sample_rate, config.sample_rate)
    if n_frames is None:
        n_frames = frame_count(len(samples), config) - start_frame
    lo, hi = excerpt_bounds(start_frame, n_frames, config)
    excerpt = np.zeros(max(hi - lo, 0), np.float32)
    src_lo, src_hi = max(lo, 0), min(hi, len(samples))
    if src_hi > src_lo:
        excerpt[src_lo - lo:src_hi - lo] = samples[src_lo:src_hi]
    return log_mel_of_excerpt(excerpt, n_frames, config)


def excerpt_bounds(start_frame: int, n_frames: int, config: MelConfig = MelConfig()) -> tuple[int, int]:
    """Sample range ``[lo, hi)`` (at ``config.sample_rate``; may reach outside the signal) that frames
    ``start_frame .. start_frame + n_frames - 1`` read: for streaming, read just that and call
    :func:`log_mel_of_excerpt`."""
    half = config.window // 2
    lo = start_frame * config.hop - half
    return lo, lo + (n_frames - 1) * config.hop + config.window


def log_mel_of_excerpt(excerpt: np.ndarray, n_frames: int, config: MelConfig = MelConfig()) -> np.ndarray:
    """Log-mel of ``n_frames`` frames from the samples of :func:`excerpt_bounds` (zeros where outside
    the signal): the same rows :func:`log_mel` gives for the whole signal."""
    starts = np.arange(n_frames) * config.hop
    frames = excerpt[starts[:, None] + np.arange(config.window)[None]]
    frames = frames * np.hanning(config.window + 2)[1:-1].astype(np.float32)
    power = np.abs(np.fft.rfft(frames, n=config.n_fft, axis=1)) ** 2
    mel = power.astype(np.float32) @ _filterbank_columns(config)
    return np.log(mel + 1e-10).astype(np.float32)


@dataclass(frozen=True)
class RecordingStats:
    """Per-recording statistics that normalise its log-mel (one pass over the recording).

    Attributes:
        level: speech loudness, the 95th percentile over frames of the mean log-mel (natural log); the
            loud end rather than the mean so that the share of pauses does not move it (training uses it
            to set noise levels).
        band_mean: ``(n_mels,)`` mean log-mel per band over all frames (the recording's channel and voice).
    """

    level: float
    band_mean: np.ndarray


def recording_stats(mel_blocks) -> RecordingStats:
    """:class:`RecordingStats` of a recording given as one ``(frames, bands)`` log-mel array or an
    iterable of consecutive blocks (long recordings; the result is the same).

    Frames of digital silence (mean log-mel under ``DIGITAL_SILENCE``) do not count towards the band
    means: padding a recording with zeros, or pauses that a synthesiser leaves at exactly zero, must not
    make its speech look louder. A recording that is all digital silence gets ``MIN_LEVEL``.
    """
    if isinstance(mel_blocks, np.ndarray):
        mel_blocks = [mel_blocks]
    energies, band_sum, count = [], 0.0, 0
    for block in mel_blocks:
        energy = block.mean(axis=1)
        energies.append(energy)
        sounding = block[energy >= DIGITAL_SILENCE]
        band_sum = band_sum + sounding.astype(np.float64).sum(axis=0)
        count += len(sounding)
    energies = np.concatenate(energies)
    if count == 0:
        return RecordingStats(float(np.percentile(energies, 95.0)) if len(energies) else MIN_LEVEL,
                              np.full(np.shape(band_sum) or (N_MELS,), MIN_LEVEL, np.float32))
    return RecordingStats(float(np.percentile(energies, 95.0)), (band_sum / count).astype(np.float32))


def normalise(mel: np.ndarray, stats: RecordingStats) -> np.ndarray:
    """Normalise a log-mel spectrogram by its recording's statistics so that silence reads 0.

    Each band minus its mean over the recording (cepstral mean normalisation: removes the microphone,
    the room and much of the voice), floored ``FLOOR`` below, shifted so that the floor is 0, over 4.

    Args:
        mel: ``(frames, bands)`` from :func:`log_mel`.
        stats: the whole recording's :class:`RecordingStats` (shared by every window of a long one).

    Returns:
        ``(frames, bands)`` float32, about [0, 3], exactly 0 for digital silence and for anything 40 dB
        below a band's mean: zero padding of the network's input means silence.
    """
    # Bands that are empty all along (band-limited audio, a silent recording) have a mean near ln 1e-10;
    # raising it to MIN_LEVEL keeps their silence on the floor rather than at "average".
    reference = np.maximum(stats.band_mean, MIN_LEVEL)
    return ((np.maximum(mel - reference, FLOOR) - FLOOR) / 4.0).astype(np.float32)
