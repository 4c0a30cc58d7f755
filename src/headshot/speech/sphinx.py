"""PocketSphinx 5 for one recognition session: word search, phone loop, forced alignment, phone timings.

PocketSphinx (CMU, BSD licence) ships a US English acoustic model, a trigram language model, a phone
trigram model and CMUdict in its wheel; everything runs offline on the CPU at 100 frames per second.
Importing :mod:`pocketsphinx` does not touch audio devices (``sounddevice`` is only imported by its
microphone helpers, which are not used here).

Every decode returns :class:`PhoneRow` tuples: a CMU phone (``SIL`` and ``+NSN+`` style fillers included),
its first and one-past-last 10 ms frame, and the number of the non-filler word it belongs to (-1 for
fillers and the phone loop).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .lexicon import guess_phones

__all__ = ["FILLERS", "FRAME_RATE", "SAMPLE_RATE", "PhoneRow", "SphinxDecoders", "match_transcript"]

SAMPLE_RATE = 16000  # the acoustic model's rate
FRAME_RATE = 100  # frames per second
FILLERS = {"SIL", "+NSN+", "+SPN+", "+BREATH+", "+COUGH+", "+NOISE+", "+UM+", "+UH+", "+LAUGH+"}
_FILLER_WORDS = {"<s>", "</s>", "<sil>", "[NOISE]", "[SPEECH]", "[BREATH]", "[COUGH]", "[UM]", "[UH]"}
_VARIANT = re.compile(r"\(\d+\)$")  # CMUdict's alternative pronunciations: "the(2)"


class PhoneRow(NamedTuple):
    """One decoded phone: CMU symbol, frames ``[start, end)`` at 100 per second, word number or -1."""

    phone: str
    start: int
    end: int
    word: int


class SphinxDecoders:
    """The decoders of one session: words (language model + CMUdict) and/or the phone loop.

    Parameters:
        words: create the word decoder (recognition and alignment).
        phones: create the phone-loop decoder.
        max_hmms_per_frame: ``maxhmmpf`` of the word search (its width per frame; -1 unlimited).
        phone_lw: language weight of the phone loop's phone trigram model.
        log_level: PocketSphinx's log level (``"FATAL"`` ... ``"INFO"``).
        settings: more PocketSphinx settings for both decoders.

    Every utterance is decoded whole (``full_utt``: cepstral mean from the utterance itself), so results do
    not depend on what was decoded before.
    """

    def __init__(self, words: bool = True, phones: bool = False, max_hmms_per_frame: int = 2000,
                 phone_lw: float = 2.0, log_level: str = "FATAL", settings: dict | None = None):
        from pocketsphinx import Decoder, get_model_path

        settings = dict(settings or {})
        self.words = None
        self.phones = None
        if words:
            self.words = Decoder(
                loglevel=log_level,
                fwdflat=False,  # the second, flat-lexicon pass costs 40% more for no phone accuracy here
                bestpath=False,  # no lattice rescoring: the phones are re-aligned anyway
                maxhmmpf=max_hmms_per_frame,
                **settings,
            )
        if phones:
            self.phones = Decoder(allphone=get_model_path("en-us/en-us-phone.lm.bin"), lm=None, loglevel=log_level,
                                  **{"lw": phone_lw, **settings})
        self._added: set[str] = set()
        self._pronunciations: dict[str, list[str]] = {}

    # -- dictionary

    def pronunciation(self, word: str) -> list[str]:
        """ARPAbet phones of a word: CMUdict's first pronunciation, else a letter-to-sound guess."""
        if word not in self._pronunciations:
            self._pronunciations[word] = (self.words.lookup_word(word) or guess_phones(word)).split()
        return self._pronunciations[word]

    def _add_missing(self, words: list[str]) -> None:
        """Put guessed pronunciations of words CMUdict lacks into the decoder's dictionary."""
        missing = [w for w in dict.fromkeys(words) if w not in self._added and self.words.lookup_word(w) is None]
        for i, word in enumerate(missing):
            self.words.add_word(word, " ".join(self.pronunciation(word)), update=i == len(missing) - 1)
            self._added.add(word)

    # -- decoding

    @staticmethod
    def _run(decoder, pcm: bytes) -> None:
        decoder.start_utt()
        decoder.process_raw(pcm, False, True)
        decoder.end_utt()

    def _phone_alignment(self, pcm: bytes) -> list[PhoneRow]:
        """Second pass after a word search or alignment: the phones of its words, with their frames."""
        decoder = self.words
        decoder.set_alignment()
        self._run(decoder, pcm)
        rows = []
        word_number = -1
        for word in decoder.get_alignment():
            filler = _VARIANT.sub("", word.name) in _FILLER_WORDS
            word_number += not filler
            for phone in word:
                rows.append(PhoneRow(phone.name, phone.start, phone.start + phone.duration,
                                     -1 if filler else word_number))
        return rows

    def recognise_words(self, pcm: bytes, phones: bool = True) -> tuple[list[str], list[PhoneRow]]:
        """Words recognised in 16-bit PCM at 16 kHz, and their dictionary phones aligned ([] for silence,
        or without ``phones``: the alignment pass is a third of the time)."""
        decoder = self.words
        decoder.activate_search()
        self._run(decoder, pcm)
        words = [_VARIANT.sub("", s.word) for s in decoder.seg() or ()]  # seg() is None without a result
        words = [w for w in words if w not in _FILLER_WORDS]
        if not words or not phones:
            return words, []
        try:
            rows = self._phone_alignment(pcm)
        except RuntimeError:  # the hypothesis could not be aligned: treat as nothing recognised
            return [], []
        finally:
            decoder.activate_search()
        return words, rows

    def align(self, pcm: bytes, words: list[str]) -> list[PhoneRow] | None:
        """Phones of ``words`` force-aligned to the audio (word numbers from 0), or None if no path fits."""
        if not words:
            return None
        decoder = self.words
        self._add_missing(words)
        try:
            decoder.set_align_text(" ".join(words))
            self._run(decoder, pcm)
            if not any(s.word not in _FILLER_WORDS for s in decoder.seg() or ()):
                return None
            rows = self._phone_alignment(pcm)
        except RuntimeError:
            return None
        finally:
            decoder.activate_search()
        return rows if any(row.phone not in FILLERS for row in rows) else None

    def recognise_phones(self, pcm: bytes) -> list[PhoneRow]:
        """Phones of the phone loop (no words)."""
        self._run(self.phones, pcm)
        return [PhoneRow(s.word, s.start_frame, s.end_frame + 1, -1) for s in self.phones.seg() or ()]


