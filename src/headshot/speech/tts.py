"""Text to speech with a phoneme timeline: ``synthesize(text, language, voice, rate) -> Speech``.

English defaults to the Piper "joe" neural voice, every other language to eSpeak NG's own voice (see
:mod:`headshot.speech.voices`). Either way the result is a :class:`~headshot.speech.timeline.Speech`
whose IPA phones cover the waveform exactly, pauses included.

Text is spoken sentence by sentence: :func:`synthesize_stream` yields one ``Speech`` per sentence
(memory and latency independent of the text's length); :func:`synthesize` joins them.

Text is a ``str``; decoding bytes is the caller's job (:func:`read_text_file` reads a UTF-8 file with a
one-line error for anything else).
"""

from __future__ import annotations

import math
import numbers
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from .timeline import PAUSE, Phone, Speech
from .voices import VoiceChoice, choose_voice

MIN_RATE, MAX_RATE = 0.25, 4.0
SENTENCE_PAUSE = 0.2  # seconds of silence the neural voice leaves between sentences (Piper's default)
MAX_SENTENCE_CHARS = 600  # longer "sentences" are cut at a comma or a space
MAX_UTTERANCE_PHONEMES = 400  # phoneme code points sent to the network at once, about (attention is O(n²))

_SENTENCE_END = re.compile(
    r"[.!?…]+[\"'”’»)\]]*\s+"  # Latin-script sentence end, then whitespace
    r"|[。！？；।॥]+[\"'”’」』)]*\s*"  # CJK and Devanagari full stops need no space after them
    r"|\n[ \t]*\n\s*"  # a blank line
)


