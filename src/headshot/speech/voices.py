"""The voices ``headshot say`` can speak with, and which one speaks a language.

``joe``: the Piper en_US "joe" neural voice (English only, the default for English).
``espeak``: eSpeak NG's own formant voice, every language eSpeak NG knows (about 100), the default for
all but English. ``espeak+VARIANT`` (``espeak+f3``, ``espeak+klatt`` ...): the same with one of eSpeak's
voice variants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from ..errors import InputError

JOE = "joe"
ESPEAK = "espeak"

JOE_LICENCE = "MIT (voice model, rhasspy/piper-voices); dataset CC0; fine-tuned from Piper's lessac voice"
ESPEAK_LICENCE = "GPL-3.0 (eSpeak NG, loaded at run time from the espeakng-loader wheel)"


class VoiceInfo(NamedTuple):
    """A voice: its ``name`` (what ``voice=`` takes), the ``languages`` it speaks (codes), its licence, and
    a one-line description."""

    name: str
    languages: tuple[str, ...]
    licence: str
    description: str


def list_voices(variants: bool = False) -> list[VoiceInfo]:
    """The voices available, ``joe`` and ``espeak`` first.

    Args:
        variants: also list every ``espeak+VARIANT`` (about 100 timbres of eSpeak NG).
    """
    from .espeak import engine

    espeak = engine()
    languages = espeak.languages
    voices = [
        VoiceInfo(JOE, ("en",), JOE_LICENCE, "Piper VITS neural voice, US English, male, 22.05 kHz (default for en)"),
        VoiceInfo(ESPEAK, languages, ESPEAK_LICENCE, "eSpeak NG formant voice, ~100 languages (default for others)"),
    ]
    if variants:
        voices += [
            VoiceInfo(f"{ESPEAK}+{name}", languages, ESPEAK_LICENCE, f"eSpeak NG with its '{name}' variant")
            for name in espeak.variants
        ]
    return voices


@dataclass(frozen=True)
class VoiceChoice:
    """What speaks a request: ``kind`` is ``"piper"`` or ``"espeak"``; ``name`` the public voice name;
    ``espeak_voice`` the eSpeak identifier (with ``+variant``) for the eSpeak kind."""

    kind: str
    name: str
    espeak_voice: str = ""


def _is_english(code: str) -> bool:
    code = code.strip().lower().replace("_", "-")
    return code in ("en", "en-us")


def choose_voice(language: str, voice: str | None = None) -> VoiceChoice:
    """The voice for a language code and an optional voice name.

    Raises:
        InputError: unknown language (the message lists the codes), unknown voice, or ``joe`` asked for a
            language other than English.
    """
    from .espeak import engine

    if not isinstance(language, str) or not language.strip():
        raise InputError("no language given; use a code such as en, es, fr, de, zh")
    name = (voice or "").strip()
    if name.lower() == JOE or (not name and _is_english(language)):
        if not _is_english(language):
            raise InputError(f"voice 'joe' speaks only English (en); use the espeak voice for {language!r}")
        return VoiceChoice("piper", JOE)
    espeak = engine()
    espeak_voice = espeak.voice_for(language)
    if not name or name.lower() == ESPEAK:
        return VoiceChoice("espeak", ESPEAK, espeak_voice)
    base, _, variant = name.partition("+")
    known = {known.lower(): known for known in espeak.variants}
    if base.lower() == ESPEAK and variant.lower() in known:
        variant = known[variant.lower()]
        return VoiceChoice("espeak", f"{ESPEAK}+{variant}", f"{espeak_voice}+{variant}")
    if base.lower() == ESPEAK and variant:
        raise InputError(f"eSpeak NG has no variant {variant!r}; list them with list_voices(variants=True)")
    raise InputError(f"unknown voice {name!r}; choose joe, espeak or espeak+VARIANT")
