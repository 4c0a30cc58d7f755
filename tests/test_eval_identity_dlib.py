"""dlib's ResNet identity cross-check: alignment, same vs different people on the dev portraits, the
``CSIM dlib`` column of ``headshot eval --identity both``, and the error when dlib is missing."""

from __future__ import annotations

import collections
import csv
import itertools
import math
import sys

import numpy as np
import pytest

from headshot.errors import MissingModelError
from headshot.eval import identity, toolkit
from headshot.eval.data import SelectionSettings
from headshot.eval.runner import EvalOptions, run_evaluation
from headshot.io.images import read_image

NEEDS_DLIB = "dlib is not installed: pip install 'headshot[dlib]'"


@pytest.fixture(scope="module")
def dlib_embedder():
    pytest.importorskip("dlib", reason=NEEDS_DLIB)
    return identity.DlibEmbedder()


def _portraits_by_person(dev_data, people: int, per_person: int = 2) -> dict[str, list]:
    by_person = collections.defaultdict(list)
    for path in sorted((dev_data / "portraits").glob("*.jpg")):
        by_person[path.name.split("__")[0]].append(path)
    chosen = [name for name, paths in by_person.items() if len(paths) >= per_person][:people]
    return {name: by_person[name][:per_person] for name in chosen}


def test_chips_from_our_landmarks_match_dlibs_own_five_point_predictor(dev_data, analyzer, dlib_embedder):
    """Our 5 points (from MediaPipe) land where dlib's own 5-point predictor puts them (seen: within 5% of the
    eye distance), and the embeddings of the two chips agree (seen: cosine >= 0.996): the ResNet sees the
    alignment it was trained with."""
    import dlib

    from headshot.assets import dlib_model_path

    predictor = dlib.shape_predictor(str(dlib_model_path("shape_predictor_5_face_landmarks.dat")))
    for paths in _portraits_by_person(dev_data, people=4, per_person=1).values():
        image = read_image(paths[0])
        landmarks = analyzer.detect_one(image).landmarks
        ours = landmarks[identity.DLIB_FIVE_POINTS, :2]
        (left, top), (right, bottom) = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
        shape = predictor(image, dlib.rectangle(int(left), int(top), int(right), int(bottom)))
        theirs = np.array([[p.x, p.y] for p in shape.parts()], np.float32)
        eye_distance = np.linalg.norm(ours[0] - ours[2])
        assert np.linalg.norm(ours - theirs, axis=1).max() < 0.08 * eye_distance, paths[0].name
        chip = identity.dlib_face_chip(image, landmarks)
        assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
        reference = dlib_embedder.embed_aligned(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        embedding = dlib_embedder.embed(image, landmarks)
        assert float(embedding @ reference / (np.linalg.norm(embedding) * np.linalg.norm(reference))) > 0.99


def test_dlib_tells_same_people_from_different_people(dev_data, analyzer, dlib_embedder):
    """The SFace test's pairs (first 6 people with 2 portraits each), through dlib's ResNet: every same-person
    cosine above every different-person one, and dlib's own Euclidean threshold (0.6) separates them too."""
    embeddings = []
    for person, paths in _portraits_by_person(dev_data, people=6).items():
        for path in paths:
            image = read_image(path)
            embedding = dlib_embedder.embed(image, analyzer.detect_one(image).landmarks)
            assert embedding.shape == (128,) and embedding.dtype == np.float32
            embeddings.append((person, embedding))
    assert len(embeddings) == 12
    same, different, same_distance = [], [], []
    for (person_a, a), (person_b, b) in itertools.combinations(embeddings, 2):
        cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        (same if person_a == person_b else different).append(cosine)
        if person_a == person_b:
            same_distance.append(float(np.linalg.norm(a - b)))
    # Seen: same 0.937..0.98 (mean 0.96), different up to 0.909 (mean 0.84): dlib's cosines sit high.
    assert min(same) > max(different) + 0.01
    assert np.mean(same) - np.mean(different) > 0.08
    assert max(same_distance) < 0.6


def test_missing_dlib_is_a_one_line_error_naming_the_pip_command(monkeypatch, tmp_path, dev_data):
    from headshot.cli import main

    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib now raises ImportError
    with pytest.raises(MissingModelError, match=r"pip install 'headshot\[dlib\]'"):
        identity.DlibEmbedder()
    with pytest.raises(MissingModelError, match="pip install"):
        toolkit.check_identity("both")
    toolkit.check_identity("sface")
    assert main(["eval", "--data", str(dev_data), "--out", str(tmp_path / "run"), "--identity", "both"]) == 1
    assert main(["eval", "--data", str(dev_data), "--out", str(tmp_path / "run"), "--identity", "arcface"]) == 1
    assert not (tmp_path / "run").exists()


def test_eval_reports_the_dlib_column_only_when_asked(dev_data, tmp_path):
    pytest.importorskip("dlib", reason=NEEDS_DLIB)
    selection = SelectionSettings(max_frames=2, stride=5, cross_portraits=1, max_videos=1)
    out = tmp_path / "both"
    summary = run_evaluation(EvalOptions(engines=[], data=dev_data, out=out, protocols=["self", "cross"],
                                         selection=selection, contact_sheets=False, identity="both"), progress=False)
    for protocol in ("self", "cross"):
        for label, row in summary["tables"][protocol].items():
            assert 0.5 < row["csim_dlib"] <= 1.0 + 1e-6, (protocol, label)
    # Cross-identity compares with the source: the unmoved source is the source.
    assert summary["tables"]["cross"]["source (unmoved)"]["csim_dlib"] == pytest.approx(1.0, abs=1e-5)
    markdown = (out / "results.md").read_text()
    assert "| CSIM ↑ | CSIM dlib ↑ |" in markdown
    assert "dlib identity cross-check: computed" in markdown
    with open(out / "per_video.csv", newline="") as stream:
        lines = list(csv.DictReader(stream))
    assert lines and all(math.isfinite(float(line["csim_dlib"])) for line in lines)
    assert summary["settings"]["identity"] == "both"

    plain = run_evaluation(EvalOptions(engines=[], data=dev_data, out=tmp_path / "sface", protocols=["self"],
                                       selection=selection, contact_sheets=False), progress=False)
    assert all("csim_dlib" not in row for row in plain["tables"]["self"].values())
    markdown = (tmp_path / "sface" / "results.md").read_text()
    assert "CSIM dlib" not in markdown
    assert "dlib identity cross-check: not run; pass --identity both" in markdown
    assert "pip install 'headshot[dlib]'" in markdown
