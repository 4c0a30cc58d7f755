"""Lip-sync protocol: the curve metrics on synthetic curves, bilabial closure, and a run on two real clips."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from headshot.eval import lipsync_metrics as lm
from headshot.speech.timeline import Phone, Speech

FPS = 25.0


def _speech_like(frames: int, seed: int = 0) -> np.ndarray:
    """A lip-gap-like curve: smoothed random syllables, never negative."""
    rng = np.random.default_rng(seed)
    raw = np.clip(rng.normal(0.0, 1.0, frames + 20), 0.0, None)
    kernel = np.hanning(7)
    return 0.05 + 0.1 * np.convolve(raw, kernel / kernel.sum(), mode="same")[10:10 + frames]


@pytest.mark.parametrize("delay", [-3, -1, 0, 2, 3])
def test_best_lag_finds_a_known_delay_with_sign_and_milliseconds(delay):
    real = _speech_like(200)
    padded = np.concatenate([np.full(10, real[0]), real, np.full(10, real[-1])])
    output = padded[10 - delay:10 - delay + 200]  # output[t] = real[t - delay]: late by `delay` frames
    numbers = lm.best_lag(output, real, FPS)
    assert numbers["lag_frames"] == delay
    assert numbers["offset_ms"] == pytest.approx(40.0 * delay)
    assert numbers["r_best"] == pytest.approx(1.0, abs=1e-9)
    if delay:
        assert numbers["r0"] < 0.99


def test_lagged_correlations_are_scale_free_and_skip_missing_frames():
    real = _speech_like(120, seed=3)
    output = 3.0 * real + 0.2
    output[[5, 50, 51]] = np.nan  # face lost in three output frames
    correlations = lm.lagged_correlations(output, real, 2)
    assert set(correlations) == {-2, -1, 0, 1, 2}
    assert correlations[0] == pytest.approx(1.0, abs=1e-9)
    assert lm.pearson(np.arange(5.0), -np.arange(5.0)) == pytest.approx(-1.0)
    assert math.isnan(lm.pearson(np.ones(10), np.arange(10.0)))  # a still mouth has no correlation
    assert math.isnan(lm.best_lag(np.full(10, np.nan), real[:10], FPS)["r_best"])
    # Different lengths: compared over the common frames.
    assert lm.best_lag(real[:100], real, FPS)["r_best"] == pytest.approx(1.0)


def test_range_ratio():
    real = _speech_like(300, seed=1)
    assert lm.range_ratio(real, real) == pytest.approx(1.0)
    assert lm.range_ratio(0.5 * real + 0.3, real) == pytest.approx(0.5)
    assert lm.range_ratio(real, 0.25 * real) == pytest.approx(4.0)
    assert math.isnan(lm.range_ratio(real, np.full(300, 0.1)))
    assert lm.spread(np.r_[np.zeros(5), np.nan]) == 0.0


def test_lip_gap_is_scale_free(astronaut, analyzer):
    landmarks = analyzer.detect_one(astronaut).landmarks
    gap = lm.lip_gap(landmarks)
    assert 0.0 <= gap < 0.5
    scaled = landmarks * 3.0 + 7.0
    assert lm.lip_gap(scaled) == pytest.approx(gap, rel=1e-5)
    assert lm.lip_gap(np.stack([landmarks, landmarks])).shape == (2,)


def test_bilabial_closure_counts_phones_whose_middle_frame_is_closed():
    phones = [Phone("_", 0.0, 0.2), Phone("M", 0.2, 0.32), Phone("AA1", 0.32, 0.5), Phone("P", 0.5, 0.58),
              Phone("B", 0.9, 1.0), Phone("F", 1.0, 1.1)]
    speech = Speech(np.zeros(16000, np.float32), 16000, phones, alphabet="arpabet")
    gaps = np.full(30, 0.2)
    gaps[5:8] = 0.01  # M (middle at 0.26 s, frame 6.5) closed
    gaps[13:15] = 0.01  # P (middle at 0.54 s, frame 13.5) closed; B (0.95 s) open
    result = lm.bilabial_closure(gaps, speech, fps=FPS)
    assert result == {"bilabials": 3, "closed": 2, "fraction": pytest.approx(2 / 3)}
    assert [lm.is_bilabial(s, "ipa") for s in ("m", "bː", "p", "ˈb", "f", "a", "_")] == [True] * 4 + [False] * 3
    assert lm.is_bilabial("M", "arpabet") and not lm.is_bilabial("AA1", "arpabet")
    empty = lm.bilabial_closure(gaps, [Phone("a", 0.0, 0.5)], fps=FPS)
    assert empty["bilabials"] == 0 and math.isnan(empty["fraction"])


def test_bilabial_closure_of_a_speech_template(astronaut, analyzer):
    """The speech motion shuts the lips on every p/b/m (template landmarks, before rendering)."""
    from headshot.speech.motion import speech_motion

    landmarks = analyzer.detect_one(astronaut).landmarks
    phones = [Phone("_", 0.0, 0.2), Phone("m", 0.2, 0.3), Phone("a", 0.3, 0.55), Phone("p", 0.55, 0.65),
              Phone("a", 0.65, 0.9), Phone("_", 0.9, 1.1)]
    template = speech_motion(phones, landmarks, astronaut.shape[1::-1], FPS, head=False, eyes=False)
    result = lm.bilabial_closure(template, phones)
    assert result["bilabials"] == 2 and result["fraction"] == 1.0


def test_methods_are_pluggable_and_unknown_names_refused():
    from headshot.errors import HeadshotError
    from headshot.eval.lipsync_methods import METHODS, choose_methods

    chosen, skipped = choose_methods(None)
    names = {m.name for m in chosen} | set(skipped)
    assert names == {m.name for m in METHODS}
    assert {"energy", "talk"} <= {m.name for m in chosen}
    assert all(isinstance(reason, str) and reason for reason in skipped.values())
    # A model file that is not there: the learned rows are skipped with a note, never a crash.
    chosen, skipped = choose_methods(["learned", "energy"], {"audio2mouth_weights": "/nonexistent.safetensors"})
    assert [m.name for m in chosen] == ["energy"] and "learned" in skipped
    with pytest.raises(HeadshotError):
        choose_methods(["nope"])


def test_energy_envelope_is_centred_on_frames():
    from headshot.eval.lipsync_methods import energy_envelope

    rate = 16000
    samples = np.zeros(rate, np.float32)
    samples[int(0.40 * rate):int(0.48 * rate)] = 0.5  # a burst from 0.40 to 0.48 s
    envelope = energy_envelope(samples, 25, rate, FPS)
    assert envelope.argmax() in (10, 11) and envelope[5] < 1e-3 and envelope[20] < 1e-3


def _cli(*args) -> int:
    """Run ``headshot`` in-process; its exit code (success leaves through SystemExit(0))."""
    from headshot.cli import main

    try:
        return main([str(a) for a in args])
    except SystemExit as done:
        return done.code or 0


def test_lipsync_run_on_two_real_clips(dev_data, tmp_path):
    """Energy baseline, talk preset (and phones if recognition is installed) on two GRID clips, through
    the CLI: the table and files are written, numbers are in range, and the energy envelope's mouth follows
    real speech (best-lag r > 0)."""
    pytest.importorskip("headshot.render.warp")
    from headshot.eval.lipsync_methods import choose_methods

    data = tmp_path / "data"
    (data / "videos").mkdir(parents=True)
    for name in ("grid_spk_bbaf2n__LipNet__bbaf2n.mp4", "grid_spk_lbbc2a__LipNet__lbbc2a.mp4"):
        (data / "videos" / name).symlink_to(dev_data / "videos" / name)
    methods = ["energy", "talk", "jawOpen"] + [m.name for m in choose_methods(["phones"])[0]]
    out = tmp_path / "run"
    command = ["eval", "--protocol", "lipsync", "--data", data, "--out", out, "--say-portraits", "0",
               "--lipsync-methods", ",".join(methods)]
    assert _cli(*command) == 0
    for name in ("results.md", "results.json", "per_clip.csv", "plots/lipsync_curves.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "contact_sheets" / "lipsync").glob("*.png"))) == 2
    import json

    summary = json.loads((out / "results.json").read_text())
    table = summary["table"]
    assert set(table) == set(methods)
    for name in ("energy", "talk"):
        entry = table[name]
        assert entry["clips"] == 2
        assert -1.0 <= entry["r0"] <= entry["r_best"] <= 1.0
        assert abs(entry["offset_ms"]) <= 120.0
        assert 0.0 < entry["range_ratio"] < 5.0
        assert entry["duration_error_ms"] < 80.0  # within two frames of the audio
        assert entry["face_lost"] == 0.0
    assert table["energy"]["r_best"] > 0.0
    assert table["jawOpen"]["r_best"] > 0.5  # MediaPipe's own jawOpen follows the lip gap
    rows = list(csv.DictReader((out / "per_clip.csv").open()))
    assert {row["method"] for row in rows} == set(methods) | {"real speaker"}
    markdown = (out / "results.md").read_text()
    assert "| energy envelope (baseline) |" in markdown and "best r ±3" in markdown
    # Resume: nothing is recomputed.
    stamps = sorted((p, p.stat().st_mtime_ns) for p in (out / "cache").rglob("*.json"))
    assert _cli(*command) == 0
    assert sorted((p, p.stat().st_mtime_ns) for p in (out / "cache").rglob("*.json")) == stamps
    run = json.loads((out / "results.json").read_text())["machine"]["run"]
    assert run["rows_computed"] == 0 and run["rows_cached"] == 2 * len(methods)


def test_lipsync_cli_refusals(dev_data, tmp_path):
    base = ["eval", "--data", dev_data, "--out", tmp_path / "run"]
    assert _cli(*base, "--protocol", "lipsync,self") == 1
    assert _cli(*base, "--protocol", "lipsync", "--engine", "warp,neural") == 1
    assert _cli(*base, "--protocol", "lipsync", "--lipsync-methods", "nope") == 1
    assert _cli("eval", "--data", dev_data, "--out", dev_data / "videos", "--protocol", "lipsync") == 1
    assert not (tmp_path / "run").exists()


def test_say_check_plays_speech_as_headshot_say(dev_data, tmp_path):
    """The say check renders through the speech driver (no smoothing, no watermark) and counts closures on
    image-mode landmarks (the headline) with the video-mode count beside it; a mouth-shut portrait closes
    on at least 90 % of p/b/m; rows are cached; the report names both modes."""
    pytest.importorskip("headshot.render.warp")
    from headshot.eval.lipsync import LipsyncOptions
    from headshot.eval.lipsync_report import _say_lines
    from headshot.eval.lipsync_say import say_check

    options = LipsyncOptions(data=dev_data, out=tmp_path / "run", say_sources=1, size=256)
    (row,) = say_check(options)
    assert row["driver"] == "speech" and row["source_gap"] < 0.05 and row["face_lost"] == 0.0
    for key in ("output", "output_video", "template"):
        assert row[key]["bilabials"] >= 15, key
    assert row["template"]["fraction"] == 1.0
    assert row["output"]["fraction"] >= 0.9
    assert row["output"]["closed"] >= row["output_video"]["closed"]  # video mode lags short closures
    stamps = sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "run" / "cache").rglob("*.json"))
    (cached,) = say_check(options)
    assert {k: v for k, v in cached.items() if k != "signature"} == row
    assert sorted((p, p.stat().st_mtime_ns) for p in (tmp_path / "run" / "cache").rglob("*.json")) == stamps
    text = "\n".join(_say_lines([row], "text"))
    assert "image mode: the headline" in text and "video mode" in text and "Why image mode" in text
