"""Train and evaluate the audio → mouth model (``headshot.speech.audio2mouth``) on talking clips.

One command regenerates the shipped weights and the numbers of its model card::

    python -m headshot.train.audio2mouth --dev ../shared/data/dev --run /work/cache/audio2mouth/runs/final \\
        --weights src/headshot/models/audio2mouth.safetensors
    python -m headshot.train.audio2mouth_card /work/cache/audio2mouth/runs/final

It tracks every dev clip with audio once (cached outside the repository), runs leave-identities-out
cross-validation (k folds by identity: a fold's people are never seen in training) for the model and two
baselines on the same folds (the RMS energy envelope, and ridge regression from log-mel context), then
trains the shipped model on all clips but those of ``HELD_OUT_IDENTITIES``. The run folder gets
``options.json``, ``clips.jsonl`` (one row per fold × clip × method), ``offsets.jsonl`` (per fold),
``summary.json``, ``card_table.md`` (the model card's table, derived from the rows), ``folds/fold<k>.safetensors``
(each fold's model, its held-out clips in the metadata: the lipsync evaluation scores a clip with the
model that never saw its speaker), ``predictions/<clip>.npy`` (that model's lip gap), and for the shipped
model ``offsets.json`` and ``final.json`` (training time, parameters, clips).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .audio2mouth_data import (
    Example,
    curve_stats,
    load_dev_clips,
    make_examples,
    shifted,
)
from .audio2mouth_fit import TrainOptions, fit, predict_lip_gap
from .audio2mouth_scores import (
    MAX_LAG,
    best_lag,
    best_lag_r,
    energy_envelope,
    lagged_r,
    ridge_features,
    ridge_fit,
)

log = logging.getLogger(__name__)

# Left out of the shipped model so that tests/test_speech_audio2mouth.py checks a voice and face it never saw.
HELD_OUT_IDENTITIES = ("vox2_7312_man_beard",)
LICENCE = "research-only: trained on the headshot dev clips (third-party media, no asset licence)"


def estimate_offsets(examples: list[Example], options: TrainOptions) -> dict[str, int]:
    """Audio-video offset of each clip (frames the face leads its audio), for :func:`shifted`.

    Some sources are out of sync (re-timed uploads: the Obama clips' faces lead their audio by 200 ms).
    Training on them as they are teaches the model late mouths and blurs its timing, so the offsets are
    measured first: ``options.align_folds``-fold cross-validation by identity over ``examples`` (each clip
    predicted by a model that never saw its speaker), then the lag within ``±options.max_offset`` at which
    the predicted lip gap correlates best with the tracked one.
    """
    offsets = {}
    for held_out in identity_folds(examples, options.align_folds):
        train = [e for e in examples if e.identity not in held_out]
        rest, spread = curve_stats(train)
        model = fit(train, rest, spread, dataclasses.replace(options, members=1))
        for example in (e for e in examples if e.identity in held_out):
            truth = np.nan_to_num(example.raw[:, 0])
            prediction = predict_lip_gap(model, example)
            lag = best_lag(prediction, truth, example.present, options.max_offset)
            gain = (lagged_r(prediction, truth, example.present, lag)
                    - np.nan_to_num(lagged_r(prediction, truth, example.present, 0)))
            # Move a clip only when the evidence is clear: a noisy clip's best lag is noise.
            offsets[example.name] = lag if gain >= options.min_offset_gain else 0
    return offsets


# ------------------------------------------------------------------------------------ cross-validation

def identity_folds(examples: list[Example], k: int) -> list[list[str]]:
    """``k`` groups of identities with about equal numbers of clips (then frames), deterministic."""
    by_identity: dict[str, list[Example]] = {}
    for example in examples:
        by_identity.setdefault(example.identity, []).append(example)
    order = sorted(by_identity, key=lambda i: (-sum(len(e.targets) for e in by_identity[i]), i))
    folds: list[list[str]] = [[] for _ in range(k)]
    load = [(0, 0)] * k
    for identity in order:
        target = min(range(k), key=lambda f: (load[f][0], load[f][1], f))
        folds[target].append(identity)
        clips, frames = load[target]
        load[target] = (clips + len(by_identity[identity]), frames + sum(len(e.targets) for e in by_identity[identity]))
    return folds


def cross_validate(examples: list[Example], options: TrainOptions, k: int, run: Path) -> dict:
    """Leave-identities-out CV of the model, the energy envelope and ridge regression on the same folds.

    Per fold: the training clips' audio-video offsets are measured (:func:`estimate_offsets`, training
    clips only) and undone, the model and ridge are trained, and every held-out clip is scored as it is
    (no offset correction): best-lag r within ±``MAX_LAG`` frames, and within ±8 frames for reference.
    Writes ``clips.jsonl`` (one row per fold × clip × method), ``folds/fold<k>.safetensors``,
    ``predictions/<clip>.npy`` (the fold model's lip gap) and ``offsets.jsonl`` to ``run``; returns per-fold
    and overall means.
    """
    folds = identity_folds(examples, k)
    (run / "predictions").mkdir(parents=True, exist_ok=True)
    (run / "folds").mkdir(parents=True, exist_ok=True)
    rows = []
    with open(run / "offsets.jsonl", "w") as offsets_file:
        for fold, held_out in enumerate(folds):
            started = time.time()
            train = [e for e in examples if e.identity not in held_out]
            offsets = estimate_offsets(train, options) if options.align_folds else {}
            offsets_file.write(json.dumps({"fold": fold, "offsets": offsets}) + "\n")
            train = [shifted(e, offsets.get(e.name, 0)) for e in train]
            rest, spread = curve_stats(train)
            model = fit(train, rest, spread, options)
            model.metadata = {"held_out_clips": json.dumps(sorted(e.name for e in examples if e.identity in held_out)),
                              "held_out_identities": json.dumps(held_out), "licence": LICENCE}
            model.save(run / "folds" / f"fold{fold}.safetensors")
            weights, mean, scale = ridge_fit(train)
            for example in (e for e in examples if e.identity in held_out):
                truth = np.nan_to_num(example.raw[:, 0])
                predictions = {
                    "model": predict_lip_gap(model, example),
                    "energy": energy_envelope(example.samples, len(truth)),
                    "ridge": ((ridge_features(example) - mean) / scale) @ weights,
                }
                np.save(run / "predictions" / f"{example.name}.npy", predictions["model"])
                for method, prediction in predictions.items():
                    for suffix, max_lag in (("", MAX_LAG), (" ±8", 8)):
                        rows.append({"fold": fold, "clip": example.name, "identity": example.identity,
                                     "method": method + suffix, "frames": len(truth),
                                     "r": round(best_lag_r(prediction, truth, example.present, max_lag), 4)})
            log.info("fold %d (%s): %s, %.0f s", fold, ", ".join(held_out),
                     {m: round(float(np.mean([r["r"] for r in rows if r["fold"] == fold and r["method"] == m])), 3)
                      for m in ("model", "energy", "ridge")}, time.time() - started)
    with open(run / "clips.jsonl", "w") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in rows)
    return summarise(rows, folds)


def summarise(rows: list[dict], folds: list[list[str]]) -> dict:
    """Per-fold and overall mean r per method (the mean over clips, each clip counted once)."""
    methods = sorted({row["method"] for row in rows})
    summary = {"folds": [], "mean": {}}
    for fold, identities in enumerate(folds):
        entry = {"fold": fold, "identities": identities,
                 "clips": len({row["clip"] for row in rows if row["fold"] == fold})}
        for method in methods:
            entry[method] = float(np.mean([row["r"] for row in rows if row["fold"] == fold and row["method"] == method]))
        summary["folds"].append(entry)
    for method in methods:
        summary["mean"][method] = float(np.mean([row["r"] for row in rows if row["method"] == method]))
    return summary


def card_table(summary: dict) -> str:
    """The model card's cross-validation table (Markdown) from a summary."""
    columns = ("model", "energy", "ridge", "model ±8", "energy ±8")
    lines = ["| fold | held-out identities | clips | model r | energy r | ridge r | model r, lag ±8 | energy r, lag ±8 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for entry in summary["folds"]:
        lines.append(f"| {entry['fold']} | {', '.join(entry['identities'])} | {entry['clips']} | "
                     + " | ".join(f"{entry[c]:.3f}" for c in columns) + " |")
    mean = summary["mean"]
    clips = sum(entry["clips"] for entry in summary["folds"])
    lines.append(f"| **mean over clips** | | {clips} | **{mean['model']:.3f}** | "
                 + " | ".join(f"{mean[c]:.3f}" for c in columns[1:]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=Path("../shared/data/dev"), help="dev data root")
    parser.add_argument("--cache", type=Path, default=Path("/work/cache/audio2mouth/tracks"),
                        help="track cache (outside the repository)")
    parser.add_argument("--run", type=Path, required=True, help="run folder (options, rows, summary)")
    parser.add_argument("--weights", type=Path, default=None, help="write the all-clips model here")
    parser.add_argument("--folds", type=int, default=5, help="identity folds (0: skip cross-validation)")
    parser.add_argument("--exclude", nargs="*", default=list(HELD_OUT_IDENTITIES),
                        help="identities left out of the shipped model (tests check lip sync on them)")
    parser.add_argument("--steps", type=int, default=None, help="override TrainOptions.steps")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON", help="override TrainOptions fields")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    import torch

    torch.set_num_threads(args.threads)
    options = TrainOptions()
    if args.steps is not None:
        options.steps = args.steps
    for item in args.set:
        key, value = item.split("=", 1)
        if not hasattr(options, key):
            raise SystemExit(f"unknown option {key}")
        setattr(options, key, json.loads(value))
    args.run.mkdir(parents=True, exist_ok=True)
    (args.run / "options.json").write_text(json.dumps(asdict(options), indent=1))

    clips = load_dev_clips(args.dev, args.cache)
    examples = make_examples(clips, options.n_mels)
    log.info("%d clips, %d identities, %d frames", len(examples), len({e.identity for e in examples}),
             sum(len(e.targets) for e in examples))
    if args.folds:
        summary = cross_validate(examples, options, args.folds, args.run)
        (args.run / "summary.json").write_text(json.dumps(summary, indent=1))
        (args.run / "card_table.md").write_text(card_table(summary))
        log.info("mean r: %s", summary["mean"])
    if args.weights is not None:
        train = [e for e in examples if e.identity not in args.exclude]
        rest, spread = curve_stats(train)
        offsets = estimate_offsets(train, options) if options.align_folds else {}
        (args.run / "offsets.json").write_text(json.dumps(offsets, indent=1))
        log.info("offsets: %s", {k: v for k, v in offsets.items() if v})
        started = time.time()
        model = fit([shifted(e, offsets.get(e.name, 0)) for e in train], rest, spread, options)
        seconds = time.time() - started
        model.metadata = {
            "training": json.dumps({"clips": sorted(e.name for e in train), "excluded_identities": args.exclude,
                                    "offsets": {k: v for k, v in offsets.items() if v}, "options": asdict(options)}),
            "licence": LICENCE,
        }
        model.save(args.weights)
        (args.run / "final.json").write_text(json.dumps({
            "weights": str(args.weights), "parameters": model.parameter_count(), "members": options.members,
            "clips": len(train), "identities": len({e.identity for e in train}),
            "frames": sum(len(e.targets) for e in train), "excluded_identities": args.exclude,
            "fit_seconds": round(seconds, 1), "threads": args.threads}, indent=1))
        log.info("wrote %s (%d parameters, %d clips)", args.weights, model.parameter_count(), len(train))


if __name__ == "__main__":
    main()
