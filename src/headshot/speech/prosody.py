"""Prosody of a recording: loudness, pitch, pauses and syllable peaks, the audio cues for head and face motion.

Speech motion needs more than phonemes: heads nod on stressed syllables, brows rise with pitch, people blink
in pauses, and the loudness envelope alone is a usable lip-sync baseline when nothing else is known.

- :class:`~headshot.speech.tracker.ProsodyTracker` reads audio chunk by chunk and returns features every
  10 ms: RMS energy in dBFS, F0 (YIN) and a periodicity score; an hour is about 4 MB of features.
- :func:`analyze_prosody` runs it over a file, an array or an iterable of chunks and returns
  :class:`Prosody`: the 10 ms features plus normalised loudness, pauses (silences of at least 150 ms) and
  syllable nuclei (loudness peaks on voiced frames, after de Jong & Wempe 2009) with a stress score.
- :meth:`Prosody.frames` resamples everything to a video frame rate as :class:`ProsodyFrames`.
- :func:`energy_phones` makes a phone timeline from loudness alone (a syllable per nucleus), the fallback
  when speech cannot be recognised.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .timeline import PAUSE, Phone
from .tracker import HOP_SECONDS, SILENCE_DB, FrameFeatures, ProsodyTracker, runs, silence_threshold, smooth

__all__ = [
    "MIN_PAUSE_SECONDS", "Nucleus", "Prosody", "ProsodyFrames", "ProsodyTracker", "analyze_prosody", "energy_phones",
]

MIN_PAUSE_SECONDS = 0.15


# ------------------------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Nucleus:
    """A syllable nucleus: a loudness peak on voiced speech.

    Attributes:
        time: seconds from the start of the audio.
        strength: the peak's loudness in [0, 1] (see :attr:`Prosody.loudness`).
        stress: prominence against its neighbours in [0, 1] (louder and higher-pitched than the syllables
            around it); above 0.5 it is taken as a stressed syllable.
    """

    time: float
    strength: float
    stress: float

    @property
    def stressed(self) -> bool:
        return self.stress > 0.5


@dataclass
class ProsodyFrames:
    """Prosody per video frame (frame ``i`` at ``i / fps`` seconds); every array has one value per frame.

    Attributes:
        fps: frames per second.
        loudness: float32 in [0, 1], mean over the frame's span (0 noise floor, 1 loud speech).
        energy_db: float32 RMS energy in dBFS.
        voiced: bool, voice in most of the frame's span.
        pitch_hz: float32 F0 of the voiced part (geometric mean), 0 where unvoiced.
        pitch_semitones: float32 F0 in semitones above the speaker's median F0, 0 where unvoiced.
        pause: bool, the frame lies in a pause (silence of at least 150 ms).
        stress: float32 in [0, 1]: the stress of a syllable nucleus in this frame, 0 elsewhere.
    """

    fps: float
    loudness: np.ndarray
    energy_db: np.ndarray
    voiced: np.ndarray
    pitch_hz: np.ndarray
    pitch_semitones: np.ndarray
    pause: np.ndarray
    stress: np.ndarray

    def __len__(self) -> int:
        return len(self.loudness)


@dataclass
class Prosody:
    """Prosody of a recording at 100 frames per second (frame ``k`` centred at ``k * 0.01`` s).

    Attributes:
        energy_db: float32 RMS energy in dBFS (25 ms window), -100 for digital silence.
        pitch_hz: float32 F0 in Hz, 0 where unvoiced.
        periodicity: float32 in [0, 1], how periodic (voice-like) the frame is.
        silence_db: the silence threshold of this recording (see :func:`silence_threshold`).
        level_db: the speech level (95th percentile of energy).
        pauses: (start, end) seconds of silences of at least ``min_pause`` seconds, including any at the
            start and end of the recording.
        nuclei: syllable nuclei in time order.
        seconds: length of the audio.
    """

    energy_db: np.ndarray
    pitch_hz: np.ndarray
    periodicity: np.ndarray
    silence_db: float
    level_db: float
    pauses: list[tuple[float, float]]
    nuclei: list[Nucleus]
    seconds: float

    hop_seconds = HOP_SECONDS

    @classmethod
    def from_features(
        cls,
        features: FrameFeatures,
        seconds: float | None = None,
        min_pause: float = MIN_PAUSE_SECONDS,
        silence_db: float | None = None,
    ) -> "Prosody":
        """Loudness normalisation, pauses and nuclei from :class:`ProsodyTracker` frame features.

        ``seconds`` is the audio's length (default: 10 ms per frame); ``silence_db`` overrides the
        silence threshold (default: :func:`~headshot.speech.tracker.silence_threshold` of the energy).
        """
        energy_db = np.asarray(features.energy_db, np.float32)
        pitch_hz = np.asarray(features.pitch_hz, np.float32)
        periodicity = np.asarray(features.periodicity, np.float32)
        if seconds is None:
            seconds = len(energy_db) * HOP_SECONDS
        if silence_db is None:
            silence_db = silence_threshold(energy_db)
        level_db = float(np.percentile(energy_db, 95)) if len(energy_db) else SILENCE_DB
        prosody = cls(energy_db, pitch_hz, periodicity, silence_db, level_db, [], [], float(seconds))
        prosody.pauses = prosody._find_pauses(min_pause)
        prosody.nuclei = prosody._find_nuclei()
        return prosody

    @property
    def loudness(self) -> np.ndarray:
        """float32 in [0, 1] per 10 ms frame: 0 at or under the silence threshold, 1 at the speech level."""
        span = max(self.level_db - self.silence_db, 6.0)
        return np.clip((self.energy_db - self.silence_db) / span, 0.0, 1.0).astype(np.float32)

    @property
    def silent(self) -> np.ndarray:
        """bool per 10 ms frame: energy under the silence threshold."""
        return self.energy_db < self.silence_db

    @property
    def voiced(self) -> np.ndarray:
        """bool per 10 ms frame: a voice (pitch found) above the silence threshold."""
        return (self.pitch_hz > 0) & ~self.silent

    @property
    def median_pitch_hz(self) -> float:
        """The speaker's median F0 over voiced frames (0 if none)."""
        voiced = self.pitch_hz[self.voiced]
        return float(np.median(voiced)) if len(voiced) else 0.0

    @property
    def speech_seconds(self) -> float:
        """Seconds outside pauses."""
        return self.seconds - sum(end - start for start, end in self.pauses)

    def _find_pauses(self, min_pause: float) -> list[tuple[float, float]]:
        silent = self.silent.copy()
        for start, end in runs(~silent):  # a click or breath of <= 50 ms does not end a pause
            if end - start <= 5 and start > 0 and end < len(silent):
                silent[start:end] = True
        min_frames = round(min_pause / HOP_SECONDS)
        pauses = []
        for start, end in runs(silent):
            if end - start >= min_frames:
                stop = self.seconds if end == len(silent) else min(self._frame_time(end), self.seconds)
                pauses.append((round(self._frame_time(start), 3), round(stop, 3)))
        return pauses

    @staticmethod
    def _frame_time(frame: int) -> float:
        """Seconds at the boundary before frame ``frame`` (frames are centred at ``k * hop``)."""
        return max(0.0, (frame - 0.5) * HOP_SECONDS)

    def _find_nuclei(self) -> list[Nucleus]:
        """Loudness peaks at least 2 dB above the dips on both sides, on voiced frames (de Jong & Wempe)."""
        if len(self.energy_db) < 3:
            return []
        envelope = smooth(self.energy_db, 5)  # 50 ms: keeps syllables (~200 ms) apart
        voiced = self.voiced
        interior = (envelope[1:-1] > envelope[:-2]) & (envelope[1:-1] >= envelope[2:])
        candidates = np.flatnonzero(interior) + 1
        candidates = candidates[(envelope[candidates] > self.silence_db + 3.0) & voiced[candidates]]
        peaks: list[int] = []
        for index in candidates:
            if not peaks:
                peaks.append(int(index))
                continue
            previous = peaks[-1]
            dip = envelope[previous : index + 1].min()
            if min(envelope[previous], envelope[index]) - dip >= 2.0 and index - previous >= 8:
                peaks.append(int(index))
            elif envelope[index] > envelope[previous]:
                peaks[-1] = int(index)  # no dip between them: one syllable, keep the louder peak
        if not peaks:
            return []
        loudness = self.loudness
        peaks_arr = np.asarray(peaks)
        strength = smooth(loudness, 5)[peaks_arr]
        semitones = np.zeros(len(peaks_arr))
        median = self.median_pitch_hz
        pitch = self.pitch_hz[peaks_arr]
        if median > 0:
            semitones = np.where(pitch > 0, 12.0 * np.log2(np.maximum(pitch, 1.0) / median), 0.0)
        stress = self._stress(envelope[peaks_arr], semitones)
        return [Nucleus(round(float(p) * HOP_SECONDS, 3), float(s), float(t))
                for p, s, t in zip(peaks_arr, strength, stress)]

    @staticmethod
    def _stress(peak_db: np.ndarray, semitones: np.ndarray) -> np.ndarray:
        """Prominence of each peak against the 2 peaks either side: dB louder plus semitones higher."""
        count = len(peak_db)
        score = np.zeros(count)
        for i in range(count):
            lo, hi = max(0, i - 2), min(count, i + 3)
            neighbours = [j for j in range(lo, hi) if j != i]
            if not neighbours:
                score[i] = 1.0
                continue
            louder = peak_db[i] - np.mean(peak_db[neighbours])
            higher = semitones[i] - np.mean(semitones[neighbours])
            score[i] = louder / 3.0 + higher / 2.0
        return 1.0 / (1.0 + np.exp(-2.0 * score))  # 3 dB louder or 2 semitones higher: 0.88

    def frames(self, fps: float, count: int | None = None) -> ProsodyFrames:
        """Prosody per video frame: frame ``i`` covers ``[(i - 0.5) / fps, (i + 0.5) / fps)``.

        ``count`` frames (default: enough to cover the audio, ``ceil(seconds * fps)``).
        """
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if count is None:
            count = int(np.ceil(self.seconds * fps - 1e-9))
        n = len(self.energy_db)
        # 10 ms frame k covers [(k - 0.5) hop, (k + 0.5) hop): the video frame's span in those units
        edges = np.clip(np.round(((np.arange(count + 1) - 0.5) / fps) / HOP_SECONDS + 0.5).astype(int), 0, n)
        lo = np.minimum(edges[:-1], n)
        hi = np.minimum(np.maximum(edges[1:], lo + 1), n)
        inside = hi > lo  # video frames past the audio's last 10 ms frame keep silence
        count_10ms = np.maximum(hi - lo, 1)

        def mean_of(values: np.ndarray) -> np.ndarray:
            sums = np.concatenate([[0.0], np.cumsum(values, dtype=np.float64)])
            return (sums[hi] - sums[lo]) / count_10ms

        voiced = self.voiced
        out_loudness = np.where(inside, mean_of(self.loudness), 0.0).astype(np.float32)
        power = mean_of(10.0 ** (self.energy_db.astype(np.float64) / 10.0))
        out_db = np.where(inside, 10.0 * np.log10(np.maximum(power, 1e-10)), SILENCE_DB).astype(np.float32)
        voiced_share = mean_of(voiced)
        out_voiced = inside & (voiced_share >= 0.5)
        log_pitch = mean_of(np.where(voiced, np.log(np.maximum(self.pitch_hz, 1.0)), 0.0))
        out_pitch = np.where(inside & (voiced_share > 0), np.exp(log_pitch / np.maximum(voiced_share, 1e-9)), 0.0)
        out_pitch = out_pitch.astype(np.float32)
        median = self.median_pitch_hz
        semitones = np.zeros(count, np.float32)
        if median > 0:
            has = out_pitch > 0
            semitones[has] = 12.0 * np.log2(out_pitch[has] / median)
        times = np.arange(count) / fps
        pause = np.zeros(count, bool)
        if self.pauses:
            starts, ends = np.array(self.pauses).T
            latest = np.searchsorted(starts, times, side="right") - 1  # the last pause starting by then
            pause = (latest >= 0) & (times < ends[np.maximum(latest, 0)])
        stress = np.zeros(count, np.float32)
        for nucleus in self.nuclei:
            i = int(round(nucleus.time * fps))
            if 0 <= i < count:
                stress[i] = max(stress[i], nucleus.stress)
        return ProsodyFrames(float(fps), out_loudness, out_db, out_voiced, out_pitch, semitones, pause, stress)


