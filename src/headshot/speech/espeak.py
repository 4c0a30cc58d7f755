"""eSpeak NG through ctypes: IPA phonemes of text, and eSpeak's own speech with phoneme timings.

The library and its data come from the ``espeakng-loader`` wheel (:func:`headshot.assets.espeak_paths`);
no system eSpeak is used. eSpeak NG is GPL-3.0: it is loaded at run time from that separate wheel, and no
eSpeak code is part of headshot.

The library is one process-wide state machine (current voice, rate, callback), so every call goes
through :func:`engine`, whose methods hold one lock for the whole of an operation. Initialisation is
cheap (about 1 ms) and happens once per process.
"""

from __future__ import annotations

import ctypes
import functools
import threading
import unicodedata
from dataclasses import dataclass

import numpy as np

from ..errors import InputError, MissingModelError
from .timeline import PAUSE, Phone

# speak_lib.h constants
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_INITIALIZE_PHONEME_IPA = 0x0002
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # end the last clause with its pause, as if more text followed
_POS_CHARACTER = 1
_PHONEMES_IPA = 0x02
_RATE = 1  # espeak_PARAMETER espeakRATE, words per minute
EVENT_LIST_TERMINATED = 0
EVENT_WORD = 1
EVENT_SENTENCE = 2
EVENT_END = 5
EVENT_PHONEME = 7

DEFAULT_RATE_WPM = 175  # eSpeak's default speaking rate
MIN_RATE_WPM, MAX_RATE_WPM = 80, 450  # the range eSpeak accepts without the sonic speed-up library

PHONEME_SEPARATOR = "|"  # put between the phonemes of a word by text_to_phonemes; never part of an IPA symbol

# Language codes that do not pick eSpeak's highest-priority voice: English defaults to American, like
# the neural English voice, so that switching voices does not switch accents.
_LANGUAGE_DEFAULTS = {"en": "gmw/en-US"}


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # characters, 1-based
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # milliseconds
        ("sample", ctypes.c_int),  # samples from the start of the espeak_Synth call
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # union {int number; const char *name; char string[8]}
    ]


class _Voice(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char_p),
        ("languages", ctypes.c_void_p),  # (priority byte, NUL-terminated code) pairs, then a 0 byte
        ("identifier", ctypes.c_char_p),
        ("gender", ctypes.c_ubyte),
        ("age", ctypes.c_ubyte),
        ("variant", ctypes.c_ubyte),
        ("xx1", ctypes.c_ubyte),
        ("score", ctypes.c_int),
        ("spare", ctypes.c_void_p),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))


@dataclass(frozen=True)
class EspeakVoice:
    """One eSpeak NG voice file: ``identifier`` (``roa/es``), display ``name``, and ``languages`` as
    (priority, code) pairs, a lower priority being a better match."""

    identifier: str
    name: str
    languages: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Event:
    """One synthesis event: ``kind`` (``EVENT_PHONEME``, ``EVENT_WORD`` ...), ``sample`` (position in the
    audio, samples), ``text_position`` (1-based character index in the text, for words and phonemes),
    ``phoneme`` (IPA with eSpeak's stress mark; ``""`` for pauses and for the few phonemes eSpeak has no
    IPA for) and ``mnemonic`` (eSpeak's own name: pauses start with ``_``; ``""`` if unknown)."""

    kind: int
    sample: int
    text_position: int
    phoneme: str = ""
    mnemonic: str = ""


@dataclass(frozen=True)
class Clause:
    """A clause as eSpeak reads it: ``phonemes`` (IPA; words separated by spaces, the phonemes of a word by
    :data:`PHONEME_SEPARATOR`, stress marks before the stressed vowel) and the ``punctuation`` that ends it
    (one of ``.,?!;:`` or ``""``)."""

    phonemes: str
    punctuation: str


def _read_languages(pointer: int) -> tuple[tuple[int, str], ...]:
    """Decode eSpeak's (priority, code) list; a lower priority number is a better match."""
    pairs = []
    while pointer:
        priority = ctypes.string_at(pointer, 1)[0]
        if priority == 0:
            break
        code = ctypes.string_at(pointer + 1)
        pairs.append((priority, code.decode("utf-8", "replace")))
        pointer += 1 + len(code) + 1
    return tuple(pairs)


