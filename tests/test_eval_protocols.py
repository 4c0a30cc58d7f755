"""Protocols, manifest, crop box, baselines and the whole ``headshot eval`` run on a tiny dev subset."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from headshot.errors import HeadshotError, InputError
from headshot.eval import baselines, data, protocols, rows
from headshot.eval.runner import EvalOptions, run_evaluation
from headshot.io.video import count_frames
from headshot.render.base import EngineInfo


@pytest.fixture(scope="module")
def astronaut_face(astronaut):
    from headshot.face.landmarker import FaceAnalyzer

    with FaceAnalyzer(video=False, max_faces=1) as analyzer:
        return analyzer.detect(astronaut)[0]


def test_manifest_selects_frames_reproducibly(dev_data):
    settings = data.SelectionSettings(max_frames=5, stride=3, fewshot_videos=3, cross_portraits=4)
    first = data.build_manifest(dev_data, settings, ["self", "fewshot", "cross"])
    second = data.build_manifest(dev_data, settings, ["self", "fewshot", "cross"])
    assert first == second
    assert len(first["self"]) == 98
    counts = {v.relative: count_frames(v.path) for v in data.find_videos(dev_data)[:3]}
    for entry in first["self"][:3]:
        assert entry["frames"] == list(range(3, 16, 3))
        assert max(entry["frames"]) < counts[entry["video"]]
    for entry in first["fewshot"]:
        total = count_frames(dev_data / entry["video"])
        assert len(entry["shots"]) == 32 and max(entry["shots"]) < total // 2 <= min(entry["targets"])
    assert len({e["identity"] for e in first["fewshot"]}) == len(first["fewshot"]) == 3
    assert len(first["cross"]) == 4
    for entry in first["cross"]:
        assert entry["identity"] != entry["driver_identity"]
        assert (dev_data / entry["driver"]).is_file()


def test_manifest_of_the_split_holds_only_unseen_people(dev_data):
    """headshot eval --split: every protocol draws from the split's held-out identities only."""
    from headshot.train.split import DEV_SPLIT, load_split

    heldout = tuple(sorted(load_split(DEV_SPLIT)))
    settings = data.SelectionSettings(max_frames=2, stride=3, fewshot_videos=20, cross_portraits=20,
                                      identities=heldout)
    manifest = data.build_manifest(dev_data, settings, ["self", "fewshot", "cross"])
    assert manifest["settings"]["identities"] == list(heldout)
    assert {e["identity"] for e in manifest["fewshot"]} == set(heldout)  # one clip per unseen person
    assert all(e["identity"] in heldout for e in manifest["self"])
    assert all(e["identity"] in heldout and e["driver_identity"] in heldout for e in manifest["cross"])


def test_manifest_file_round_trip_and_errors(tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"version": 1, "self": []}))
    assert data.load_manifest(path)["self"] == []
    path.write_text("{not json")
    with pytest.raises(InputError):
        data.load_manifest(path)
    path.write_text(json.dumps({"version": 99}))
    with pytest.raises(InputError):
        data.load_manifest(path)


def test_voxceleb_style_identities(tmp_path):
    (tmp_path / "id001" / "vidA").mkdir(parents=True)
    (tmp_path / "id001" / "vidA" / "00001.mp4").write_bytes(b"")
    (tmp_path / "flat__x.mp4").write_bytes(b"")
    found = {v.relative: v.identity for v in data.find_videos(tmp_path)}
    assert found == {"flat__x.mp4": "flat", "id001/vidA/00001.mp4": "id001"}


def test_crop_box_maps_landmarks_and_pixels_consistently(astronaut, astronaut_face):
    box = data.eval_crop_box(astronaut_face.landmarks)
    crop = data.eval_crop(astronaut, box)
    assert crop.shape == (256, 256, 3)
    in_crop = box.to_crop(astronaut_face.landmarks, data.EVAL_SIZE)
    assert np.allclose(box.to_image(in_crop, data.EVAL_SIZE), astronaut_face.landmarks, atol=1e-3)
    assert in_crop[:, :2].min() > 0 and in_crop[:, :2].max() < 256
    # The pixel under a landmark is the same in the frame and in the crop.
    x, y = astronaut_face.landmarks[1, :2]
    cx, cy = in_crop[1, :2]
    assert np.abs(astronaut[int(round(y)), int(round(x))].astype(int)
                  - crop[int(round(cy)), int(round(cx))].astype(int)).max() < 40


