"""How the recording's speech motion was tuned: the lip-sync correlation of ``animate --audio``'s motion
(before rendering) with each setting of headshot.speech.learned_mouth / headshot.speech.motion changed
alone, and an honest estimate of the chosen settings: chosen on four folds of speakers, scored on the fifth.

    python benchmarks/lipsync_fusion.py --run runs/lipsync16 --cv /work/cache/audio2mouth/runs/final

``--run``: a lipsync run folder (``headshot eval --protocol lipsync``) whose cache holds each clip's tracked
real speaker; ``--cv``: the audio → mouth cross-validation run (out-of-fold predictions, ``summary.json``
naming each fold's held-out identities). Prints one line per setting: mean best-lag r over the clips.
The motion's own lip gap is scored, not a rendering of it: for these rows rendering changes r by < 0.01
(the run's "best r before render" column against "best r ±3").
"""

from __future__ import annotations

import argparse
import itertools
import json
from contextlib import ExitStack
from pathlib import Path
from unittest import mock

import numpy as np

from headshot.eval import lipsync_metrics as lm
from headshot.eval.data import _item_id
from headshot.eval.lipsync import audio_clips, read_clip_audio
from headshot.eval.lipsync_methods import ClipSpeech, build_phones_learned, recognised_speech
from headshot.speech import learned_mouth, motion

SETTINGS = {"lead": (learned_mouth, "RECORDING_LEAD"), "weight": (learned_mouth, "LEARNED_WEIGHT"),
            "rest": (learned_mouth, "REST_PERCENTILE"), "pause": (motion, "REST_PAUSE")}
ALONE = [("lead", 0.0), ("lead", 0.04), ("lead", 0.12), ("weight", 1.0), ("weight", 2.0), ("weight", 3.0),
         ("rest", 5.0), ("rest", 15.0), ("pause", 0.15), ("pause", 1.0), ("pause", 1e9)]
GRID = {"lead": (0.04, 0.08, 0.12), "weight": (1.5, 2.0, 3.0), "rest": (15.0, 25.0), "pause": (0.7, 1.0, 1e9)}


def load_clips(data: Path, run: Path, cv: Path) -> list[ClipSpeech]:
    clips = []
    for video in audio_clips(data):
        item = _item_id(video.relative)
        real = np.load(run / "cache" / "lipsync" / item / "speaker-track.npz")
        clip = ClipSpeech(item, read_clip_audio(video.path), 16000, float(real["fps"]), real["landmarks"][0],
                          tuple(int(v) for v in real["frame_size"]), real["landmarks"], real["present"],
                          real["blendshapes"], settings={"audio2mouth_weights": str(cv)})
        clip.shared["gap"] = real["gap"]
        recognised_speech(clip)  # once per clip: the settings change the motion, not the recognition
        clips.append(clip)
        print(f"recognised {item}", flush=True)
    return clips


def scores(clips: list[ClipSpeech], values: dict) -> np.ndarray:
    """Best-lag r of each clip's ``animate --audio`` motion with the settings in ``values``."""
    with ExitStack() as stack:
        for name, value in values.items():
            module, attribute = SETTINGS[name]
            stack.enter_context(mock.patch.object(module, attribute, value))
        return np.array([lm.best_lag(lm.lip_gap(build_phones_learned(clip).landmarks), clip.shared["gap"],
                                     clip.fps)["r_best"] for clip in clips])


def folds_of(clips: list[ClipSpeech], cv: Path) -> np.ndarray:
    held_out = {identity: fold["fold"] for fold in json.loads((cv / "summary.json").read_text())["folds"]
                for identity in fold["identities"]}
    return np.array([next(f for identity, f in held_out.items() if clip.name.startswith(identity + "__"))
                     for clip in clips])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/dev"))
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--cv", type=Path, required=True)
    args = parser.parse_args()
    clips = load_clips(args.data, args.run, args.cv)
    defaults = {name: getattr(module, attribute) for name, (module, attribute) in SETTINGS.items()}
    print(f"defaults {defaults}: mean best r {np.nanmean(scores(clips, {})):.4f} over {len(clips)} clips")
    for name, value in ALONE:
        print(f"  {name} = {value:g}: {np.nanmean(scores(clips, {name: value})):.4f}", flush=True)
    grid = [dict(zip(GRID, combo)) for combo in itertools.product(*GRID.values())]
    table = np.stack([scores(clips, values) for values in grid])
    folds = folds_of(clips, args.cv)
    chosen = np.zeros(len(clips))
    for fold in np.unique(folds):
        best = int(np.nanargmax(np.nanmean(table[:, folds != fold], axis=1)))
        chosen[folds == fold] = table[best, folds == fold]
        print(f"fold {fold}: chose {grid[best]}")
    best = int(np.nanargmax(np.nanmean(table, axis=1)))
    print(f"best on all clips {grid[best]}: {np.nanmean(table[best]):.4f}; "
          f"chosen on four folds, scored on the fifth: {np.nanmean(chosen):.4f}")


if __name__ == "__main__":
    main()