# clause-ending punctuation of other scripts, as the ASCII mark the Piper voices were trained with
_PUNCTUATION = {
    "。": ".", "．": ".", "！": "!", "？": "?", "，": ",", "、": ",", "；": ";", "：": ":", "।": ".", "॥": ".",
}


def _clause_punctuation(consumed: str) -> str:
    """The punctuation that ended a clause, from the text eSpeak consumed for it.

    eSpeak reads one character past the clause end (the first of the next clause, or the final NUL), so
    the terminator is the last non-space character before that look-ahead.
    """
    head = consumed[:-1].rstrip()
    mark = _PUNCTUATION.get(head[-1:], head[-1:])
    return mark if mark and mark in ".,?!;:" else ""


class Espeak:
    """The loaded library. Use :func:`engine` rather than constructing one."""

    def __init__(self, library_path: str, data_path: str) -> None:
        try:
            self._lib = ctypes.CDLL(library_path)
        except OSError as error:
            raise MissingModelError(f"cannot load eSpeak NG from {library_path}: {error}") from None
        lib = self._lib
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_TextToPhonemes.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_int, ctypes.c_int]
        lib.espeak_TextToPhonemes.restype = ctypes.c_char_p
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
            ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_ListVoices.argtypes = [ctypes.POINTER(_Voice)]
        lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        lib.espeak_ng_SetPhonemeEvents.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetPhonemeEvents.restype = ctypes.c_int

        # espeak_Initialize takes either the folder holding espeak-ng-data or that folder itself.
        options = _INITIALIZE_PHONEME_EVENTS | _INITIALIZE_PHONEME_IPA | _INITIALIZE_DONT_EXIT
        sample_rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), options)
        if sample_rate <= 0:
            raise MissingModelError(f"eSpeak NG failed to initialise with data at {data_path}")
        self.sample_rate = int(sample_rate)
        self._lock = threading.RLock()
        self._voice: str | None = None
        self._chunks: list[bytes] = []
        self._events: list[Event] = []
        self._keep_audio = True
        self._callback = _SynthCallback(self._on_audio)  # kept referenced: eSpeak holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        self.voices = self._list_voices(None)
        self.variants = tuple(v.identifier.split("/", 1)[-1] for v in self._list_voices("variant"))
        self._language_voice = self._language_table()

    # -- voices ----------------------------------------------------------------------------------------

    def _list_voices(self, language: str | None) -> tuple[EspeakVoice, ...]:
        spec = None
        if language is not None:
            spec_struct = _Voice()
            code = ctypes.create_string_buffer(language.encode())
            spec_struct.languages = ctypes.cast(code, ctypes.c_void_p)
            spec = ctypes.byref(spec_struct)
        voices = []
        with self._lock:
            array = self._lib.espeak_ListVoices(spec)
            index = 0
            while array[index]:
                voice = array[index].contents
                voices.append(
                    EspeakVoice(
                        identifier=(voice.identifier or b"").decode("utf-8", "replace"),
                        name=(voice.name or b"").decode("utf-8", "replace"),
                        languages=_read_languages(voice.languages or 0),
                    )
                )
                index += 1
        return tuple(voices)

    def _language_table(self) -> dict[str, str]:
        """Language code → identifier of the voice eSpeak prefers for it."""
        best: dict[str, tuple[int, bool, str]] = {}
        for voice in self.voices:
            for priority, code in voice.languages:
                # on a tie, the voice named after the code (roa/fr for fr) wins over its regional siblings
                code = code.lower()
                key = (priority, voice.identifier.rsplit("/", 1)[-1].lower() != code, voice.identifier)
                if code not in best or key < best[code]:
                    best[code] = key
        table = {code: identifier for code, (_, _, identifier) in best.items()}
        table.update(_LANGUAGE_DEFAULTS)
        return table

    @property
    def languages(self) -> tuple[str, ...]:
        """Every language code eSpeak has a voice for, sorted."""
        return tuple(sorted(self._language_voice))

    def voice_for(self, language: str) -> str:
        """The voice identifier for a language code (``"es"``, ``"pt-BR"``, ``"zh"`` ...).

        Raises :class:`InputError` naming the supported codes when eSpeak has no voice for it.
        """
        code = language.strip().lower().replace("_", "-")
        if code in self._language_voice:
            return self._language_voice[code]
        base = code.split("-", 1)[0]
        if base in self._language_voice and "-" in code:
            return self._language_voice[base]
        raise InputError(f"unknown language {language!r}; supported: {', '.join(self.languages)}")

    # -- phonemes ------------------------------------------------------------------------------------

    def _set_voice(self, voice: str) -> None:
        if voice != self._voice:
            if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise InputError(f"eSpeak NG has no voice {voice!r}")
            self._voice = voice

    def text_to_phonemes(self, text: str, voice: str) -> list[Clause]:
        """IPA phonemes of ``text`` read by ``voice`` (an identifier from :meth:`voice_for`), clause by clause.

        Language-switch marks that eSpeak inserts for foreign words (``(fr)``) are removed. Linear in the
        length of the text.
        """
        raw = text.replace("\0", " ").encode("utf-8") + b"\0"
        buffer = ctypes.create_string_buffer(raw, len(raw))
        base = ctypes.addressof(buffer)
        pointer = ctypes.c_void_p(base)
        mode = _PHONEMES_IPA | (ord(PHONEME_SEPARATOR) << 8)
        clauses = []
        with self._lock:
            self._set_voice(voice)
            while pointer.value:
                start = pointer.value - base
                phonemes = self._lib.espeak_TextToPhonemes(ctypes.byref(pointer), _CHARS_UTF8, mode)
                end = pointer.value - base if pointer.value else len(raw)
                consumed = raw[start:end].decode("utf-8", "replace")
                phonemes = _strip_language_switches((phonemes or b"").decode("utf-8", "replace")).strip()
                punctuation = _clause_punctuation(consumed)
                if phonemes or punctuation:
                    clauses.append(Clause(phonemes, punctuation))
        return clauses

    # -- speech --------------------------------------------------------------------------------------

    def _on_audio(self, wav, count, events) -> int:
        if count > 0 and wav and self._keep_audio:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        index = 0
        while events and events[index].type != EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type in (EVENT_PHONEME, EVENT_WORD, EVENT_SENTENCE, EVENT_END):
                phoneme = ""
                if event.type == EVENT_PHONEME:
                    phoneme = bytes(event.id).split(b"\0", 1)[0].decode("utf-8", "ignore")
                self._events.append(Event(event.type, int(event.sample), int(event.text_position), phoneme))
            index += 1
        return 0  # continue

    def synthesize(self, text: str, voice: str, rate_wpm: int = DEFAULT_RATE_WPM) -> tuple[np.ndarray, list[Event]]:
        """Speak ``text`` with eSpeak's own voice.

        Args:
            text: the text (plain, not SSML).
            voice: a voice identifier (:meth:`voice_for`), optionally with ``+variant``.
            rate_wpm: words per minute, clamped to eSpeak's 80..450.

        Returns:
            (int16 mono samples at :attr:`sample_rate`, events in audio order). The audio ends with the
            pause of its last clause.
        """
        raw = text.replace("\0", " ").encode("utf-8") + b"\0"
        rate = int(min(max(round(rate_wpm), MIN_RATE_WPM), MAX_RATE_WPM))
        with self._lock:
            self._set_voice(voice)
            self._lib.espeak_SetParameter(_RATE, rate, 0)
            samples, events = self._synth(raw)
            # eSpeak reports a phoneme either as IPA or as its mnemonic; IPA is empty for pauses and for a
            # few short sounds (a transitional schwa "@-"), and only the mnemonic tells them apart. Synthesis
            # is ~300x real time, so a second pass for the mnemonics is cheap.
            self._lib.espeak_ng_SetPhonemeEvents(1, 0)
            try:
                _, named = self._synth(raw, keep_audio=False)
            finally:
                self._lib.espeak_ng_SetPhonemeEvents(1, 1)
        ipa = [index for index, event in enumerate(events) if event.kind == EVENT_PHONEME]
        mnemonics = [event for event in named if event.kind == EVENT_PHONEME]
        # the two passes agree phoneme for phoneme; positions may differ by a few samples (eSpeak's
        # random jitter), so they are matched by order, within 20 ms
        tolerance = self.sample_rate // 50
        pairs = list(zip(ipa, mnemonics))
        if len(ipa) == len(mnemonics) and all(abs(events[i].sample - m.sample) <= tolerance for i, m in pairs):
            for index, mnemonic in pairs:
                event = events[index]
                events[index] = Event(event.kind, event.sample, event.text_position, event.phoneme, mnemonic.phoneme)
        return samples, events

    def speak(self, text: str, voice: str, rate: float = 1.0) -> tuple[np.ndarray, list[Phone]]:
        """Speak ``text`` and time its phonemes.

        Args:
            text: the text (plain, not SSML).
            voice: a voice identifier (:meth:`voice_for`), optionally with ``+variant``.
            rate: speed factor (1.0 = eSpeak's 175 words per minute).

        Returns:
            (float32 waveform in [-1, 1] at :attr:`sample_rate`, phones covering it exactly, in IPA, with
            ``word`` counting eSpeak's words from 0).
        """
        samples, events = self.synthesize(text, voice, DEFAULT_RATE_WPM * rate)
        return samples.astype(np.float32) / 32768.0, events_to_phones(events, len(samples), self.sample_rate)

    def _synth(self, raw: bytes, keep_audio: bool = True) -> tuple[np.ndarray, list[Event]]:
        self._chunks, self._events, self._keep_audio = [], [], keep_audio
        try:
            status = self._lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None)
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed with status {status}")
            return np.frombuffer(b"".join(self._chunks), dtype=np.int16).copy(), self._events
        finally:
            self._chunks, self._events = [], []