def energy_phones(prosody: Prosody, start: float = 0.0, end: float | None = None) -> list[Phone]:
    """ARPAbet phones from loudness alone: pauses as ``"_"``, each syllable nucleus a consonant-vowel pair.

    The vowel is ``AA`` (open) on loud nuclei and ``AH`` otherwise, stressed (``stress=1``) where the
    nucleus is prominent; the consonant is ``N`` (a half-closed mouth) on the dip before it. Covers
    ``[start, end)`` seconds of ``prosody``'s recording (default: all of it).
    """
    end = prosody.seconds if end is None else end
    phones: list[Phone] = []
    cursor = start
    stretches = []  # speech stretches between pauses
    for pause_start, pause_end in prosody.pauses:
        pause_start, pause_end = max(pause_start, start), min(pause_end, end)
        if pause_end <= pause_start:
            continue
        if pause_start > cursor:
            stretches.append((cursor, pause_start))
        stretches.append((pause_start, pause_end, PAUSE))
        cursor = pause_end
    if cursor < end:
        stretches.append((cursor, end))
    energy = smooth(prosody.energy_db, 5)
    for stretch in stretches:
        if len(stretch) == 3:
            phones.append(Phone(PAUSE, stretch[0], stretch[1]))
            continue
        lo, hi = stretch
        nuclei = [n for n in prosody.nuclei if lo <= n.time < hi]
        if not nuclei:  # sound without a voiced peak: a breath or a fricative, the mouth half open
            phones.append(Phone("AH" if hi - lo >= 0.1 else PAUSE, lo, hi))
            continue
        # syllable boundaries: the quietest frame between neighbouring nuclei
        bounds = [lo]
        for left, right in zip(nuclei[:-1], nuclei[1:]):
            a, b = round(left.time / HOP_SECONDS), round(right.time / HOP_SECONDS)
            dip = a + int(np.argmin(energy[a : b + 1])) if b > a else a
            bounds.append(min(max(dip * HOP_SECONDS, left.time), right.time))
        bounds.append(hi)
        for nucleus, (a, b) in zip(nuclei, zip(bounds[:-1], bounds[1:])):
            onset = a + 0.6 * max(0.0, nucleus.time - a)
            onset = min(onset, a + 0.08)
            vowel = "AA" if nucleus.strength > 0.6 else "AH"
            if onset > a + 0.02:
                phones.append(Phone("N", a, onset))
            else:
                onset = a
            phones.append(Phone(vowel, onset, b, stress=1 if nucleus.stressed else 0))
    merged: list[Phone] = []
    for phone in phones:  # neighbouring pauses become one
        if merged and phone.is_pause and merged[-1].is_pause:
            merged[-1] = Phone(PAUSE, merged[-1].start, phone.end)
        else:
            merged.append(phone)
    return merged


