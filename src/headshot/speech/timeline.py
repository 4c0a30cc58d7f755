"""Phoneme timelines: what is said when, the contract between speech analysis and speech motion.

Two alphabets meet here: eSpeak NG (and the Piper voice, which speaks eSpeak's phonemes) gives IPA;
PocketSphinx gives CMU ARPAbet (``AA``, ``B``, ``SIL`` ...). A timeline keeps the symbols as produced
and names its alphabet; :mod:`headshot.speech.visemes` maps both to mouth shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ALPHABETS = ("ipa", "arpabet")
PAUSE = "_"  # the symbol of silence in either alphabet


@dataclass(frozen=True)
class Phone:
    """One phoneme (or a pause) in time.

    Attributes:
        symbol: the phoneme in the timeline's alphabet, ``"_"`` for silence.
        start: seconds from the start of the audio.
        end: seconds from the start of the audio (``end >= start``).
        stress: 0 unstressed / unknown, 1 primary, 2 secondary stress of the syllable it belongs to.
        word: index of the word it belongs to in the text or transcript, ``-1`` for pauses / unknown.
    """

    symbol: str
    start: float
    end: float
    stress: int = 0
    word: int = -1

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def is_pause(self) -> bool:
        return self.symbol == PAUSE


@dataclass
class Speech:
    """Audio with what is said in it.

    Attributes:
        samples: mono float32 waveform in [-1, 1].
        sample_rate: samples per second.
        phones: the phoneme timeline, sorted by start, covering the audio (pauses included).
        alphabet: ``"ipa"`` or ``"arpabet"``.
        language: a language code (``"en"``, ``"es"`` ...).
        voice: the voice or recogniser that made the timeline.
    """

    samples: np.ndarray
    sample_rate: int
    phones: list[Phone]
    alphabet: str = "ipa"
    language: str = "en"
    voice: str = ""
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.alphabet not in ALPHABETS:
            raise ValueError(f"alphabet must be one of {ALPHABETS}, got {self.alphabet!r}")

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def led(phones: list[Phone], lead: float) -> list[Phone]:
    """The timeline ``lead`` seconds earlier (times clipped at 0): what the mouth does when it leads the
    sound. Lips move before the acoustic events they make (speech opening precedes the voice:
    Chandrasekaran et al., "The natural statistics of audiovisual speech", PLoS Comput Biol 2009), and a
    recogniser's boundaries sit on the acoustics, so a recording's mouth is played from its timeline led
    by :data:`headshot.speech.learned_mouth.RECORDING_LEAD`."""
    if lead <= 0:
        return list(phones)
    return [Phone(p.symbol, max(p.start - lead, 0.0), max(p.end - lead, 0.0), p.stress, p.word) for p in phones]
