"""Training pieces of the audio → mouth model: identity folds, offset shifting, scores, and the model card
filled from a run folder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from headshot.speech import features
from headshot.train.audio2mouth import card_table, identity_folds, summarise
from headshot.train.audio2mouth_card import main as card_main
from headshot.train.audio2mouth_card import update_card
from headshot.train.audio2mouth_data import Example, shifted
from headshot.train.audio2mouth_scores import best_lag, best_lag_r, lagged_r


def _example(name: str, identity: str, frames: int, seed: int = 0) -> Example:
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(frames, 3)).astype(np.float32)
    return Example(name, identity, np.zeros((4, 40), np.float32),
                   features.RecordingStats(-5.0, np.zeros(40, np.float32)), raw.copy(), np.ones(frames, bool), raw)


def test_identity_folds_keep_a_person_in_one_fold_and_balance_clips():
    examples = [_example(f"c{i}", f"p{i % 7}", 50 + i) for i in range(20)]
    folds = identity_folds(examples, 4)
    assert folds == identity_folds(list(reversed(examples)), 4)  # deterministic, order-free
    flat = [identity for fold in folds for identity in fold]
    assert sorted(flat) == sorted({e.identity for e in examples})  # each person exactly once
    clips = [sum(e.identity in fold for e in examples) for fold in folds]
    assert max(clips) - min(clips) <= 3


def test_shifted_moves_the_face_later_and_scores_find_the_lag():
    example = _example("c", "p", 200)
    moved = shifted(example, 3)
    np.testing.assert_array_equal(moved.targets[3:], example.targets[:-3])
    assert not moved.present[:3].any() and np.isnan(moved.raw[:3]).all()
    truth = example.raw[:, 0]
    prediction = np.roll(truth, 2)  # prediction[t + 2] = truth[t]
    assert best_lag(prediction, truth, example.present, 3) == 2
    assert best_lag_r(prediction, truth, example.present) > 0.99
    assert lagged_r(prediction, truth, example.present, 0) < 0.3
    assert best_lag_r(np.ones(200), truth, example.present) == 0.0


def test_card_numbers_come_from_the_run_folder(tmp_path):
    rows = [{"fold": f, "clip": f"c{f}{k}", "identity": f"p{f}", "method": m, "frames": 100, "r": r}
            for f in range(2) for k in range(2)
            for m, r in (("model", 0.5 + 0.1 * f), ("energy", 0.3), ("ridge", 0.4), ("model ±8", 0.55),
                         ("energy ±8", 0.35))]
    summary = summarise(rows, [["p0"], ["p1"]])
    assert summary["mean"]["model"] == pytest.approx(0.55)
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(summary))
    (run / "options.json").write_text(json.dumps({
        "channels": [64, 96], "dilations": [1, 2, 4], "norm_frames": 32, "dropout": 0.1, "steps": 500, "lr": 0.002,
        "weight_decay": 0.05, "batch": 16, "crop_frames": 64, "seed": 0}))
    (run / "final.json").write_text(json.dumps({"members": 3, "parameters": 401234, "clips": 34, "identities": 28,
                                                "frames": 5800, "fit_seconds": 47.0, "threads": 1}))
    card = tmp_path / "CARD.md"
    card.write_text("| | |\n|---|---|\n| network | old |\n| training | old |\n| speed | old |\n\n"
                    "<!-- card:cv:start -->\nold table\n<!-- card:cv:end -->\n")
    assert card_main([str(run), "--card", str(card), "--check"]) == 1
    assert card_main([str(run), "--card", str(card)]) == 0
    text = card.read_text()
    assert "401,234 parameters" in text and "34 clips" in text and "old table" not in text
    assert card_table(summary) in text and "| speed | old |" in text  # no bench.json: speed left alone
    assert card_main([str(run), "--card", str(card), "--check"]) == 0
    assert update_card(text, run) == text
    assert card_main([str(tmp_path / "missing"), "--card", str(card)]) == 2
