"""SFace identity embeddings: alignment, and same vs different people on the dev portraits."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from headshot.eval import identity
from headshot.io.images import read_image


@pytest.fixture(scope="module")
def embedder():
    return identity.SFaceEmbedder()


def test_alignment_puts_the_five_points_on_the_template(astronaut, analyzer):
    face = analyzer.detect(astronaut)[0]
    aligned = identity.align_face(astronaut, face.landmarks)
    assert aligned.shape == (112, 112, 3) and aligned.dtype == np.uint8
    again = analyzer.detect(np.ascontiguousarray(np.kron(aligned, np.ones((2, 2, 1), np.uint8))))
    assert again, "the aligned face must still be a face"
    points = identity.five_points(again[0].landmarks) / 2
    errors = np.linalg.norm(points - identity.ARCFACE_TEMPLATE, axis=1)
    assert errors.mean() < 6.0  # a least-squares fit: her wide smile pulls it a few pixels
    assert errors.max() < 9.0


def test_similarity_transform_recovers_a_known_transform():
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = np.radians(20), 1.7, np.array([5.0, -3.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ (scale * rotation).T + shift
    matrix = identity.similarity_transform(points, moved)
    assert np.allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    assert np.allclose(matrix[:, 2], shift, atol=1e-9)


def test_embedding_is_unit_length_and_deterministic(astronaut, analyzer, embedder):
    face = analyzer.detect(astronaut)[0]
    first = embedder.embed(astronaut, face.landmarks)
    second = embedder.embed(astronaut, face.landmarks)
    assert first.shape == (128,)
    assert np.linalg.norm(first) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(first, second)


def test_same_people_are_clearly_apart_from_different_people(dev_data, analyzer, embedder):
    by_person = collections.defaultdict(list)
    for path in sorted((dev_data / "portraits").glob("*.jpg")):
        by_person[path.name.split("__")[0]].append(path)
    people = [name for name, paths in by_person.items() if len(paths) >= 2][:6]
    assert len(people) >= 4
    embeddings = []
    for person in people:
        for path in by_person[person][:2]:
            image = read_image(path)
            embeddings.append((person, embedder.embed(image, analyzer.detect_one(image).landmarks)))
    same, different = [], []
    for (person_a, a), (person_b, b) in itertools.combinations(embeddings, 2):
        (same if person_a == person_b else different).append(float(a @ b))
    assert min(same) > max(different) + 0.1
    assert np.mean(same) - np.mean(different) > 0.4


def test_dequantised_model_matches_the_int8_file(astronaut, analyzer, embedder):
    """Folding the int8 weights to float once gives the same embeddings as the file's own graph."""
    import onnxruntime

    model = identity.load_sface_graph()
    assert any(node.op_type == "DequantizeLinear" for node in model.graph.node)
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    original = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    face = identity.align_face(astronaut, analyzer.detect(astronaut)[0].landmarks)
    reference = original.run(None, {"data": face.astype(np.float32).transpose(2, 0, 1)[None]})[0][0]
    reference = reference / np.linalg.norm(reference)
    assert np.allclose(embedder.embed_aligned(face), reference, atol=1e-4)
