"""Text to a speech track on disk: the waveform streamed into a WAV file, only the phones kept in memory.

``headshot say`` needs the speech twice: its phone timeline makes the face move, its sound becomes the
video's audio track. :func:`speak_to_wav` synthesises sentence by sentence
(:func:`headshot.speech.tts.synthesize_stream`), appends each sentence's samples to a 16-bit mono WAV as
soon as it is made, and keeps only the phones (a few dozen bytes each): a 100 kB text (about 1.5 hours
of speech) holds one sentence's waveform at a time.
"""

from __future__ import annotations

import hashlib
import os
import wave
from pathlib import Path
from typing import Callable

import numpy as np

from .timeline import PAUSE, Phone, Speech
from .tts import synthesize_stream


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of a text's UTF-8 bytes: what the content credentials record instead of the text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _append_phones(phones: list[Phone], new: list[Phone], shift: float) -> None:
    """Add ``new`` phones moved by ``shift`` seconds, merging a pause that continues the last one."""
    for phone in new:
        moved = Phone(phone.symbol, phone.start + shift, phone.end + shift, phone.stress, phone.word)
        if phones and moved.is_pause and phones[-1].is_pause:
            phones[-1] = Phone(PAUSE, phones[-1].start, moved.end)
        else:
            phones.append(moved)


def speak_to_wav(text: str, path: str | os.PathLike, language: str = "en", voice: str | None = None,
                 rate: float = 1.0, progress: Callable[[int, int], None] | None = None) -> Speech:
    """Speak ``text`` into a mono 16-bit WAV file at ``path``; return its phone timeline.

    Args:
        text: what to say (any length; see :func:`~headshot.speech.tts.synthesize_stream`).
        path: the WAV file to write (overwritten).
        language, voice, rate: as :func:`~headshot.speech.tts.synthesize_stream`.
        progress: ``progress(characters_done, characters_total)`` after each sentence.

    Returns a :class:`Speech` whose ``samples`` are empty (the waveform is in the file) and whose phones
    cover the file from 0 to its end; ``metadata``: ``seconds`` (length of the audio), ``sentences``,
    ``path``. Raises :class:`~headshot.errors.InputError` for empty or punctuation-only text, an unknown
    language or voice, or a rate out of range, before anything is written.
    """
    sentences = synthesize_stream(text, language, voice, rate)  # checks the request before any work
    phones: list[Phone] = []
    samples_written = 0
    sample_rate = None
    count = 0
    name = ""
    with wave.open(str(path), "wb") as wav:
        for sentence in sentences:
            if sample_rate is None:
                sample_rate, name = sentence.sample_rate, sentence.voice
                wav.setnchannels(1)
                wav.setsampwidth(2)
                wav.setframerate(sample_rate)
            elif sentence.sample_rate != sample_rate:  # one voice speaks all of a text
                raise RuntimeError("sentences of one text came at different sample rates")
            pcm = np.clip(np.asarray(sentence.samples, np.float32), -1.0, 1.0)
            wav.writeframes((pcm * 32767.0).round().astype("<i2").tobytes())
            _append_phones(phones, sentence.phones, samples_written / sample_rate)
            samples_written += len(pcm)
            count += 1
            if progress is not None:
                meta = sentence.metadata
                progress(min(len(text), meta.get("text_offset", 0) + len(meta.get("text", ""))), len(text))
        if sample_rate is None:  # nothing was spoken (cannot happen for text that passed the checks)
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(22050)
    seconds = samples_written / float(sample_rate or 22050)
    return Speech(np.zeros(0, np.float32), sample_rate or 22050, phones, "ipa", language.strip(), name,
                  {"seconds": seconds, "sentences": count, "path": str(Path(path))})