def _prefix_distances(recognised: list[str], reference: list[str]) -> np.ndarray:
    """Edit distance between ``recognised`` and every prefix ``reference[:j]`` (index ``j``)."""
    reference_array = np.asarray(reference, dtype=object)
    steps = np.arange(len(reference) + 1)
    previous = steps.copy()
    for i, symbol in enumerate(recognised, 1):
        current = np.empty_like(previous)
        current[0] = i
        current[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (reference_array != symbol))
        previous = np.minimum.accumulate(current - steps) + steps  # insertions, left to right
    return previous


def match_transcript(recognised: list[str], transcript: list[str], pronounce: Callable[[str], list[str]]) -> int:
    """How many transcript words (from its start) an utterance covers, matched by phones.

    ``recognised`` are the phones recognised in the utterance, ``transcript`` the transcript words not yet
    placed and ``pronounce(word)`` their phones. Phones rather than words: a misrecognised word ("they"
    for "lay") still shares most of its sounds. Returns the word count whose phones are nearest (ties:
    the longer).
    """
    if not recognised:
        return 0
    reference: list[str] = []
    ends = [0]  # phone count at each word boundary
    for word in transcript:
        if len(reference) > 2 * len(recognised) + 20:
            break
        reference += pronounce(word)
        ends.append(len(reference))
    distances = _prefix_distances(recognised, reference)[ends]
    return int(np.flatnonzero(distances == distances.min()).max())
