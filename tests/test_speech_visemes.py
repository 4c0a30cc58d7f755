"""Phones to mouth targets (IPA and ARPAbet) and coarticulation into per-frame mouth curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from headshot.speech.coarticulation import Coarticulation, frame_count, mouth_curves
from headshot.speech.timeline import Phone
from headshot.speech.visemes import NEUTRAL, REST, articulations, is_pause, is_vowel, stress_of

ARPABET = ("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z "
           "ZH").split()


def target(symbol: str, alphabet: str = "ipa"):
    (share, articulation), = articulations(symbol, alphabet)
    assert share == 1.0
    return articulation


def timeline(spec: list[tuple[str, float]], lead: float = 0.3, tail: float = 0.3) -> list[Phone]:
    """Phones back to back after a pause of ``lead`` s and before one of ``tail`` s."""
    phones, t = [Phone("_", 0.0, lead)], lead
    for symbol, duration in spec:
        phones.append(Phone(symbol, t, t + duration))
        t += duration
    return phones + [Phone("_", t, t + tail)]


def test_targets_by_place_and_vowel_quality():
    for symbol in "pbm":
        assert target(symbol).close == 1.0 and target(symbol).jaw <= 0.15
    for symbol in "fv":
        assert target(symbol).tuck == 1.0 and target(symbol).close == 0.0
    for symbol in ("u", "o", "w"):
        assert target(symbol).round >= 0.8
    assert target("i").spread >= 0.7 and target("i").round == 0.0
    assert target("a").jaw > target("ɛ").jaw > target("e").jaw > target("i").jaw
    assert target("s").jaw < 0.1  # sibilants keep the teeth together
    # weak sounds take their shape from their neighbours
    strong = min(target("a").jaw_dominance, target("b").jaw_dominance)
    for weak in ("h", "ə", "k"):
        assert target(weak).jaw_dominance < strong and target(weak).lip_dominance < 0.5
    assert target("b").lip_dominance < target("u").lip_dominance  # rounding carries through "b" in "boo"


def test_ipa_marks_diacritics_ties_and_tones():
    assert target("ˈaː") == target("a") == target("a1") == target("a˥˩") == target("ˌa")
    assert target("ɔ̃").symbol == "ɔ" and target("ɛ̃").symbol == "ɛ"  # nasalised (combining tilde)
    assert target("s.").symbol == "s"  # eSpeak's syllable dot
    assert target("kʷ").round >= 0.6 and target("k").round == 0.0  # labialised
    (first_share, first), (second_share, second) = articulations("t͡ʃ")
    assert (first.symbol, second.symbol) == ("t", "ʃ") and first_share < second_share
    assert math.isclose(first_share + second_share, 1.0)
    assert [a.symbol for _, a in articulations("ˈaɪ")] == ["a", "ɪ"]
    assert stress_of("ˈaɪ") == 1 and stress_of("ˌo") == 2 and stress_of("a") == 0
    assert stress_of("AY1", "arpabet") == 1 and stress_of("AH0", "arpabet") == 0


def test_arpabet_maps_every_cmu_phone():
    for code in ARPABET:
        for symbol in (code, code + "1", code.lower()):
            elements = articulations(symbol, "arpabet")
            assert all(a is not NEUTRAL for _, a in elements), symbol
    assert target("AH0", "arpabet").symbol == "ə" and target("AH1", "arpabet").symbol == "ʌ"
    assert [a.symbol for _, a in articulations("OY", "arpabet")] == ["ɔ", "ɪ"]
    assert target("M", "arpabet") == target("m") and target("F", "arpabet").tuck == 1.0
    assert is_vowel("IY1", "arpabet") and not is_vowel("S", "arpabet")


def test_pauses_and_unknown_symbols():
    for silence in ("_", "", "SIL", "sil", "sp", "+NSN+", "+SPN+"):
        assert is_pause(silence) and target(silence) is REST
        assert target(silence, "arpabet") is REST
    for unknown in ("☃", "#?", "Ж", "123", "ˈː"):
        assert target(unknown) is NEUTRAL
    assert target("QQ", "arpabet") is NEUTRAL
    with pytest.raises(ValueError):
        articulations("a", "sampa")


def test_frame_count_and_rest_edges():
    phones = timeline([("b", 0.07), ("a", 0.2)], lead=0.3, tail=0.43)  # ends at 1.0 s
    assert frame_count(1.0, 25.0) == 25 and frame_count(1.01, 25.0) == 26
    curves = mouth_curves(phones, 25.0)
    assert curves.frames == 25 and np.allclose(curves.times[:2], [0.0, 0.04])
    assert mouth_curves(phones, 30.0).frames == 30
    for name, values in curves.as_dict().items():
        assert np.all(np.isfinite(values)), name
        assert abs(values[0]) < 0.01 and abs(values[-1]) < 0.01, name  # rests in the pauses
    empty = mouth_curves([], 25.0)
    assert empty.frames == 1 and all(v[0] == 0 for v in empty.as_dict().values())


def test_bilabial_closure_anticipation_and_release():
    phones = timeline([("a", 0.2), ("m", 0.08), ("a", 0.2)])
    fps = 100.0
    curves = mouth_curves(phones, fps)
    onset, end = 0.5, 0.58
    index = lambda t: int(round(t * fps))  # noqa: E731
    assert np.all(curves.close[index(onset):index(end) + 1] == 1.0)  # shut for the whole /m/
    assert curves.close[index(onset - 0.04)] > 0.1  # closing 40 ms before the acoustic onset
    assert curves.close[index(onset - 0.07)] == 0.0  # ... but not long before
    assert curves.close[index(end + 0.06)] == 0.0  # released
    # The jaw rises for the /m/ and the open vowels around it open wide.
    assert curves.jaw[index(0.54)] < 0.5 * curves.jaw[index(0.4)]
    assert curves.jaw[index(0.4)] > 0.8 and curves.jaw[index(0.68)] > 0.8


def test_short_bilabial_shows_in_a_frame():
    # 20 ms /p/ between two frames of 25 fps video (0.48 and 0.52): the frame nearest its middle closes.
    phones = timeline([("a", 0.185), ("p", 0.02), ("a", 0.2)])
    curves = mouth_curves(phones, 25.0)
    assert curves.close[round(0.495 * 25)] == 1.0


def test_labiodental_rounding_and_weak_sounds():
    phones = timeline([("a", 0.15), ("f", 0.1), ("a", 0.15), ("t", 0.06), ("u", 0.2), ("a", 0.15),
                       ("h", 0.07), ("a", 0.15)])
    fps = 100.0
    curves = mouth_curves(phones, fps)
    index = lambda t: int(round(t * fps))  # noqa: E731
    assert curves.tuck[index(0.5)] == 1.0 and curves.upper_lip[index(0.5)] >= 0.4  # f: teeth on lip
    assert curves.tuck[index(0.35)] == 0.0 and curves.close.max() == 0.0
    u = index(0.86)
    assert curves.round[u] > 0.8 and curves.round[index(0.4)] < 0.1
    assert curves.round[index(0.73)] > 0.25  # anticipatory rounding during the /t/ before /u/
    assert curves.jaw[index(1.145)] > 0.5  # /h/ between open vowels keeps the jaw open
    assert curves.spread[index(0.4)] > curves.spread[u]


def test_long_pause_rests_and_stress_opens_wider():
    phones = timeline([("ˈa", 0.2)]) + [Phone("_", 0.8, 2.0), Phone("a", 2.0, 2.2), Phone("_", 2.2, 2.5)]
    curves = mouth_curves(phones, 25.0)
    pause = slice(round(1.0 * 25), round(1.6 * 25))
    for name, values in curves.as_dict().items():
        assert np.abs(values[pause]).max() < 5e-3, name
    assert curves.jaw[10] > curves.jaw[52] * 1.15  # stressed vs unstressed "a" (1.1 vs 0.85)


def test_ipa_and_arpabet_give_similar_curves():
    durations = [0.06, 0.16, 0.07, 0.08, 0.18, 0.07, 0.07, 0.08, 0.17, 0.09]
    ipa = timeline(list(zip(["b", "ˈɑ", "b", "m", "ˈeɪ", "d", "ə", "m", "ˈæ", "p"], durations)))
    arpabet = timeline(list(zip(["B", "AA1", "B", "M", "EY1", "D", "AH0", "M", "AE1", "P"], durations)))
    a, b = mouth_curves(ipa, 25.0), mouth_curves(arpabet, 25.0, alphabet="arpabet")
    assert a.frames == b.frames
    for name in ("jaw", "round", "spread", "close", "tuck"):
        assert np.abs(a.as_dict()[name] - b.as_dict()[name]).max() < 0.02, name


def test_loudness_and_parameters():
    phones = timeline([("a", 0.2), ("m", 0.1), ("a", 0.2)])
    curves = mouth_curves(phones, 25.0)
    quiet = mouth_curves(phones, 25.0, loudness=np.zeros(curves.frames))
    loud = mouth_curves(phones, 25.0, loudness=np.ones(curves.frames))
    assert np.allclose(quiet.jaw * 1.2 / 0.8, loud.jaw)
    with pytest.raises(ValueError):
        mouth_curves(phones, 25.0, loudness=np.ones(3))
    early = mouth_curves(phones, 100.0, params=Coarticulation(closure_lead=0.12))
    assert early.close[int(0.5 * 100) - 9] > 0.0  # a longer lead starts closing earlier
