"""Words for alignment: transcripts cut into CMUdict's words, and guessed pronunciations for the rest.

CMUdict (in PocketSphinx's wheel) spells words in lower case with apostrophes (``don't``) and has no
digits, so numbers are spelled out. Words it lacks (names, coinages) get a letter-to-sound guess that is
crude but good enough for forced alignment, which needs a plausible phone count and mouth shapes.
"""

from __future__ import annotations

import re

__all__ = ["guess_phones", "transcript_words"]

_ONES = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen " \
        "sixteen seventeen eighteen nineteen".split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def _number_words(number: int) -> list[str]:
    """English words for 0 <= number < 10**12 ("one hundred twenty three")."""
    if number < 20:
        return [_ONES[number]]
    if number < 100:
        return [_TENS[number // 10]] + ([_ONES[number % 10]] if number % 10 else [])
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if number >= size:
            rest = number % size
            return _number_words(number // size) + [name] + (_number_words(rest) if rest else [])
    raise AssertionError(number)


def transcript_words(text: str) -> list[str]:
    """Lower-case words of a transcript as CMUdict spells them: punctuation dropped, numbers spelled out."""
    words = []
    for token in re.findall(r"[0-9]+(?:\.[0-9]+)?|[^\W\d_]+(?:'[^\W\d_]+)*", text.lower()):
        if token[0].isdigit():
            whole, _, fraction = token.partition(".")
            words += _number_words(int(whole)) if len(whole) <= 12 else [_ONES[int(d)] for d in whole]
            if fraction:
                words += ["point"] + [_ONES[int(d)] for d in fraction]
        else:
            words.append(token)
    return words


# Letter-to-sound guesses for words CMUdict lacks (names, coinages): longest spelling first. Crude, but
# alignment only needs a plausible phone count and mouth shapes.
_SPELLING = sorted({
    "tch": "CH", "sch": "S K", "igh": "AY", "ght": "T", "tion": "SH AH N", "sion": "ZH AH N", "ough": "AO",
    "th": "TH", "sh": "SH", "ch": "CH", "ph": "F", "ck": "K", "ng": "NG", "qu": "K W", "wh": "W", "wr": "R",
    "kn": "N", "gh": "G", "ee": "IY", "ea": "IY", "oo": "UW", "ou": "AW", "ow": "OW", "oi": "OY", "oy": "OY",
    "ai": "EY", "ay": "EY", "au": "AO", "aw": "AO", "ie": "IY", "ei": "EY", "ey": "IY", "er": "ER",
    "ir": "ER", "ur": "ER", "ar": "AA R", "or": "AO R",
    "a": "AE", "b": "B", "c": "K", "d": "D", "e": "EH", "f": "F", "g": "G", "h": "HH", "i": "IH", "j": "JH",
    "k": "K", "l": "L", "m": "M", "n": "N", "o": "AA", "p": "P", "q": "K", "r": "R", "s": "S", "t": "T",
    "u": "AH", "v": "V", "w": "W", "x": "K S", "y": "Y", "z": "Z",
}.items(), key=lambda item: -len(item[0]))


def guess_phones(word: str) -> str:
    """ARPAbet phones (space-separated) for an English-looking spelling, by longest-match letter rules."""
    letters = re.sub(r"[^a-z]", "", word.lower())
    if letters.endswith("e") and len(letters) > 2 and letters[-2] not in "aeiou":
        letters = letters[:-1]  # silent final e
    phones, i = [], 0
    while i < len(letters):
        for spelling, sound in _SPELLING:
            if letters.startswith(spelling, i):
                if spelling == "y" and i > 0:
                    sound = "IY"  # a vowel after the first letter
                if not phones or phones[-1] != sound:  # doubled letters sound once
                    phones.append(sound)
                i += len(spelling)
                break
        else:
            i += 1
    return " ".join(phones) or "AH"