# eSpeak's ASCII names where a voice defines no IPA (Mandarin's retroflexes and aspirates), and the IPA of
# the sounds it names only by mnemonic
_ASCII_TO_IPA = {
    "s.": "ʂ", "z.": "ʐ", "ts.": "ʈʂ", "ts.h": "ʈʂʰ", "i.": "ɨ", "tsh": "tsʰ", "tɕh": "tɕʰ",
    "ph": "pʰ", "th": "tʰ", "kh": "kʰ",
}
_MNEMONIC_TO_IPA = {"@-": "ə", "@": "ə", "3": "ɚ"}


def events_to_phones(events: list[Event], n_samples: int, sample_rate: int) -> list[Phone]:
    """The phone timeline of a synthesis: each phoneme lasts from its event to the next phoneme or pause,
    pauses (eSpeak's ``_`` phonemes, clause ends, the lead-in) are merged, and the phones cover
    ``n_samples`` exactly. Phonemes without IPA join the phone before them; a lone modifier (``ʲ``) is
    appended to it."""
    marks = []  # [sample, symbol, stress, word]: where each phoneme (or pause) begins
    word = -1
    for event in events:
        if event.kind == EVENT_WORD:
            word += 1
        elif event.kind == EVENT_PHONEME:
            symbol, stress = _ipa_symbol(event.phoneme, event.mnemonic)
            if symbol is None:
                continue
            if _is_modifier(symbol) and marks and marks[-1][1] != PAUSE:
                marks[-1][1] += symbol
                continue
            marks.append([event.sample, symbol, stress, max(word, 0) if symbol != PAUSE else -1])
        elif event.kind == EVENT_END:
            marks.append([event.sample, PAUSE, 0, -1])
    phones: list[Phone] = []
    position = 0
    symbol, stress, word = PAUSE, 0, -1  # before the first phoneme
    for sample, next_symbol, next_stress, next_word in marks + [[n_samples, PAUSE, 0, -1]]:
        sample = min(max(sample, position), n_samples)
        if sample > position:
            if symbol == PAUSE and phones and phones[-1].is_pause:
                phones[-1] = Phone(PAUSE, phones[-1].start, sample / sample_rate)
            else:
                phones.append(Phone(symbol, position / sample_rate, sample / sample_rate, stress, word))
            position = sample
        symbol, stress, word = next_symbol, next_stress, next_word
    return phones


def _ipa_symbol(phoneme: str, mnemonic: str) -> tuple[str | None, int]:
    """(IPA symbol, stress) of one phoneme event; ``"_"`` for a pause, ``None`` for a sound with no IPA."""
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


def _strip_language_switches(phonemes: str) -> str:
    """Remove eSpeak's ``(en)`` / ``(fr)`` language-switch marks."""
    out, depth = [], 0
    for char in phonemes:
        if char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out)


_ENGINE_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _engine() -> Espeak:
    from ..assets import espeak_paths

    library, data = espeak_paths()
    return Espeak(str(library), str(data))


def engine() -> Espeak:
    """The process-wide eSpeak NG instance (loaded on first use)."""
    with _ENGINE_LOCK:
        return _engine()