def test_eval_crop_is_the_inference_and_training_crop(astronaut_face):
    """One framing everywhere: the eval box is face.crop's (animate) and prepare's (training) box."""
    from headshot.face.crop import crop_box
    from headshot.train.prepare import clip_crop_box

    box = data.eval_crop_box(astronaut_face.landmarks)
    animate = crop_box(astronaut_face.landmarks, snap=False)
    training = clip_crop_box(astronaut_face.landmarks[None])
    assert np.allclose([box.x0, box.y0, box.side], [animate.x0, animate.y0, animate.side], atol=1e-3)
    assert np.allclose([box.x0, box.y0, box.side], [training.x0, training.y0, training.side], atol=1.0)


def test_relative_targets(astronaut_face):
    source = astronaut_face.landmarks
    reference = source * 0.5 + np.array([10, 20, 0], np.float32)  # the driver: half size, elsewhere
    assert np.allclose(protocols.relative_targets(source, reference, reference), source, atol=1e-3)
    moved = reference + np.array([2.0, -1.0, 0.0], np.float32)
    target = protocols.relative_targets(source, reference, moved)
    assert np.allclose(target[:, :2] - source[:, :2], [4.0, -2.0], atol=1e-2)  # scaled by 2 into the source


def test_baseline_engines(astronaut, astronaut_face):
    box = data.eval_crop_box(astronaut_face.landmarks)
    crop, landmarks = data.eval_crop(astronaut, box), box.to_crop(astronaut_face.landmarks, data.EVAL_SIZE)
    source = baselines.SourceEngine()
    source.prepare(crop, landmarks)
    assert np.array_equal(source.render(landmarks + 5), crop)
    similarity = baselines.SimilarityWarpEngine()
    similarity.prepare(crop, landmarks)
    assert np.abs(similarity.render(landmarks).astype(int) - crop).mean() < 1.0
    shifted = similarity.render(landmarks + np.array([8.0, 0.0, 0.0], np.float32))
    assert np.abs(shifted[:, 8:].astype(int) - crop[:, :-8]).mean() < 1.0


def test_engine_rows_and_unknown_engines():
    table_rows = rows.engine_rows([], "self")
    assert [r.label for r in table_rows] == ["source (unmoved)", "similarity warp (5 points)"]
    with pytest.raises(HeadshotError):
        rows.make_engine("no-such-engine")
    assert not rows.engine_supports_finetune(baselines.SourceEngine())


