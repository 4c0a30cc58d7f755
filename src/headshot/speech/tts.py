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
import os
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .timeline import PAUSE, Phone, Speech
from .voices import VoiceChoice, choose_voice

MIN_RATE, MAX_RATE = 0.25, 4.0
SENTENCE_PAUSE = 0.2  # seconds of silence the neural voice leaves between sentences (Piper's default)
MAX_SENTENCE_CHARS = 600  # longer "sentences" are cut at a comma or a space
MAX_UTTERANCE_PHONEMES = 400  # longest phoneme sequence sent to the network at once (attention is O(n²))

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
        window = text[start + max_chars // 2 : start + max_chars]
        cut = max(window.rfind(", "), window.rfind("，"))
        cut = cut + 1 if cut >= 0 else window.rfind(" ")
        cut = start + max_chars // 2 + cut + 1 if cut >= 0 else start + max_chars
        _keep(text[start:cut], start, pieces)
        start = cut
    _keep(text[start:end], start, pieces)


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
    if not isinstance(rate, (int, float)) or not math.isfinite(rate) or not MIN_RATE <= rate <= MAX_RATE:
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
        ``metadata["start"]``, its offset in seconds from the start of the whole speech. The neural voice
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
    return _stream(pieces, choice, language, float(rate))


def _stream(pieces: list[tuple[int, str]], choice: VoiceChoice, language: str, rate: float) -> Iterator[Speech]:
    speak = _piper_sentences if choice.kind == "piper" else _espeak_sentences
    start = 0.0
    first_word = 0  # words spoken so far: each sentence numbers its own words from 0
    for index, (_, piece) in enumerate(pieces):
        last = index == len(pieces) - 1
        for samples, sample_rate, phones in speak(piece, choice, rate, last):
            phones = [Phone(p.symbol, p.start, p.end, p.stress, p.word + first_word if p.word >= 0 else -1) for p in phones]
            first_word = max([first_word - 1] + [p.word for p in phones]) + 1
            speech = Speech(samples, sample_rate, phones, "ipa", language, choice.name, {"start": start, "text": piece})
            start += speech.seconds
            yield speech


def _piper_sentences(piece: str, choice: VoiceChoice, rate: float, last: bool):
    from .espeak import engine
    from .piper import joe, utterance_tokens

    voice = joe()
    clauses = engine().text_to_phonemes(piece, voice.espeak_voice)
    groups, group, size = [], [], 0
    for clause in clauses:  # utterances: whole sentences, or runs of clauses short enough for the network
        group.append(clause)
        size += len(clause.phonemes)
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
    from .espeak import DEFAULT_RATE_WPM, EVENT_END, EVENT_PHONEME, EVENT_WORD, engine

    espeak = engine()
    pcm, events = espeak.synthesize(piece, choice.espeak_voice, DEFAULT_RATE_WPM * rate)
    if len(pcm) == 0:
        return
    sample_rate = espeak.sample_rate
    n = len(pcm)
    marks = []  # [sample, symbol, stress, word]: where each phoneme (or pause) begins
    word = -1
    for event in events:
        if event.kind == EVENT_WORD:
            word += 1
        elif event.kind == EVENT_PHONEME:
            symbol, stress = _espeak_symbol(event.phoneme, event.mnemonic)
            if symbol is None:
                continue  # a sound eSpeak has no IPA for: it stays with the phone before it
            if _is_modifier(symbol) and marks and marks[-1][1] != PAUSE:
                marks[-1][1] += symbol  # a lone ʲ or ː modifies the phone before it
                continue
            marks.append([event.sample, symbol, stress, max(word, 0) if symbol != PAUSE else -1])
        elif event.kind == EVENT_END:
            marks.append([event.sample, PAUSE, 0, -1])
    phones: list[Phone] = []
    position = 0
    symbol, stress, word = PAUSE, 0, -1  # before the first phoneme
    for sample, next_symbol, next_stress, next_word in marks + [(n, PAUSE, 0, -1)]:
        sample = min(max(sample, position), n)
        if sample > position:
            if phones and symbol == PAUSE and phones[-1].is_pause:
                phones[-1] = Phone(PAUSE, phones[-1].start, sample / sample_rate)
            else:
                phones.append(Phone(symbol, position / sample_rate, sample / sample_rate, stress, word))
            position = sample
        symbol, stress, word = next_symbol, next_stress, next_word
    yield pcm.astype(np.float32) / 32768.0, sample_rate, phones


# eSpeak's ASCII names where a voice defines no IPA (Mandarin's retroflexes and aspirates), and the IPA of
# the sounds it names only by mnemonic
_ASCII_TO_IPA = {
    "s.": "ʂ", "z.": "ʐ", "ts.": "ʈʂ", "ts.h": "ʈʂʰ", "i.": "ɨ", "tsh": "tsʰ", "tɕh": "tɕʰ",
    "ph": "pʰ", "th": "tʰ", "kh": "kʰ",
}
_MNEMONIC_TO_IPA = {"@-": "ə", "@": "ə", "3": "ɚ"}


def _espeak_symbol(phoneme: str, mnemonic: str) -> tuple[str | None, int]:
    """(IPA symbol, stress) of one eSpeak phoneme event; ``"_"`` for a pause, ``None`` to merge it into the
    phone before it."""
    stress = 1 if "ˈ" in phoneme else 2 if "ˌ" in phoneme else 0
    symbol = phoneme.replace("ˈ", "").replace("ˌ", "").strip()
    if mnemonic.startswith("_") or (not symbol and not mnemonic):
        return PAUSE, 0
    if not symbol:
        return _MNEMONIC_TO_IPA.get(mnemonic.lstrip("',")), stress
    symbol = symbol.replace("-", "")  # eSpeak's mark of a reduced vowel (French "ə-")
    return _ASCII_TO_IPA.get(symbol, symbol) or None, stress


def _is_modifier(symbol: str) -> bool:
    return all(unicodedata.category(char) in ("Lm", "Mn", "Sk") for char in symbol)


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
                moved = Phone(PAUSE, phones[-1].start, moved.end)
                phones[-1] = moved
            else:
                phones.append(moved)
        offset += len(speech.samples)
    samples = np.concatenate([speech.samples for speech in sentences]).astype(np.float32, copy=False)
    first = sentences[0]
    return Speech(samples, sample_rate, phones, first.alphabet, first.language, first.voice, {"start": 0.0})
