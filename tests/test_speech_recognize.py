"""Phones from recordings (headshot.speech.recognize): real speech from the dev clips, forced alignment of
known words (GRID sentences, whose words are in their file names, and the TTS voice, whose word timings are
known), fallbacks, bad inputs, and memory on a long stream."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from headshot.errors import InputError
from headshot.io.audio import read_audio
from headshot.io.video import VideoWriter
from headshot.speech.recognize import RecognitionStream, RecognizerOptions, Word, recognize_phones
from headshot.speech.sphinx import match_transcript
from headshot.speech.timeline import PAUSE, Speech

CMU_PHONES = set(
    "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
)
SPEECH_CLIPS = [  # clear English speech, 4-8 s each
    "aoc__SadTalker__WDA_AlexandriaOcasioCortez_000.mp4",
    "mead_M003__spectre__M003_level_1_disgusted_015.mp4",
    "obama__LIA-X__driving4.mp4",
    "theresa_may__AniPortrait__pose_ref_video.mp4",
]
GRID_CLIPS = ["grid_spk_bbaf2n__LipNet__bbaf2n.mp4", "grid_spk_s2__LipNet__pwij3p.mp4",
              "grid_spk_lrwp9a__LipNet__lrwp9a.mp4", "grid_spk_sbia1a__LipNet__sbia1a.mp4"]


def grid_transcript(path: Path) -> str:
    """GRID's sentence from its code ("bbaf2n": bin blue at f two now)."""
    code = path.stem.rsplit("_", 1)[-1]
    command = dict(b="bin", l="lay", p="place", s="set")[code[0]]
    colour = dict(b="blue", g="green", r="red", w="white")[code[1]]
    preposition = dict(a="at", b="by", i="in", w="with")[code[2]]
    digit = "zero" if code[4] == "z" else "zero one two three four five six seven eight nine".split()[int(code[4])]
    adverb = dict(a="again", n="now", p="please", s="soon")[code[5]]
    return f"{command} {colour} {preposition} {code[3]} {digit} {adverb}"


def check_timeline(speech: Speech) -> None:
    """The contract: ARPAbet, sorted, gap-free from 0 to the end, no two pauses in a row, valid word indices."""
    phones = speech.phones
    assert speech.alphabet == "arpabet" and speech.sample_rate == 16000
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(speech.metadata["seconds"], abs=1e-3)
    assert all(a.end == pytest.approx(b.start, abs=1e-6) and a.end > a.start for a, b in zip(phones, phones[1:]))
    assert not any(a.is_pause and b.is_pause for a, b in zip(phones, phones[1:]))
    assert {p.symbol for p in phones} <= CMU_PHONES | {PAUSE}
    words = speech.metadata["words"]
    assert all(-1 <= p.word < len(words) for p in phones)
    assert all(p.word == -1 for p in phones if p.is_pause)


@pytest.mark.parametrize("name", SPEECH_CLIPS)
def test_speech_gives_a_plausible_phone_rate(dev_data, name):
    speech = recognize_phones(dev_data / "videos" / name)
    check_timeline(speech)
    assert speech.metadata["method"] == "words" and speech.voice == "pocketsphinx en-us"
    assert len(speech.samples) / 16000 == pytest.approx(speech.metadata["seconds"])
    prosody = speech.metadata["prosody"]
    spoken = [p for p in speech.phones if not p.is_pause]
    assert 8.0 <= len(spoken) / prosody.speech_seconds <= 18.0  # English: about 12 phones a second
    words = speech.metadata["words"]
    assert len(words) >= 2 * prosody.speech_seconds * 0.5 and all(isinstance(w, Word) for w in words)
    assert all(words[p.word].start - 1e-6 <= p.start < words[p.word].end + 1e-6 for p in spoken if p.word >= 0)


def test_pauses_are_where_the_energy_is_low(dev_data):
    speech = recognize_phones(dev_data / "videos" / SPEECH_CLIPS[0])
    prosody = speech.metadata["prosody"]
    loudness = prosody.loudness

    def mean_loudness(phones):
        return np.mean([loudness[round(p.start * 100) : round(p.end * 100)].mean() for p in phones])

    pauses = [p for p in speech.phones if p.is_pause and p.duration >= 0.15]
    spoken = [p for p in speech.phones if not p.is_pause]
    assert pauses and mean_loudness(pauses) < 0.1 < 0.5 < mean_loudness(spoken)
    silent = [(a, b) for a, b in prosody.pauses if b - a >= 0.3]
    covered = sum(max(0.0, min(b, p.end) - max(a, p.start)) for a, b in silent for p in pauses)
    assert covered >= 0.7 * sum(b - a for a, b in silent)


