"""Text to speech: real synthesis with the Piper "joe" voice and eSpeak NG, checked against the audio."""

from __future__ import annotations

import time

import numpy as np
import pytest

from headshot import assets
from headshot.errors import InputError, MissingModelError
from headshot.speech import tts
from headshot.speech.espeak import engine
from headshot.speech.piper import HOP_LENGTH, joe, utterance_tokens
from headshot.speech.timeline import Speech
from headshot.speech.voices import list_voices

VOWELS = set("aeiouyæɑɒɐɔəɘɛɜɞɤɨɪʉʊʌʏøœɯɵɚɝ")

SENTENCES = {
    "en": "Hello world. Bob met Pam, and they talked for a while.",
    "es": "Hola, ¿cómo estás? Me llamo Pablo y vivo en Madrid.",
    "fr": "Bonjour tout le monde. Je m'appelle Pierre et j'habite à Paris.",
    "de": "Guten Tag, wie geht es Ihnen? Mir geht es sehr gut.",
    "it": "Buongiorno a tutti. Mi chiamo Paolo e abito a Roma.",
    "pt": "Bom dia a todos. O meu nome é Paulo e moro em Lisboa.",
    "ru": "Здравствуйте, как дела? Меня зовут Павел, я живу в Москве.",
    "hi": "नमस्ते, आप कैसे हैं? मेरा नाम राम है और मैं दिल्ली में रहता हूँ।",
    "zh": "你好，世界。我们今天去北京吃饭吧！",
}


def rms(speech: Speech, phone) -> float:
    segment = speech.samples[int(phone.start * speech.sample_rate) : int(phone.end * speech.sample_rate)]
    return float(np.sqrt(np.mean(segment.astype(np.float64) ** 2))) if len(segment) else 0.0


def is_vowel(symbol: str) -> bool:
    return symbol[:1] in VOWELS


def assert_covers(speech: Speech, tolerance_samples: int = 1) -> None:
    """Phones are contiguous, positive, and span the audio from 0 to its end."""
    phones = speech.phones
    assert phones, "no phones"
    assert phones[0].start == 0.0
    assert abs(phones[-1].end - speech.seconds) <= tolerance_samples / speech.sample_rate
    for before, after in zip(phones, phones[1:]):
        assert after.start == pytest.approx(before.end, abs=1e-9)
        assert after.end > after.start
    assert not any(a.is_pause and b.is_pause for a, b in zip(phones, phones[1:])), "adjacent pauses not merged"


def assert_energy_agrees(speech: Speech, ratio: float = 0.1) -> None:
    """Pauses are quiet and vowels are loud."""
    vowels = [rms(speech, p) for p in speech.phones if is_vowel(p.symbol)]
    pauses = [rms(speech, p) for p in speech.phones if p.is_pause and p.duration >= 0.03]
    assert vowels and pauses
    loud = float(np.median(vowels))
    assert loud > 0.02, f"vowels are too quiet: {loud}"
    assert max(pauses) < ratio * loud, f"a pause is loud: {max(pauses):.4f} vs vowels {loud:.4f}"


@pytest.fixture(scope="module")
def hello() -> Speech:
    return tts.synthesize("Hello world.")


def test_piper_timeline_covers_the_audio(hello):
    assert hello.voice == "joe" and hello.alphabet == "ipa" and hello.language == "en"
    assert hello.sample_rate == joe().sample_rate == 22050
    assert hello.samples.dtype == np.float32 and np.abs(hello.samples).max() <= 1.0
    assert 0.5 < hello.seconds < 3.0
    assert_covers(hello)
    # every boundary falls on a spectrogram frame: the timeline comes from the network's own durations
    frames = np.array([p.end for p in hello.phones]) * hello.sample_rate / HOP_LENGTH
    assert np.allclose(frames, np.round(frames), atol=1e-6)


def test_piper_hello_world_phones(hello):
    spoken = [(p.symbol, p.word) for p in hello.phones if not p.is_pause]
    assert spoken == [("h", 0), ("ə", 0), ("l", 0), ("oʊ", 0), ("w", 1), ("ɜː", 1), ("l", 1), ("d", 1)]
    assert [p.stress for p in hello.phones if p.symbol in ("oʊ", "ɜː")] == [1, 1]
    assert hello.phones[0].is_pause and hello.phones[-1].is_pause


