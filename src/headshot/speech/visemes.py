"""Phonemes to mouth shapes: articulation targets per phone, for IPA (eSpeak NG) and CMU ARPAbet.

Each sound has an :class:`Articulation`: how far the jaw opens, how much the lips round or spread,
whether they shut (p b m), whether the lower lip tucks under the upper teeth (f v), whether the upper
lip rises, and two *dominance* values saying how strongly the sound holds its own jaw and lip shape
against its neighbours (Cohen & Massaro, "Modeling coarticulation in synthetic visual speech", in
Models and Techniques in Computer Animation, 1993). Vowels and labial consonants are strong; /h/,
schwa and velars are weak and take their shape from the sounds around them; jaw and lips are
separate, as in JALI (Edwards et al., "JALI: an animator-centric viseme model for expressive lip
synchronization", SIGGRAPH 2016).

Jaw openings follow vowel height (close vowels ~0.2 of an open "a", open-mid ~0.6; Lindblom &
Sundberg, "Acoustical consequences of lip, tongue, jaw, and larynx movement", JASA 1971); sibilants
keep the teeth nearly together; English /r/ and the postalveolars are rounded (Ladefoged & Maddieson,
The Sounds of the World's Languages, 1996).

:func:`articulations` reads a symbol as produced -- IPA with stress marks, length marks, ties,
diacritics, tone letters or digits, or ARPAbet with stress digits -- and returns one target per
element (a diphthong or an affricate gives two, with their share of the phone's duration). Symbols it
cannot read give a neutral, weak mid target: never an error.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, replace

from .timeline import ALPHABETS, PAUSE


@dataclass(frozen=True)
class Articulation:
    """The mouth target of one sound (0 = the face at rest, 1 = the strongest such shape).

    Attributes:
        jaw: jaw opening, 1 = a wide-open "a" (scaled to the face by the speech motion).
        round: lip rounding and protrusion ("u", "o", "w", "ʃ").
        spread: lip spreading ("i", "e", "s").
        close: lips shut, 1 = pressed together (p b m).
        tuck: lower lip under the upper teeth (f v).
        upper_lip: upper lip raised, showing the upper teeth.
        jaw_dominance: how strongly the sound holds its jaw target against its neighbours' (0-1).
        lip_dominance: the same for rounding, spreading and the upper lip.
        vowel: a syllable nucleus (carries stress and prosodic accents).
        symbol: the element of the phone it came from (``"?"`` for unknown, ``"_"`` for silence).
    """

    jaw: float = 0.0
    round: float = 0.0
    spread: float = 0.0
    close: float = 0.0
    tuck: float = 0.0
    upper_lip: float = 0.0
    jaw_dominance: float = 0.5
    lip_dominance: float = 0.5
    vowel: bool = False
    symbol: str = ""


REST = Articulation(jaw_dominance=0.6, lip_dominance=0.6, symbol=PAUSE)
NEUTRAL = Articulation(jaw=0.3, jaw_dominance=0.2, lip_dominance=0.1, symbol="?")


def _vowel(jaw: float, round_: float = 0.0, spread: float = 0.0, dominance: float = 1.0) -> Articulation:
    return Articulation(jaw=jaw, round=round_, spread=spread, jaw_dominance=dominance,
                        lip_dominance=dominance, vowel=True)


def _consonant(jaw: float, jaw_dominance: float, lip_dominance: float, **lips: float) -> Articulation:
    return Articulation(jaw=jaw, jaw_dominance=jaw_dominance, lip_dominance=lip_dominance, **lips)


# Vowels by height (jaw), rounding and spreading. Reduced vowels (schwa and kin) are weak.
_VOWELS = {
    "i": _vowel(0.2, spread=0.8), "y": _vowel(0.2, 0.9), "ɨ": _vowel(0.2, spread=0.4),
    "ʉ": _vowel(0.2, 0.8), "ɯ": _vowel(0.2, spread=0.4), "u": _vowel(0.2, 1.0),
    "ɪ": _vowel(0.3, spread=0.6), "ʏ": _vowel(0.3, 0.7), "ʊ": _vowel(0.3, 0.7), "ᵻ": _vowel(0.3, spread=0.3),
    "e": _vowel(0.4, spread=0.6), "ø": _vowel(0.4, 0.7), "ɘ": _vowel(0.4, spread=0.2),
    "ɵ": _vowel(0.4, 0.6), "ɤ": _vowel(0.4, spread=0.2), "o": _vowel(0.45, 0.85),
    "ə": _vowel(0.4, spread=0.1, dominance=0.4), "ɚ": _vowel(0.35, 0.3, dominance=0.5),
    "ɝ": _vowel(0.4, 0.35), "ɛ": _vowel(0.6, spread=0.45), "œ": _vowel(0.6, 0.55),
    "ɜ": _vowel(0.55, spread=0.15), "ɞ": _vowel(0.55, 0.5), "ʌ": _vowel(0.65, spread=0.1),
    "ɔ": _vowel(0.7, 0.6), "æ": _vowel(0.85, spread=0.45), "ɐ": _vowel(0.7, spread=0.1, dominance=0.6),
    "a": _vowel(1.0, spread=0.25), "ä": _vowel(1.0, spread=0.2), "ɶ": _vowel(0.9, 0.4),
    "ɑ": _vowel(1.0, spread=0.1), "ɒ": _vowel(0.9, 0.35),
}

_BILABIAL = _consonant(0.1, 0.5, 0.3, close=1.0)
_LABIODENTAL = _consonant(0.12, 0.6, 0.4, tuck=1.0, upper_lip=0.5)
_DENTAL = _consonant(0.15, 0.6, 0.2, spread=0.15, upper_lip=0.2)
_ALVEOLAR = _consonant(0.18, 0.4, 0.1, spread=0.1)
_SIBILANT = _consonant(0.08, 0.9, 0.3, spread=0.3, upper_lip=0.15)
_POSTALVEOLAR = _consonant(0.1, 0.9, 0.7, round=0.6, upper_lip=0.2)
_ALVEOLOPALATAL = _consonant(0.1, 0.9, 0.4, spread=0.35)
_RETROFLEX = _consonant(0.2, 0.4, 0.15, round=0.1)
_RETROFLEX_SIBILANT = _consonant(0.1, 0.9, 0.4, round=0.3)
_PALATAL = _consonant(0.15, 0.4, 0.3, spread=0.35)
_VELAR = _consonant(0.3, 0.2, 0.05)
_UVULAR = _consonant(0.35, 0.2, 0.05)
_GLOTTAL = _consonant(0.35, 0.05, 0.02)

_CONSONANTS = {
    **dict.fromkeys("pbmɓʘ", _BILABIAL),
    **dict.fromkeys("ɸβʙ", replace(_BILABIAL, close=0.8)),
    **dict.fromkeys("fvɱ", _LABIODENTAL), "ʋ": replace(_LABIODENTAL, tuck=0.6),
    **dict.fromkeys("θð", _DENTAL),
    **dict.fromkeys("tdnlɾɬɮɺɫ", _ALVEOLAR), "r": replace(_ALVEOLAR, jaw=0.25),
    "ɹ": _consonant(0.2, 0.4, 0.5, round=0.35),
    **dict.fromkeys("sz", _SIBILANT), **dict.fromkeys("ʃʒ", _POSTALVEOLAR),
    **dict.fromkeys("ɕʑ", _ALVEOLOPALATAL), **dict.fromkeys("ʂʐ", _RETROFLEX_SIBILANT),
    **dict.fromkeys("ʈɖɳɭɻɽ", _RETROFLEX),
    **dict.fromkeys("cɟɲçʝʎ", _PALATAL), "j": _consonant(0.2, 0.4, 0.4, spread=0.4),
    **dict.fromkeys("kgɡŋxɣɰʟ", _VELAR), **dict.fromkeys("qɢɴχʁʀ", _UVULAR),
    **dict.fromkeys("hɦħʕʔʜʢʡ", _GLOTTAL),
    **dict.fromkeys("wʍ", _consonant(0.15, 0.5, 1.0, round=1.0)),
    "ɥ": _consonant(0.15, 0.5, 0.9, round=0.9),
    **dict.fromkeys("ǀǃǂǁ", _consonant(0.2, 0.4, 0.1)),
}
_SOUNDS = {**{k: replace(v, symbol=k) for k, v in _VOWELS.items()},
           **{k: replace(v, symbol=k) for k, v in _CONSONANTS.items()}}

# Modifier letters that change the lips of the sound before them; every other modifier, combining
# diacritic (nasalisation, syllabic, voiceless ...), stress or length mark, tie bar, tone letter or
# digit is dropped, as are eSpeak's syllable dots and word links.
_LABIALISED, _PALATALISED = "ʷ", "ʲ"
_STOPS = set("pbtdkgɡqɢʈɖcɟʔ")
_STRESS = {"ˈ": 1, "ˌ": 2}

# CMU ARPAbet (stress digits stripped first) in IPA; AH with stress 0 is schwa.
_ARPABET = {
    "AA": "ɑ", "AE": "æ", "AH": "ʌ", "AO": "ɔ", "AW": "aʊ", "AY": "aɪ", "EH": "ɛ", "ER": "ɝ", "EY": "eɪ",
    "IH": "ɪ", "IY": "i", "OW": "oʊ", "OY": "ɔɪ", "UH": "ʊ", "UW": "u", "B": "b", "CH": "tʃ", "D": "d",
    "DH": "ð", "F": "f", "G": "ɡ", "HH": "h", "JH": "dʒ", "K": "k", "L": "l", "M": "m", "N": "n",
    "NG": "ŋ", "P": "p", "R": "ɹ", "S": "s", "SH": "ʃ", "T": "t", "TH": "θ", "V": "v", "W": "w",
    "Y": "j", "Z": "z", "ZH": "ʒ",
    # TIMIT-style extensions some recognisers emit
    "AX": "ə", "AXR": "ɚ", "IX": "ɨ", "UX": "ʉ", "DX": "ɾ", "NX": "ɾ", "EL": "l", "EM": "m", "EN": "n",
    "Q": "ʔ", "WH": "ʍ", "HV": "ɦ",
}
# Silence and non-speech (PocketSphinx fillers are written +NAME+).
_PAUSES = {"", PAUSE, "SIL", "SP", "SPN", "NSN", "<S>", "</S>", "<SIL>", "PAU", "H#", "#"}


def is_pause(symbol: str) -> bool:
    """Whether ``symbol`` is silence or a non-speech filler (``_``, ``SIL``, ``+NSN+`` ...)."""
    text = symbol.strip().upper()
    return text in _PAUSES or (text.startswith("+") and text.endswith("+"))


def stress_of(symbol: str, alphabet: str = "ipa") -> int:
    """Stress written in the symbol: IPA ``ˈ`` (1) / ``ˌ`` (2), ARPAbet trailing digit 1 / 2; else 0."""
    symbol = symbol.strip()
    if alphabet == "arpabet":
        return int(symbol[-1]) if symbol[-1:] in ("1", "2") else 0
    for mark, level in _STRESS.items():
        if mark in symbol:
            return level
    return 0


def _shares(elements: list[Articulation]) -> list[float]:
    """Share of the phone's duration for each element: a stop before another element (the closure of
    an affricate, t͡ʃ) is brief; diphthongs and other clusters split evenly."""
    weights = [0.6 if (a.symbol in _STOPS and i + 1 < len(elements)) else 1.0 for i, a in enumerate(elements)]
    total = sum(weights)
    return [w / total for w in weights]


@functools.lru_cache(maxsize=4096)
def articulations(symbol: str, alphabet: str = "ipa") -> tuple[tuple[float, Articulation], ...]:
    """The mouth targets of one phone: ``((share, Articulation), ...)``, shares summing to 1.

    Args:
        symbol: the phone as written in the timeline (e.g. ``"ˈaɪ"``, ``"t͡ʃ"``, ``"ɔ̃"``, ``"a1"``,
            ``"AY1"``, ``"SIL"``).
        alphabet: ``"ipa"`` or ``"arpabet"``.

    Silence gives ``((1.0, REST),)``; a symbol with nothing readable in it gives ``((1.0, NEUTRAL),)``.
    """
    if alphabet not in ALPHABETS:
        raise ValueError(f"alphabet must be one of {ALPHABETS}, got {alphabet!r}")
    if is_pause(symbol):
        return ((1.0, REST),)
    text = symbol.strip()
    if alphabet == "arpabet":
        code = text.upper().rstrip("0123456789")
        ipa = _ARPABET.get(code)
        if ipa is None:
            return ((1.0, NEUTRAL),)
        text = "ə" if code == "AH" and text.endswith("0") else ipa
    elements: list[Articulation] = []
    for char in unicodedata.normalize("NFC", text):
        sound = _SOUNDS.get(char)
        if sound is not None:
            elements.append(sound)
        elif elements and char == _LABIALISED:
            last = elements[-1]
            elements[-1] = replace(last, round=max(last.round, 0.6), lip_dominance=max(last.lip_dominance, 0.6))
        elif elements and char == _PALATALISED:
            elements[-1] = replace(elements[-1], spread=max(elements[-1].spread, 0.3))
        # anything else (marks, diacritics, tones, digits, unknown letters) carries no mouth shape
    if not elements:
        return ((1.0, NEUTRAL),)
    return tuple(zip(_shares(elements), elements))


def is_vowel(symbol: str, alphabet: str = "ipa") -> bool:
    """Whether the phone contains a vowel (a syllable nucleus)."""
    return any(a.vowel for _, a in articulations(symbol, alphabet))