def test_phone_loop_mode(dev_data):
    speech = recognize_phones(dev_data / "videos" / SPEECH_CLIPS[2], options=RecognizerOptions(mode="phones"))
    check_timeline(speech)
    assert speech.metadata["method"] == "phones" and speech.metadata["words"] == []
    spoken = [p for p in speech.phones if not p.is_pause]
    assert 8.0 <= len(spoken) / speech.metadata["prosody"].speech_seconds <= 18.0


def _dictionary_phones(words: str) -> list[str]:
    from headshot.speech.sphinx import SphinxDecoders

    decoders = SphinxDecoders()
    letters = {"a": ["EY"]}  # GRID says the letter's name
    return [p for word in words.split() for p in letters.get(word) or decoders.pronunciation(word)]


def _edit_distance(a: list[str], b: list[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[:], i
        for j, y in enumerate(b, 1):
            row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
    return row[-1]


@pytest.mark.parametrize("name", GRID_CLIPS)
def test_forced_alignment_of_a_grid_sentence(dev_data, name):
    path = dev_data / "videos" / name
    transcript = grid_transcript(path)
    speech = recognize_phones(path, transcript=transcript)
    check_timeline(speech)
    assert speech.metadata["method"] == "align"
    words = speech.metadata["words"]
    assert [w.text for w in words] == transcript.split()
    assert all(a.end <= b.start + 1e-6 for a, b in zip(words, words[1:]))  # in order, not overlapping
    assert words[0].start > 0.2 and words[-1].end < speech.metadata["seconds"] - 0.2  # GRID: silence around
    spoken = [p.symbol for p in speech.phones if not p.is_pause]
    reference = _dictionary_phones(transcript)
    assert _edit_distance(spoken, reference) <= 0.1 * len(reference)
    assert [p.word for p in speech.phones if not p.is_pause] == sorted(p.word for p in speech.phones if not p.is_pause)


def test_forced_alignment_matches_the_tts_word_timings():
    from headshot.speech.tts import synthesize

    text = "Please call Stella and ask her to bring these things with her from the store."
    voice = synthesize(text)
    starts = {}
    for phone in voice.phones:  # the synthesiser's own timeline: where each word starts
        if phone.word >= 0:
            starts.setdefault(phone.word, phone.start)
    speech = recognize_phones(voice.samples, transcript=text, sample_rate=voice.sample_rate)
    assert speech.metadata["method"] == "align"
    words = speech.metadata["words"]
    assert len(words) == 15
    truth = np.array(sorted(starts.values()))
    errors = [np.abs(truth - w.start).min() for w in words[1:]]  # the first starts after leading silence
    assert np.median(errors) < 0.04 and max(errors) < 0.15, np.round(errors, 3)


def test_a_transcript_spread_over_several_utterances(dev_data):
    clips = [dev_data / "videos" / name for name in GRID_CLIPS]
    gap = np.zeros(8000, np.float32)
    samples = np.concatenate([np.concatenate([read_audio(path), gap]) for path in clips])
    starts = np.cumsum([0] + [len(read_audio(path)) + len(gap) for path in clips]) / 16000
    transcript = ". ".join(grid_transcript(path) for path in clips)
    speech = recognize_phones(samples, transcript=transcript, options=RecognizerOptions(max_utterance=8.0))
    check_timeline(speech)
    assert speech.metadata["seconds_by_method"].get("align", 0) > 0.8 * sum(
        v for k, v in speech.metadata["seconds_by_method"].items() if k != "pause")
    words = speech.metadata["words"]
    assert [w.text for w in words] == transcript.replace(".", "").split()
    for index, word in enumerate(words):  # every word inside its own clip
        clip = index // 6
        assert starts[clip] - 0.05 <= word.start and word.end <= starts[clip + 1] + 0.05, (index, word)


def test_match_transcript_counts_words_by_their_sounds():
    pronounce = {"lay": ["L", "EY"], "red": ["R", "EH", "D"], "with": ["W", "IH", "DH"], "set": ["S", "EH", "T"],
                 "white": ["W", "AY", "T"]}.__getitem__
    heard = ["DH", "EY", "R", "EH", "D", "W", "IH", "TH"]  # "they red with", misheard
    assert match_transcript(heard, ["lay", "red", "with", "set", "white"], pronounce) == 3
    assert match_transcript([], ["lay"], pronounce) == 0


def test_silence_is_a_timeline_of_one_pause():
    speech = recognize_phones(np.zeros(3 * 16000, np.float32))
    assert [(p.symbol, p.start, p.end) for p in speech.phones] == [(PAUSE, 0.0, 3.0)]
    assert speech.metadata["method"] == "pause" and speech.metadata["words"] == []


def test_other_languages_and_music_get_energy_phones(dev_data):
    samples = read_audio(dev_data / "videos" / SPEECH_CLIPS[0])
    speech = recognize_phones(samples, language="es")
    check_timeline(speech)
    assert speech.metadata["method"] == "energy" and speech.voice == "energy envelope"
    vowels = [p for p in speech.phones if p.symbol in ("AA", "AH")]
    nuclei = speech.metadata["prosody"].nuclei
    assert abs(len(vowels) - len(nuclei)) <= 2 and any(p.stress == 1 for p in vowels)
    # a buzz without speech sounds: the recogniser finds too few phones and falls back
    t = np.arange(6 * 16000) / 16000
    buzz = (0.3 * np.sign(np.sin(2 * np.pi * 220 * t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    assert recognize_phones(buzz).metadata["method"] == "energy"


def test_arrays_at_other_rates_are_resampled(dev_data):
    samples = read_audio(dev_data / "videos" / SPEECH_CLIPS[2], sample_rate=22050)
    speech = recognize_phones(samples, sample_rate=22050, options=RecognizerOptions(mode="phones"))
    assert speech.metadata["seconds"] == pytest.approx(len(samples) / 22050, abs=1e-3)
    assert speech.metadata["method"] == "phones"


def test_bad_inputs(tmp_path):
    silent_video = tmp_path / "silent.mp4"
    with VideoWriter(silent_video, 25) as writer:
        for _ in range(5):
            writer.write(np.zeros((32, 32, 3), np.uint8))
    with pytest.raises(InputError, match="has no audio track"):
        recognize_phones(silent_video)
    with pytest.raises(InputError, match="not found"):
        recognize_phones(tmp_path / "nothing.wav")
    with pytest.raises(InputError, match="no words"):
        recognize_phones(np.zeros(16000, np.float32), transcript=" ... ")
    with pytest.raises(ValueError, match="mode"):
        RecognizerOptions(mode="magic")


def _stream_with_bursts(seconds: int) -> tuple[list, RecognitionStream, int]:
    """Push ``seconds`` of near-silence with a second of voice every 15 s; (phones, stream, peak bytes)."""
    rate = 16000
    t = np.arange(rate) / rate
    burst = (0.3 * np.sin(2 * np.pi * 150 * t) * np.sin(np.pi * 4 * t) ** 2).astype(np.float32)
    quiet = np.random.default_rng(3).standard_normal(rate).astype(np.float32) * 1e-4
    stream = RecognitionStream(RecognizerOptions(mode="phones"))
    tracemalloc.start()
    try:
        phones = []
        for second in range(seconds):
            phones += stream.push(burst if second % 15 == 7 else quiet)
        phones += stream.finish()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return phones, stream, peak


def test_memory_stays_flat_on_a_long_stream():
    """Memory holds the current utterance and 12 bytes per 10 ms, not the recording."""
    _, _, short_peak = _stream_with_bursts(60)
    phones, stream, long_peak = _stream_with_bursts(300)  # 19 MB of samples
    assert phones[0].start == 0 and phones[-1].end == pytest.approx(300)
    assert all(a.end == pytest.approx(b.start) for a, b in zip(phones, phones[1:]))
    assert stream.seconds_by_method["pause"] > 0.8 * 300
    assert long_peak < short_peak + 2e6, f"peak {short_peak / 1e6:.1f} MB for 1 min, {long_peak / 1e6:.1f} for 5"