def test_piper_pauses_quiet_vowels_loud(hello):
    assert_energy_agrees(hello)


def test_piper_bilabials():
    speech = tts.synthesize("Bob met Pam.")
    symbols = [p.symbol for p in speech.phones if not p.is_pause]
    assert symbols == ["b", "ɑː", "b", "m", "ɛ", "t", "p", "æ", "m"]
    # lips closed for b/m/p: quieter than the vowels around them
    phones = [p for p in speech.phones if not p.is_pause]
    for index, phone in enumerate(phones):
        if phone.symbol in ("b", "p") and 0 < index < len(phones) - 1:
            neighbours = [rms(speech, q) for q in (phones[index - 1], phones[index + 1]) if is_vowel(q.symbol)]
            assert rms(speech, phone) < max(neighbours)


def test_piper_durations_are_sample_exact():
    voice = joe()
    tokens = utterance_tokens(engine().text_to_phonemes("Testing, one two three.", voice.espeak_voice))
    ids = [i for token in tokens for i in voice.token_ids(token)]
    assert ids[0] == voice.phoneme_ids["^"][0] and ids[-1] == voice.phoneme_ids["$"][0]
    assert ids[1::2] == [voice.phoneme_ids["_"][0]] * (len(ids) // 2)  # a pad after every id but EOS
    audio, frames = voice.infer(ids, voice.length_scale)
    assert frames.shape == (len(ids),) and (frames >= 0).all()
    assert len(audio) == frames.sum() * HOP_LENGTH


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_languages(language):
    speech = tts.synthesize(SENTENCES[language], language)
    assert speech.voice == ("joe" if language == "en" else "espeak")
    assert speech.seconds > 1.0
    assert_covers(speech, tolerance_samples=1)
    spoken = [p for p in speech.phones if not p.is_pause]
    per_second = len(spoken) / speech.seconds
    assert 5 < per_second < 25, f"{len(spoken)} phones in {speech.seconds:.1f} s"
    assert sum(is_vowel(p.symbol) for p in spoken) >= len(spoken) / 4
    assert sum(p.is_pause for p in speech.phones) >= 2
    assert_energy_agrees(speech)


def test_espeak_english_and_variants():
    speech = tts.synthesize(SENTENCES["en"], "en", voice="espeak")
    assert speech.voice == "espeak"
    assert_covers(speech)
    assert_energy_agrees(speech)
    assert [p.symbol for p in speech.phones if not p.is_pause][:4] == ["h", "ə", "l", "oʊ"]
    variant = tts.synthesize("Hola.", "es", voice="espeak+f3")
    assert variant.voice == "espeak+f3" and variant.seconds > 0.2


def test_mandarin_symbols_are_ipa():
    speech = tts.synthesize("我们是学生。", "zh")
    assert all("." not in p.symbol for p in speech.phones)
    assert "ʂ" in {p.symbol for p in speech.phones}


@pytest.mark.parametrize("voice", ["joe", "espeak"])
def test_rate(voice):
    text = "The rain in Spain stays mainly in the plain."
    normal = tts.synthesize(text, "en", voice, rate=1.0)
    fast = tts.synthesize(text, "en", voice, rate=2.0)
    assert fast.seconds < 0.75 * normal.seconds
    assert_covers(fast)


def test_sentences_stream_with_pauses_between():
    text = "First sentence here. Second one follows! And a third?"
    pieces = list(tts.synthesize_stream(text))
    assert len(pieces) == 3
    start = 0.0
    for piece in pieces:
        assert piece.metadata["start"] == pytest.approx(start)
        assert_covers(piece)
        start += piece.seconds
    assert pieces[0].phones[-1].is_pause and pieces[0].phones[-1].duration >= tts.SENTENCE_PAUSE
    whole = tts.concatenate(pieces)
    assert whole.seconds == pytest.approx(start)
    assert_covers(whole)
    words = [p.word for p in whole.phones if not p.is_pause]
    assert words == sorted(words) and words[0] == 0 and words[-1] == 8


def test_long_text_is_split_linearly_and_streams():
    text = ("It was a bright cold day in April, and the clocks were striking thirteen. " * 1400)[:100_000]
    started = time.perf_counter()
    pieces = tts.split_sentences(text)
    assert time.perf_counter() - started < 1.0
    assert len(pieces) > 1000 and max(len(piece) for _, piece in pieces) <= tts.MAX_SENTENCE_CHARS
    unpunctuated = "word " * 20_000
    assert max(len(piece) for _, piece in tts.split_sentences(unpunctuated)) <= tts.MAX_SENTENCE_CHARS
    started = time.perf_counter()
    first = next(iter(tts.synthesize_stream(text, "en", "espeak")))
    assert time.perf_counter() - started < 5.0 and first.seconds < 10.0


@pytest.mark.parametrize("text", ["", "   \n\t", "...?!", "— « » …", "😀 🎉"])
def test_nothing_to_say(text):
    with pytest.raises(InputError) as error:
        tts.synthesize(text)
    assert "\n" not in str(error.value)


def test_bad_requests():
    with pytest.raises(InputError, match="unknown language 'xx'.*es, .*") as error:
        tts.synthesize("hello", "xx")
    assert "\n" not in str(error.value) and " zh" in str(error.value)
    with pytest.raises(InputError, match="only English"):
        tts.synthesize("hola", "es", voice="joe")
    with pytest.raises(InputError, match="unknown voice"):
        tts.synthesize("hello", "en", voice="robot")
    with pytest.raises(InputError, match="variant"):
        tts.synthesize("hello", "en", voice="espeak+nope")
    for rate in (0.0, 10.0, float("nan")):
        with pytest.raises(InputError, match="rate"):
            tts.synthesize("hello", rate=rate)
    with pytest.raises(TypeError):
        tts.synthesize(b"hello")  # bytes are the caller's to decode


def test_read_text_file(tmp_path):
    good = tmp_path / "good.txt"
    good.write_bytes("\ufeffCafé olé.".encode("utf-8"))
    assert tts.read_text_file(good) == "Café olé."
    bad = tmp_path / "bad.txt"
    bad.write_bytes("Caf\xe9".encode("latin-1"))
    with pytest.raises(InputError, match="not UTF-8"):
        tts.read_text_file(bad)
    with pytest.raises(InputError, match="not found"):
        tts.read_text_file(tmp_path / "missing.txt")


def test_list_voices():
    voices = {voice.name: voice for voice in list_voices()}
    assert set(voices) == {"joe", "espeak"}
    assert voices["joe"].languages == ("en",)
    assert set(SENTENCES) <= set(voices["espeak"].languages)
    assert "GPL-3.0" in voices["espeak"].licence and "MIT" in voices["joe"].licence
    assert any(voice.name == "espeak+f3" for voice in list_voices(variants=True))


def test_espeak_clauses_keep_punctuation():
    clauses = engine().text_to_phonemes("Hello, world. Yes?", engine().voice_for("en"))
    assert [clause.punctuation for clause in clauses] == [",", ".", "?"]
    assert clauses[0].phonemes == "h|ə|l|ˈoʊ"


def test_voice_hash_is_checked(monkeypatch):
    assets.piper_voice_paths.cache_clear()
    monkeypatch.setattr(assets, "PIPER_JOE_SHA256", "0" * 64)
    try:
        with pytest.raises(MissingModelError, match="SHA-256"):
            assets.piper_voice_paths()
    finally:
        assets.piper_voice_paths.cache_clear()


def test_piper_is_reproducible(tmp_path):
    """The voice's sampling noise is seeded from what it says: the same text gives the same audio, in any
    order of calls (onnxruntime's own random kernels would advance across calls); other text, other noise."""
    import subprocess
    import sys

    from headshot.speech.say import speak_to_wav

    text = "Hello, I am speaking from a single photo."
    first = tts.synthesize(text).samples
    tts.synthesize("Something else first.")
    again = tts.synthesize(text).samples
    np.testing.assert_array_equal(first, again)
    voice = joe()
    ids = [i for token in utterance_tokens(engine().text_to_phonemes("Papa.", voice.espeak_voice))
           for i in voice.token_ids(token)]
    from headshot.speech.piper import noise_seed

    assert noise_seed(ids, 1.0) == noise_seed(list(ids), 1.0) != noise_seed(ids[:-2], 1.0)
    # A fresh process writes the same WAV bytes.
    speak_to_wav(text, tmp_path / "a.wav")
    code = f"from headshot.speech.say import speak_to_wav; speak_to_wav({text!r}, {str(tmp_path / 'b.wav')!r})"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