def read_text_file(path: str | os.PathLike) -> str:
    """The text of a UTF-8 file (a byte-order mark is dropped).

    Raises:
        InputError: the file is missing, unreadable, or not UTF-8.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"text file not found: {path}") from None
    except OSError as error:
        raise InputError(f"cannot read text file {path}: {error.strerror or error}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(f"{path} is not UTF-8 text (invalid byte at offset {error.start}); save it as UTF-8") from None


def split_sentences(text: str, max_chars: int = MAX_SENTENCE_CHARS) -> list[tuple[int, str]]:
    """Cut text into sentences of at most ``max_chars`` characters, in one linear pass.

    Returns:
        (character offset in ``text``, sentence) pairs, skipping pieces with nothing to say (no letter or
        digit). Sentences end at ``.!?…`` followed by whitespace, at ``。！？।`` and at blank lines;
        longer ones are cut at their last comma or space before the limit.
    """
    pieces = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        _add_pieces(text, start, match.end(), max_chars, pieces)
        start = match.end()
    _add_pieces(text, start, len(text), max_chars, pieces)
    return pieces


def _add_pieces(text: str, start: int, end: int, max_chars: int, pieces: list) -> None:
    while end - start > max_chars:
        cut = _cut(text, start, max_chars)
        _keep(text[start:cut], start, pieces)
        start = cut
    _keep(text[start:end], start, pieces)


def _cut(text: str, start: int, max_chars: int) -> int:
    """Where a piece starting at ``start`` that is too long ends: after the last comma in the second half
    of its allowance, else after the last space there, else at the allowance."""
    low = start + max_chars // 2
    window = text[low : start + max_chars]
    for marks in ((", ", "，", "、"), (" ",)):
        ends = [window.rfind(mark) + len(mark) for mark in marks if mark in window]
        if ends:
            return low + max(ends)
    return start + max_chars


def _keep(piece: str, offset: int, pieces: list) -> None:
    if any(char.isalnum() for char in piece):
        pieces.append((offset, piece))


def _clean(text: str) -> str:
    """Control characters (NUL included) become spaces; line breaks and tabs stay."""
    return "".join(" " if unicodedata.category(char) == "Cc" and char not in "\n\t\r" else char for char in text)


def _check_request(text: str, rate: float) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be str, not {type(text).__name__} (decode bytes first, e.g. read_text_file)")
    if not any(char.isalnum() for char in text):
        what = "empty" if not text.strip() else "only punctuation or symbols"
        raise InputError(f"the text is {what}: nothing to say")
    if not isinstance(rate, numbers.Real) or not math.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
        raise InputError(f"rate must be between {MIN_RATE} and {MAX_RATE} (1.0 = normal speed), got {rate!r}")


def synthesize_stream(text: str, language: str = "en", voice: str | None = None, rate: float = 1.0) -> Iterator[Speech]:
    """Speak text sentence by sentence.

    Args:
        text: what to say (``str``; any length: sentences are synthesised one at a time).
        language: a language code eSpeak NG knows (``en``, ``es``, ``fr``, ``de``, ``it``, ``pt``, ``pt-BR``,
            ``ru``, ``hi``, ``zh`` ...).
        voice: ``None`` (``joe`` for English, ``espeak`` otherwise), ``"joe"``, ``"espeak"`` or
            ``"espeak+VARIANT"`` (see :func:`~headshot.speech.voices.list_voices`).
        rate: speed factor, 0.25..4 (2.0 = twice as fast; eSpeak caps at about 0.45..2.5).

    Returns:
        An iterator of :class:`Speech`, one per sentence, each with its own phones from 0 (IPA; pauses
        ``"_"``; ``Phone.word`` counts the words as spoken, from the start of the text: eSpeak NG's
        words, so a number may be several words and Chinese has one per word it reads) and
        ``metadata``: ``start`` (its offset in seconds from the start of the whole speech), ``text`` (the
        sentence) and ``text_offset`` (where the sentence starts in ``text``, characters). The neural voice
        ends every sentence but the last with :data:`SENTENCE_PAUSE` (scaled by ``rate``) of silence;
        eSpeak ends each with its own clause pause.

    Raises:
        InputError: empty / punctuation-only text, a rate out of range, an unknown language or voice
            (raised here, before the first sentence is spoken).
    """
    _check_request(text, rate)
    choice = choose_voice(language, voice)
    pieces = split_sentences(_clean(text))
    if not pieces:
        raise InputError("the text has nothing to say")
    return _stream(pieces, choice, language.strip(), float(rate))


def _stream(pieces: list[tuple[int, str]], choice: VoiceChoice, language: str, rate: float) -> Iterator[Speech]:
    speak = _piper_sentences if choice.kind == "piper" else _espeak_sentences
    start = 0.0
    first_word = 0  # words spoken so far: each sentence numbers its own words from 0
    for index, (offset, piece) in enumerate(pieces):
        last = index == len(pieces) - 1
        for samples, sample_rate, phones in speak(piece, choice, rate, last):
            phones = [replace(p, word=p.word + first_word) if p.word >= 0 else p for p in phones]
            first_word = max([first_word - 1] + [p.word for p in phones]) + 1
            metadata = {"start": start, "text": piece, "text_offset": offset}
            speech = Speech(samples, sample_rate, phones, "ipa", language, choice.name, metadata)
            start += speech.seconds
            yield speech


def _piper_sentences(piece: str, choice: VoiceChoice, rate: float, last: bool):
    from .espeak import PHONEME_SEPARATOR, engine
    from .piper import joe, utterance_tokens

    voice = joe()
    clauses = engine().text_to_phonemes(piece, voice.espeak_voice)
    groups, group, size = [], [], 0
    for clause in clauses:  # utterances: whole sentences, or runs of clauses short enough for the network
        group.append(clause)
        size += len(clause.phonemes.replace(PHONEME_SEPARATOR, ""))
        if clause.punctuation in (".", "?", "!") or size >= MAX_UTTERANCE_PHONEMES:
            groups.append(group)
            group, size = [], 0
    if group:
        groups.append(group)
    groups = [g for g in groups if any(clause.phonemes for clause in g)]
    first = 0
    for index, group in enumerate(groups):
        tokens = utterance_tokens(group, first)
        first += sum(len(clause.phonemes.split()) for clause in group)
        samples, phones = voice.speak(tokens, rate)
        if not (last and index == len(groups) - 1):
            samples, phones = _add_silence(samples, phones, voice.sample_rate, SENTENCE_PAUSE / rate)
        yield samples, voice.sample_rate, phones


def _add_silence(samples: np.ndarray, phones: list[Phone], sample_rate: int, seconds: float):
    extra = int(round(seconds * sample_rate))
    if extra <= 0:
        return samples, phones
    end = (len(samples) + extra) / sample_rate
    samples = np.concatenate([samples, np.zeros(extra, np.float32)])
    if phones and phones[-1].is_pause:
        phones = phones[:-1] + [Phone(PAUSE, phones[-1].start, end)]
    else:
        phones = phones + [Phone(PAUSE, phones[-1].end if phones else 0.0, end)]
    return samples, phones


def _espeak_sentences(piece: str, choice: VoiceChoice, rate: float, last: bool):
    from .espeak import engine

    espeak = engine()
    samples, phones = espeak.speak(piece, choice.espeak_voice, rate)
    if len(samples):
        yield samples, espeak.sample_rate, phones


def synthesize(text: str, language: str = "en", voice: str | None = None, rate: float = 1.0) -> Speech:
    """Speak text: one :class:`Speech` for all of it (see :func:`synthesize_stream` for the arguments).

    The whole waveform is held in memory (about 5 MB per minute of speech); stream long texts instead.

    Example:
        >>> speech = synthesize("Hello world.")  # doctest: +SKIP
        >>> speech.sample_rate, speech.phones[1].symbol  # doctest: +SKIP
        (22050, 'h')
    """
    return concatenate(synthesize_stream(text, language, voice, rate))


def concatenate(sentences) -> Speech:
    """Join consecutive :class:`Speech` pieces (same sample rate) into one, shifting their phones."""
    sentences = list(sentences)
    if not sentences:
        raise ValueError("nothing to concatenate")
    sample_rate = sentences[0].sample_rate
    phones: list[Phone] = []
    offset = 0
    for speech in sentences:
        if speech.sample_rate != sample_rate:
            raise ValueError("cannot concatenate speech of different sample rates")
        shift = offset / sample_rate
        for phone in speech.phones:
            moved = Phone(phone.symbol, phone.start + shift, phone.end + shift, phone.stress, phone.word)
            if phones and moved.is_pause and phones[-1].is_pause:
                phones[-1] = Phone(PAUSE, phones[-1].start, moved.end)
            else:
                phones.append(moved)
        offset += len(speech.samples)
    samples = np.concatenate([speech.samples for speech in sentences]).astype(np.float32, copy=False)
    first = sentences[0]
    return Speech(samples, sample_rate, phones, first.alphabet, first.language, first.voice, {"start": 0.0})