def _chunks_of(source, sample_rate: int) -> tuple[Iterable[np.ndarray], int, object]:
    """(chunks, sample_rate, reader to close or None) for a path, an array or an iterable of chunks."""
    if isinstance(source, (str, os.PathLike)):
        from ..io.audio import AudioReader

        reader = AudioReader(source, sample_rate=sample_rate)
        return reader, reader.sample_rate, reader
    if isinstance(source, np.ndarray):
        return [np.asarray(source, np.float32).reshape(-1)], sample_rate, None
    return source, sample_rate, None


def analyze_prosody(
    source: str | os.PathLike | np.ndarray | Iterable[np.ndarray],
    sample_rate: int = 16000,
    min_pause: float = MIN_PAUSE_SECONDS,
) -> Prosody:
    """Prosody of a recording: energy, pitch, pauses and syllable nuclei at 100 frames per second.

    Parameters:
        source: an audio or video file (read with :class:`~headshot.io.audio.AudioReader`), a mono
            float32 array in [-1, 1], or an iterable of such chunks.
        sample_rate: the rate of an array or chunks; for a file, the rate it is decoded at.
        min_pause: the shortest silence (seconds) reported as a pause.

    Memory: the samples are read chunk by chunk; only the 10 ms features (12 bytes per frame) are kept.
    Raises :class:`~headshot.errors.InputError` for an unreadable file.
    """
    chunks, rate, reader = _chunks_of(source, sample_rate)
    tracker = ProsodyTracker(rate)
    parts = []
    try:
        for chunk in chunks:
            parts.append(tracker.push(chunk))
        parts.append(tracker.finish())
    finally:
        if reader is not None:
            reader.close()
    return Prosody.from_features(FrameFeatures.concatenate(parts), seconds=tracker.samples_in / rate,
                                 min_pause=min_pause)
