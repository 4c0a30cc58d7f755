"""Phones from a voice recording: a :class:`~headshot.speech.timeline.Speech` timeline for speech motion.

PocketSphinx 5 (CMU, BSD licence; US English acoustic model, language model and CMUdict in its wheel) runs
offline on the CPU (:mod:`headshot.speech.sphinx`). Four ways to a timeline, picked per utterance:

- **align** (a transcript is given): the transcript's words, looked up in CMUdict (or guessed by a few
  letter-to-sound rules), are force-aligned to the audio, then aligned again at the phone level.
- **words** (the default without a transcript): words are recognised with the US English trigram model,
  then their dictionary phones are aligned. Wrong words still give real English phone sequences, which
  move a mouth better than a free phone loop's guesses.
- **phones**: a phone loop with a phone trigram model ("allphone"); three times faster, noisier.
- **energy** (fallback): where recognition is weak (music, noise, another language) or the language is
  not English, syllables are placed on loudness peaks as consonant-vowel pairs
  (:func:`headshot.speech.prosody.energy_phones`), so that the mouth still opens with the voice.

Long recordings are read chunk by chunk and cut into utterances of at most ``max_utterance`` seconds at
pauses (:mod:`headshot.speech.utterances`); memory stays flat. :class:`RecognitionStream` takes
chunks and returns phones as utterances complete; :func:`recognize_phones` does a whole file or array.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from .lexicon import transcript_words
from .prosody import Prosody, energy_phones
from .sphinx import FILLERS, FRAME_RATE, SAMPLE_RATE, PhoneRow, SphinxDecoders, match_transcript
from .timeline import PAUSE, Phone, Speech
from .tracker import FrameFeatures, ProsodyTracker
from .utterances import Utterance, UtteranceCutter

__all__ = ["MODES", "RecognitionStream", "RecognizerOptions", "Word", "recognize_phones"]

log = logging.getLogger(__name__)

MODES = ("words", "phones")


@dataclass
class RecognizerOptions:
    """How :func:`recognize_phones` turns audio into phones. Defaults fit ~0.2x real time on 2 CPU cores.

    Attributes:
        mode: without a transcript, ``"words"`` (recognise words, align their phones) or ``"phones"``
            (a phone loop: faster, noisier).
        max_utterance: longest stretch (seconds) decoded at once; recordings are cut at pauses.
        min_utterance: shortest stretch (seconds) cut off at a pause (short ones lose acoustic context).
        min_phone_rate: recognised phones per second of sound under which an utterance is taken as not
            speech (or not English) and gets energy phones instead.
        max_hmms_per_frame: PocketSphinx ``maxhmmpf``, the search's width per 10 ms frame in words mode
            (2000: 3x faster than unlimited, the same phone error rate on GRID sentences).
        phone_lw: language weight of the phone loop's phone trigram model (2 halves its deletions).
        decoder_log: PocketSphinx's log level (``"FATAL"``, ``"ERROR"``, ``"WARN"``, ``"INFO"``).
        decoder_settings: more PocketSphinx settings for both decoders (e.g. ``{"beam": 1e-40}``), for tuning.
    """

    mode: str = "words"
    max_utterance: float = 20.0
    min_utterance: float = 3.0
    min_phone_rate: float = 4.0
    max_hmms_per_frame: int = 2000
    phone_lw: float = 2.0
    decoder_log: str = "FATAL"
    decoder_settings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 1.0 <= self.min_utterance < self.max_utterance:
            raise ValueError("need 1 <= min_utterance < max_utterance seconds")


@dataclass(frozen=True)
class Word:
    """A recognised or aligned word: ``text`` (lower case, as in CMUdict), ``start``/``end`` in seconds."""

    text: str
    start: float
    end: float


# --------------------------------------------------------------------------------------- the stream


class RecognitionStream:
    """Phones from audio pushed chunk by chunk; memory stays flat whatever the length.

    Push mono float32 chunks at 16 kHz with :meth:`push`; each call returns the phones of the utterances
    it completed (possibly none), :meth:`finish` the rest. All the phones returned, in order, form a
    timeline without gaps from 0 to the end of the audio, in ARPAbet with ``"_"`` for pauses (a pause
    at the end of one call may continue in the next: it is returned once it ends).

    Parameters:
        options: see :class:`RecognizerOptions`.
        transcript: what is said, if known: the phones are then force-aligned to its words.
        language: a language code; anything but English gets energy phones (no recogniser for it).

    After :meth:`finish`: ``words`` (recognised or aligned :class:`Word` list; ``Phone.word`` indexes it;
    with a transcript, it holds the transcript's words in order), ``prosody``
    (:class:`~headshot.speech.prosody.Prosody` of the whole recording), ``seconds_by_method`` (seconds of
    audio each method produced: ``align``, ``words``, ``phones``, ``energy``, ``pause``), ``seconds``.
    """

    def __init__(self, options: RecognizerOptions | None = None, transcript: str | None = None,
                 language: str = "en"):
        self.options = options or RecognizerOptions()
        self.language = language
        self.english = language.lower().replace("_", "-").split("-")[0] == "en"
        self.transcript = transcript_words(transcript) if transcript is not None else None
        if transcript is not None and not self.transcript:
            raise InputError("the transcript has no words; pass the text that is said, or none")
        self.words: list[Word] = []
        self.seconds_by_method: dict[str, float] = {}
        self.prosody: Prosody | None = None
        self.samples_in = 0
        self._transcript_next = 0  # first transcript word not yet given to an utterance
        self._decoders: SphinxDecoders | None = None
        self._tracker = ProsodyTracker(SAMPLE_RATE)
        self._cutter = UtteranceCutter(SAMPLE_RATE, self.options.min_utterance, self.options.max_utterance)
        self._features: list[FrameFeatures] = []  # of the whole recording, for its prosody
        self._pending: list[Utterance] = []  # cut but not decoded yet
        self._cursor = 0.0  # end of the timeline returned so far
        self._held_pause: Phone | None = None  # a pause that may continue in the next utterance
        self._finished = False

    @property
    def seconds(self) -> float:
        """Seconds of audio pushed so far."""
        return self.samples_in / SAMPLE_RATE

    def push(self, samples: np.ndarray) -> list[Phone]:
        """Add mono float32 samples in [-1, 1] at 16 kHz; returns the phones of utterances completed."""
        if self._finished:
            raise RuntimeError("this RecognitionStream is finished")
        samples = np.asarray(samples, np.float32).reshape(-1)
        if not len(samples):
            return []
        self.samples_in += len(samples)
        features = self._tracker.push(samples)
        self._keep(features)
        self._pending += self._cutter.push(samples, features)
        return self._emit(self._decode_pending(last=False))

    def finish(self) -> list[Phone]:
        """Phones of the rest of the audio; then ``words``, ``prosody`` and ``seconds_by_method`` are final."""
        if self._finished:
            return []
        self._finished = True
        features = self._tracker.finish()
        self._keep(features)
        self.prosody = Prosody.from_features(FrameFeatures.concatenate(self._features), seconds=self.seconds)
        self._features = []
        self._pending += self._cutter.finish(features)
        return self._emit(self._decode_pending(last=True), end=self.seconds)

    def _keep(self, features: FrameFeatures) -> None:
        self._features.append(features)
        if len(self._features) > 64:  # one array per feature rather than thousands of small ones
            self._features = [FrameFeatures.concatenate(self._features)]

    # -- output

    def _emit(self, phones: list[Phone], end: float | None = None) -> list[Phone]:
        """Gap-free phones from the cursor on: gaps become pauses, neighbouring pauses merge, and a pause
        at the end is held back (it may go on) unless ``end`` (the audio's end) is given."""
        out: list[Phone] = []
        pause, self._held_pause = self._held_pause, None
        for phone in phones:
            start, stop = max(phone.start, self._cursor), phone.end if end is None else min(phone.end, end)
            if stop <= start + 1e-6:
                continue
            if phone.is_pause or start > self._cursor + 1e-6:  # a pause, or a gap before the phone
                pause_end = stop if phone.is_pause else start
                pause = Phone(PAUSE, pause.start if pause else round(self._cursor, 4), round(pause_end, 4))
                self._cursor = pause_end
                if phone.is_pause:
                    continue
            if pause is not None:
                out.append(pause)
                pause = None
            out.append(Phone(phone.symbol, round(start, 4), round(stop, 4), phone.stress, phone.word))
            self._cursor = stop
        if end is None:
            self._held_pause = pause
            return out
        if end > self._cursor + 1e-6:
            pause = Phone(PAUSE, pause.start if pause else round(self._cursor, 4), round(end, 4))
            self._cursor = end
        return out + ([pause] if pause is not None else [])

    # -- decoding

    def _decode_pending(self, last: bool) -> list[Phone]:
        """Decode the utterances cut so far, holding back the last one with sound until another follows
        (the last one with sound takes the rest of a transcript); all of them at the end of the audio."""
        phones = []
        while self._pending and (last or any(not later.silent for later in self._pending[1:])):
            utterance = self._pending.pop(0)
            final = last and all(later.silent for later in self._pending)
            phones += self._decode(utterance, last=final)
        return phones

    def _decoders_for_session(self) -> SphinxDecoders:
        if self._decoders is None:
            options = self.options
            phone_loop = options.mode == "phones" and self.transcript is None
            self._decoders = SphinxDecoders(words=not phone_loop, phones=phone_loop,
                                            max_hmms_per_frame=options.max_hmms_per_frame,
                                            phone_lw=options.phone_lw, log_level=options.decoder_log,
                                            settings=options.decoder_settings)
        return self._decoders

    def _count(self, method: str, seconds: float) -> None:
        self.seconds_by_method[method] = self.seconds_by_method.get(method, 0.0) + seconds

    def _decode(self, utterance: Utterance, last: bool) -> list[Phone]:
        offset, seconds = utterance.start, utterance.length / SAMPLE_RATE
        if utterance.silent:
            self._count("pause", seconds)
            return [Phone(PAUSE, offset, offset + seconds)]
        if not self.english:
            return self._energy_phones(utterance)
        pcm = (np.clip(utterance.samples, -1.0, 1.0) * 32767.0).astype(np.int16).tobytes()
        decoders = self._decoders_for_session()
        words_before = len(self.words)
        if self.transcript is not None:
            method, rows = self._align(decoders, pcm, offset, seconds, last)
        elif self.options.mode == "phones":
            method, rows = "phones", decoders.recognise_phones(pcm)
        else:
            method = "words"
            recognised, rows = decoders.recognise_words(pcm)
            rows = self._add_words(recognised, rows, offset, seconds)
        phones = [Phone(PAUSE if row.phone in FILLERS else row.phone, offset + row.start / FRAME_RATE,
                        offset + row.end / FRAME_RATE, word=-1 if row.phone in FILLERS else row.word)
                  for row in rows]
        if method != "align" and self._weak(phones, utterance):  # aligned words are taken as said
            if self.transcript is None:  # recognised words of music or noise are no words
                del self.words[words_before:]
            return self._energy_phones(utterance)
        self._count(method, seconds)
        return phones

    def _align(self, decoders: SphinxDecoders, pcm: bytes, offset: float, seconds: float,
               last: bool) -> tuple[str, list[PhoneRow]]:
        """(method, phone rows) of this utterance's share of the transcript: ``"align"`` with the words
        aligned, or ``"words"`` recognised where they do not align (or the transcript has run out).

        The share is all that is left for the last utterance with sound; else the words whose phones best
        match a recognition pass, and if those do not align, one word fewer, then one more.
        """
        remaining = self.transcript[self._transcript_next :]
        if last:
            counts = [len(remaining)]
        else:
            recognised, _ = decoders.recognise_words(pcm, phones=False)
            heard = [phone for word in recognised for phone in decoders.pronunciation(word)]
            count = match_transcript(heard, remaining, decoders.pronunciation)
            counts = [c for c in (count, count - 1, count + 1) if 0 < c <= len(remaining)]
        for count in counts:
            rows = decoders.align(pcm, remaining[:count])
            if rows is not None:
                return "align", self._add_words(remaining[:count], rows, offset, seconds)
        count = counts[0] if counts else 0
        if count:
            log.info("transcript words %d-%d did not align; recognising that stretch",
                     self._transcript_next, self._transcript_next + count)
        self._add_words(remaining[:count], [], offset, seconds)  # they keep their place in the word list
        _, rows = decoders.recognise_words(pcm)
        return "words", [row._replace(word=-1) for row in rows]

    def _add_words(self, words: list[str], rows: list[PhoneRow], offset: float, seconds: float) -> list[PhoneRow]:
        """Append ``words`` to ``self.words`` timed by ``rows`` (word numbers from 0); returns the rows
        with their word numbers made indices into ``self.words``."""
        first = len(self.words)
        if self.transcript is not None:
            self._transcript_next += len(words)
        spans: dict[int, list[int]] = {}
        for row in rows:
            if row.word >= 0:
                span = spans.setdefault(row.word, [row.start, row.end])
                span[0], span[1] = min(span[0], row.start), max(span[1], row.end)
        for number, text in enumerate(words):
            a, b = spans.get(number, (0, round(seconds * FRAME_RATE)))  # unplaced: the whole utterance
            self.words.append(Word(text, offset + a / FRAME_RATE, offset + b / FRAME_RATE))
        return [row._replace(word=first + row.word) if row.word >= 0 else row for row in rows]

    def _weak(self, phones: list[Phone], utterance: Utterance) -> bool:
        """Too few phones for the sound in the utterance (music, noise, another language)."""
        sound_seconds = float((utterance.features.energy_db >= self._cutter.threshold).sum()) / FRAME_RATE
        if sound_seconds < 1.0:
            return False
        spoken = sum(1 for p in phones if not p.is_pause)
        return spoken / sound_seconds < self.options.min_phone_rate

    def _energy_phones(self, utterance: Utterance) -> list[Phone]:
        seconds = utterance.length / SAMPLE_RATE
        prosody = Prosody.from_features(utterance.features, seconds=seconds, silence_db=self._cutter.threshold)
        self._count("energy", seconds)
        return [Phone(p.symbol, p.start + utterance.start, p.end + utterance.start, p.stress, p.word)
                for p in energy_phones(prosody)]


# ------------------------------------------------------------------------------------------ the API


def _resample(samples: np.ndarray, rate: int) -> np.ndarray:
    if rate == SAMPLE_RATE:
        return samples
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(SAMPLE_RATE, rate).limit_denominator(1000)
    return resample_poly(samples, ratio.numerator, ratio.denominator).astype(np.float32)


def recognize_phones(
    source: str | os.PathLike | np.ndarray,
    transcript: str | None = None,
    *,
    sample_rate: int = SAMPLE_RATE,
    language: str = "en",
    options: RecognizerOptions | None = None,
    keep_samples: bool = True,
) -> Speech:
    """The phone timeline of a voice recording.

    Parameters:
        source: an audio or video file (wav, mp3, m4a, mp4 ...; read with
            :class:`~headshot.io.audio.AudioReader`) or a mono float32 array in [-1, 1].
        transcript: the words said, if known: phones are then force-aligned to them (better timings).
        sample_rate: the rate of an array ``source`` (resampled to 16 kHz); ignored for files.
        language: a language code. Only English is recognised; other languages get energy phones.
        options: see :class:`RecognizerOptions`.
        keep_samples: put the 16 kHz waveform in ``Speech.samples`` (230 MB per hour). With False the
            samples array is empty and memory stays flat for any length; ``metadata["seconds"]`` holds
            the length.

    Returns a :class:`Speech` with ``alphabet="arpabet"``, CMU phones (``"_"`` for pauses, stress 0
    unless an energy syllable is prominent), ``Phone.word`` indexing ``metadata["words"]``, and metadata:
    ``method`` (``"align"``, ``"words"``, ``"phones"`` or ``"energy"``: what made most of the speech;
    ``"pause"`` for a recording without sound),
    ``seconds_by_method``, ``words`` (:class:`Word` list), ``prosody`` (a
    :class:`~headshot.speech.prosody.Prosody`), ``seconds``.

    Raises :class:`~headshot.errors.InputError` for an unreadable file or a file without audio. Silence
    gives a timeline of one pause, not an error.
    """
    options = options or RecognizerOptions()
    stream = RecognitionStream(options, transcript=transcript, language=language)
    kept: list[np.ndarray] = []
    phones: list[Phone] = []
    if isinstance(source, np.ndarray):
        if source.ndim > 1 and sorted(source.shape)[-2] > 1:
            raise ValueError(f"expected mono samples, got an array of shape {source.shape}")
        samples = _resample(np.asarray(source, np.float32).reshape(-1), int(sample_rate))
        chunks: Iterable[np.ndarray] = (samples[i : i + SAMPLE_RATE] for i in range(0, len(samples), SAMPLE_RATE))
        reader = None
    else:
        from ..io.audio import AudioReader

        reader = AudioReader(source, sample_rate=SAMPLE_RATE)
        chunks = reader
    try:
        for chunk in chunks:
            if keep_samples:
                kept.append(chunk)
            phones += stream.push(chunk)
        phones += stream.finish()
    finally:
        if reader is not None:
            reader.close()
    seconds = stream.seconds
    spoken = {k: v for k, v in stream.seconds_by_method.items() if k != "pause"}
    method = max(spoken, key=spoken.get) if spoken else "pause"
    voice = "pocketsphinx en-us" if method in ("align", "words", "phones") else "energy envelope"
    samples = np.concatenate(kept) if kept else np.zeros(0, np.float32)
    return Speech(
        samples=samples,
        sample_rate=SAMPLE_RATE,
        phones=phones,
        alphabet="arpabet",
        language=language,
        voice=voice,
        metadata={
            "method": method,
            "seconds_by_method": dict(stream.seconds_by_method),
            "words": list(stream.words),
            "prosody": stream.prosody,
            "seconds": seconds,
        },
    )
