"""Cutting a recording into utterances at pauses, as it streams in.

A recogniser works best on stretches of a few seconds to tens of seconds that start and end in silence:
PocketSphinx's search and its cepstral mean drift over long utterances, and a whole recording would have
to sit in memory. :class:`UtteranceCutter` takes samples with their 10 ms frame features
(:class:`~headshot.speech.tracker.FrameFeatures`) and cuts

- silence of 0.5 s or more at the start of an utterance off as a silent utterance (never decoded),
- else at the middle of the first pause of 0.3 s or more once the utterance is ``min_seconds`` long,
- else, at ``max_seconds``, at the quietest 0.3 s of its second half.

Silence is relative to the last minute's energy (:func:`~headshot.speech.tracker.silence_threshold`), so
quiet and loud recordings, and ones whose level changes, are cut alike. Memory: at most ``max_seconds`` of
samples plus a minute of energies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .tracker import HOP_SECONDS, FrameFeatures, runs, silence_threshold, smooth

__all__ = ["Utterance", "UtteranceCutter"]

_LEADING_SILENCE = 50  # frames of silence at the start that make a silent utterance of their own
_MIN_PAUSE = 30  # frames of silence to cut in the middle of
_SOUND_FRAMES = 10  # frames above the silence threshold that make an utterance worth decoding
_HISTORY_FRAMES = 6000  # the last minute: what the silence threshold is taken from


@dataclass
class Utterance:
    """A stretch of the recording: ``samples`` (mono float32; None when silent) from 10 ms frame
    ``start_frame`` on, ``length`` samples long, with its frames' ``features``."""

    start_frame: int
    length: int
    samples: np.ndarray | None
    features: FrameFeatures

    @property
    def silent(self) -> bool:
        return self.samples is None

    @property
    def start(self) -> float:
        """Seconds from the start of the recording."""
        return self.start_frame * HOP_SECONDS


class UtteranceCutter:
    """Cut samples pushed chunk by chunk into :class:`Utterance` objects (see the module docstring).

    Parameters:
        sample_rate: samples per second (the frames are 10 ms: ``sample_rate / 100`` samples each).
        min_seconds: shortest utterance cut at a pause.
        max_seconds: longest utterance.
    """

    def __init__(self, sample_rate: int, min_seconds: float, max_seconds: float):
        self.hop = round(HOP_SECONDS * sample_rate)
        self.min_frames = round(min_seconds / HOP_SECONDS)
        self.max_frames = round(max_seconds / HOP_SECONDS)
        self._samples: list[np.ndarray] = []  # from the current utterance's start on
        self._sample_count = 0
        self._features: list[FrameFeatures] = []  # of the current utterance's frames computed so far
        self._start_frame = 0
        self._history: list[np.ndarray] = []

    @property
    def threshold(self) -> float:
        """Silence threshold (dBFS) of the last minute."""
        return silence_threshold(np.concatenate(self._history)) if self._history else -60.0

    def is_silent(self, features: FrameFeatures) -> bool:
        """Whether frames hold less than 100 ms of sound."""
        return int((features.energy_db >= self.threshold).sum()) < _SOUND_FRAMES

    def push(self, samples: np.ndarray, features: FrameFeatures) -> list[Utterance]:
        """Add samples and the frame features computed so far (they lag the samples); returns the
        utterances that are complete."""
        self._samples.append(samples)
        self._sample_count += len(samples)
        self._features.append(features)
        self._history.append(features.energy_db)
        total = sum(len(e) for e in self._history)
        while total - len(self._history[0]) > _HISTORY_FRAMES:
            total -= len(self._history.pop(0))
        utterances = []
        while (cut := self._find_cut()) is not None:
            utterances.append(self._cut(*cut))
        return utterances

    def finish(self, features: FrameFeatures) -> list[Utterance]:
        """The rest, given the last frame features; the cutter is then empty."""
        self._features.append(features)
        if not self._sample_count:
            return []
        frames = FrameFeatures.concatenate(self._features)
        return [self._cut(len(frames), self.is_silent(frames))]

    def _find_cut(self) -> tuple[int, bool] | None:
        """(frames from the utterance start, whether they are silent) to cut now, or None."""
        self._features = [FrameFeatures.concatenate(self._features)]
        energy = self._features[0].energy_db
        available = min(len(energy), self._sample_count // self.hop)
        if available < _LEADING_SILENCE:
            return None
        silent_runs = runs(energy[:available] < self.threshold)
        if silent_runs and silent_runs[0][0] == 0 and silent_runs[0][1] >= _LEADING_SILENCE:
            end = silent_runs[0][1]
            if end < available:
                return end - 15, True  # keep 0.15 s of silence before the sound
            if available >= 2 * _LEADING_SILENCE:
                return available - _MIN_PAUSE, True  # still silent: let it go, keep a margin
        for start, end in silent_runs[1:] if silent_runs and silent_runs[0][0] == 0 else silent_runs:
            middle = (start + end) // 2
            ended = end < available
            if end - start >= _MIN_PAUSE and middle >= self.min_frames and (ended or end - start >= 2 * _MIN_PAUSE):
                return (middle if ended else start + _MIN_PAUSE), False
        if available >= self.max_frames:
            envelope = smooth(energy[: self.max_frames], _MIN_PAUSE)
            lo = self.max_frames // 2
            return lo + int(np.argmin(envelope[lo : self.max_frames])), False
        return None

    def _cut(self, frames: int, silent: bool) -> Utterance:
        samples = np.concatenate(self._samples) if self._samples else np.zeros(0, np.float32)
        count = min(frames * self.hop, len(samples))
        head, rest = samples[:count], samples[count:]
        self._samples, self._sample_count = ([rest], len(rest)) if len(rest) else ([], 0)
        features = FrameFeatures.concatenate(self._features)
        self._features = [features.slice(frames, len(features))]
        utterance = Utterance(self._start_frame, count, None if silent else head, features.slice(0, frames))
        self._start_frame += frames
        return utterance