def test_self_reenactment_of_the_source_frame_itself_is_perfect(dev_data, tmp_path):
    """With the source frame as its own target, the unmoved source is exact: L1 0, SSIM 1, AKD 0."""
    manifest = {"version": 1, "self": [{"id": "clip", "video": "videos/aoc__EDTalk__pose_source1.mp4",
                                        "identity": "aoc", "source_frame": 0, "frames": [0]}]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    summary = run_evaluation(EvalOptions(engines=[], data=dev_data, out=tmp_path / "run", protocols=["self"],
                                         manifest=path, contact_sheets=False), progress=False)
    row = summary["tables"]["self"]["source (unmoved)"]
    assert row["l1"] == 0.0 and row["ssim"] == pytest.approx(1.0) and row["akd"] == 0.0
    assert row["perceptual"] == pytest.approx(0.0, abs=1e-6) and row["csim"] == pytest.approx(1.0, abs=1e-5)


def test_eval_run_writes_everything_and_resumes(dev_data, tmp_path):
    pytest.importorskip("headshot.render.warp")
    out = tmp_path / "run"
    options = EvalOptions(engines=["warp"], data=dev_data, out=out, protocols=["self", "cross"],
                          selection=data.SelectionSettings(max_frames=3, stride=5, cross_portraits=1, max_videos=1))
    summary = run_evaluation(options, progress=False)
    table = summary["tables"]["self"]
    assert set(table) == {"source (unmoved)", "similarity warp (5 points)", "warp (driver pixels)",
                          "warp (template, no pixels)"}
    for row in table.values():
        assert row["frames"] == 3 and math.isfinite(row["l1"]) and math.isfinite(row["fid_mobilenet"])
    # The unmoved source cannot follow motion: any real engine must have the lower AKD.
    assert table["warp (template, no pixels)"]["akd"] < table["source (unmoved)"]["akd"]
    assert table["source (unmoved)"]["jitter_ratio"] == pytest.approx(0.0, abs=1e-9)
    cross = summary["tables"]["cross"]
    assert cross["source (unmoved)"]["csim"] == pytest.approx(1.0, abs=1e-5)
    for name in ("results.json", "results.md", "per_video.csv", "manifest.json",
                 "plots/self_distributions.png", "plots/self_per_frame.png"):
        assert (out / name).is_file(), name
    sheets = list((out / "contact_sheets").rglob("*.png"))
    assert len(sheets) == 2
    sheet = cv2.imread(str(sheets[0]))
    assert sheet.shape[1] >= 6 * 192
    markdown = (out / "results.md").read_text()
    assert "MobileNetV2 perceptual distance" in markdown and "LPIPS: not computed" in markdown
    assert "other datasets" in markdown and "0.043" in markdown and "43.0 / 38.0 / 29.5" in markdown
    assert "| warp (template, no pixels) |" in markdown
    # Resume: cached items are reused, not recomputed.
    cache = sorted((out / "cache").rglob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in cache]
    again = run_evaluation(options, progress=False)
    assert [p.stat().st_mtime_ns for p in cache] == stamps
    assert again["tables"]["self"]["warp (template, no pixels)"]["l1"] == table["warp (template, no pixels)"]["l1"]


def test_cli_rejects_bad_input(tmp_path, dev_data):
    from headshot.cli import main

    assert main(["eval", "--data", str(dev_data), "--out", str(tmp_path), "--protocol", "nope"]) == 1
    assert main(["eval", "--data", str(tmp_path / "absent"), "--out", str(tmp_path)]) == 1


def test_fewshot_protocol_reports_every_shot_count(dev_data, tmp_path):
    """Few-shot on one clip (baselines only, fast): one row per T; single-image engines repeat T=1."""
    manifest = {"version": 1, "settings": {"shots": [1, 4]},
                "fewshot": [{"id": "clip", "video": "videos/aoc__EDTalk__pose_source1.mp4", "identity": "aoc",
                             "shots": [0, 20, 40, 60], "targets": [150, 200, 240]}]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    summary = run_evaluation(EvalOptions(engines=[], data=dev_data, out=tmp_path / "run", protocols=["fewshot"],
                                         manifest=path), progress=False)
    table = summary["tables"]["fewshot"]
    assert set(table) == {f"{label}|T={t}" for label in ("source (unmoved)", "similarity warp (5 points)")
                          for t in (1, 4)}
    one, four = table["similarity warp (5 points)|T=1"], table["similarity warp (5 points)|T=4"]
    assert one["frames"] == 3 and one["shots_used"] == [1]
    assert one["l1"] == four["l1"] and math.isfinite(one["fid_mobilenet"])
    assert one["akd"] < table["source (unmoved)|T=1"]["akd"]  # following the head beats standing still
    markdown = (tmp_path / "run" / "results.md").read_text()
    assert "one row stands for every T" in markdown and "| source (unmoved), T=1, 4 (one image) |" in markdown
    assert len(list((tmp_path / "run" / "contact_sheets" / "fewshot").glob("*.png"))) == 1


class _FinetuneRecorder:
    """A stand-in engine that declares it can be fine-tuned: renders the shot unchanged; the fine-tuning
    calls (``headshot.train.finetune.finetune_engine``) are recorded in ``calls``."""

    info = EngineInfo(name="recorder", description="test stand-in", finetunes=True)
    calls: list = []

    def prepare(self, crop, landmarks):
        self.crop = crop

    def render(self, target_landmarks, driver_frame=None, driver_landmarks=None):
        return self.crop


def test_cli_finetune_steps_reach_the_engine(dev_data, tmp_path, monkeypatch):
    import inspect

    from headshot.cli import main
    from headshot.neural.engine import NeuralEngine
    from headshot.train import finetune

    assert NeuralEngine.info.finetunes and "steps" in inspect.signature(finetune.finetune_engine).parameters
    make_engine = rows.make_engine
    monkeypatch.setattr(rows, "make_engine",
                        lambda name, **options: _FinetuneRecorder() if name == "recorder" else make_engine(name, **options))
    monkeypatch.setattr(_FinetuneRecorder, "calls", [])
    monkeypatch.setattr(finetune, "finetune_engine",
                        lambda engine, shots, steps=None: _FinetuneRecorder.calls.append((len(shots), steps)))
    manifest = {"version": 1, "settings": {"shots": [1, 2]},
                "fewshot": [{"id": "clip", "video": "videos/aoc__EDTalk__pose_source1.mp4", "identity": "aoc",
                             "shots": [0, 40], "targets": [200]}]}
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    arguments = ["eval", "--data", str(dev_data), "--out", str(tmp_path / "run"), "--manifest", str(path),
                 "--protocol", "fewshot", "--engine", "recorder", "--no-contact-sheets"]
    def cli(*extra: str) -> int:
        try:
            return main([*arguments, *extra])
        except SystemExit as done:  # typer's standalone mode exits on success
            return done.code

    assert cli("--finetune-steps", "3") == 0
    assert _FinetuneRecorder.calls == [(1, 3)]  # one-image engine: T=2 repeats T=1
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["settings"]["finetune_steps"] == 3
    assert "recorder fine-tuned (template, no pixels)|T=1" in results["tables"]["fewshot"]
    # Without the option the engine keeps its own default; the changed setting is not served from the cache.
    assert cli() == 0
    assert _FinetuneRecorder.calls == [(1, 3), (1, None)]
