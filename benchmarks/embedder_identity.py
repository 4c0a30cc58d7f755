"""Does the embedder E tell people apart? Re-identification with its embedding ê on dev clips (issue 14).

    python benchmarks/embedder_identity.py src/headshot/models/neural_default.safetensors \\
        runs/cpu-fix/model.safetensors --data runs/dev128 --split configs/splits/dev.yaml

Few shots can only beat one (FF T = 8 > T = 1) if ê carries who the person is. For every clip of the split's
held-out people (and, with ``--train``, as many training clips), ê is computed from T frames of the clip's
first half (the query) and from T other frames of its second half (the gallery); printed per model and T
(see :func:`scores`): re-identification of the query's own clip (easy: background and light), of the same
person in another clip (the real test; with chance), the cosine gap same person − other people, and the
share of ê that differs between clips at all. Two references in the same frames:
E at its initialisation (same config, seed 0: what colour and layout alone give a conv net) and SFace, a
trained identity network (the evaluation's CSIM network, never used in training).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from headshot.neural.checkpoint import load_model
from headshot.neural.embedder import Embedder
from headshot.neural.sketch import to_tensor
from headshot.train.dataset import EpisodeDataset, draw_sketches
from headshot.train.split import load_split


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.stack([to_tensor(image) for image in images])


def episodes(data: EpisodeDataset, shots: int, sketch: str) -> list[dict]:
    """Per clip: identity and, for the query (first half) and gallery (second half), T evenly spaced frames."""
    out = []
    for clip in range(len(data.records)):
        count = data.clip_length(clip)
        half = count // 2
        if half < shots:
            continue
        entry = {"identity": data.records[clip]["identity"]}
        for name, (start, stop) in (("query", (0, half)), ("gallery", (half, count))):
            frames = np.linspace(start, stop - 1, shots).round().astype(int)
            images, landmarks = data.frames(clip, frames)
            sketches = draw_sketches(landmarks, data.image_size, sketch)
            entry[name] = (images, landmarks, _tensor(images), _tensor(sketches))
        out.append(entry)
    return out


def scores(queries: np.ndarray, gallery: np.ndarray, identities: list[str]) -> dict[str, float]:
    """Scores of unit embeddings ``(N, D)`` of N clips (query and gallery rows in the same clip order):

    ``same clip``: top-1 re-identification of the query's own clip (easy: same background and light);
    ``other clip``: top-1 with the query's own clip left out of the gallery, over the queries whose person has
    another clip (a different video or part of one), and its ``chance``; ``cosine gap``: mean cosine to the
    same person's other clips minus to other people's; ``person share``: the part of the embeddings' energy
    that differs between clips (1 − |mean|² of the unit vectors): near 0, every person gets nearly the same ê.
    """
    similarity = queries @ gallery.T
    people = np.array(identities)
    same = people[:, None] == people[None, :]
    own = np.eye(len(people), dtype=bool)
    result = {"same clip": float(np.mean(similarity.argmax(1) == np.arange(len(people))))}
    others = same & ~own
    has_other = others.any(1)
    if has_other.any():
        masked = np.where(own, -np.inf, similarity)
        best = masked.argmax(1)
        result["other clip"] = float(np.mean(others[np.arange(len(people)), best][has_other]))
        result["chance"] = float(np.mean(others.sum(1)[has_other] / (len(people) - 1)))
        result["cosine gap"] = float(similarity[others].mean() - similarity[~same].mean())
    stacked = np.concatenate([queries, gallery])
    result["person share"] = float(1.0 - np.linalg.norm(stacked.mean(0)) ** 2)
    return result


def report(name: str, result: dict[str, float]) -> None:
    print(f"{name:66s} " + "  ".join(f"{key} {value:.3f}" if key != "cosine gap" else f"{key} {value:+.4f}"
                                     for key, value in result.items()), flush=True)


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def embed_e(embedder: Embedder, entries: list[dict], part: str, shots: int) -> np.ndarray:
    with torch.no_grad():
        rows = [embedder(entry[part][2][None, :shots], entry[part][3][None, :shots])[0].numpy() for entry in entries]
    return unit(np.stack(rows))


def embed_sface(toolkit, entries: list[dict], part: str, shots: int) -> np.ndarray:
    rows = []
    for entry in entries:
        images, landmarks = entry[part][:2]
        vectors = [toolkit.embed(np.ascontiguousarray(image), points).get("sface")
                   for image, points in zip(images[:shots], landmarks[:shots])]
        vectors = [v for v in vectors if v is not None]
        rows.append(unit(np.mean(vectors, axis=0)[None])[0] if vectors else np.zeros(128))
    return unit(np.stack(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="prepared dataset (headshot prepare)")
    parser.add_argument("--split", type=Path, required=True, help="identity split file (its held-out people)")
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--train", action="store_true", help="also the training clips (as many as held out)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    heldout = load_split(args.split)
    most = max(args.shots)
    sets = {"held-out": EpisodeDataset(args.data, shots=most, split="val", heldout=heldout)}
    if args.train:
        sets["training"] = EpisodeDataset(args.data, shots=most, split="train", heldout=heldout)
    first = load_model(args.models[0])
    config = first.config
    from headshot.eval.toolkit import Toolkit

    toolkit = Toolkit()
    for set_name, data in sets.items():
        entries = episodes(data, most, config.sketch)
        if set_name == "training":
            entries = entries[::max(1, len(entries) // len(sets["held-out"].records))]
        people = [entry["identity"] for entry in entries]
        print(f"\n{set_name}: {len(entries)} clips of {len(set(people))} people in {args.data}")
        torch.manual_seed(0)
        rows = [("E at initialisation", Embedder(config).eval())]
        for path in args.models:
            model = load_model(path)
            rows.append((str(path), model.load_into("embedder", Embedder(model.config)).eval()))
        for shots in args.shots:
            for name, embedder in rows:
                report(f"T={shots:<2d} {name}", scores(embed_e(embedder, entries, "query", shots),
                                                       embed_e(embedder, entries, "gallery", shots), people))
            report(f"T={shots:<2d} SFace (reference)", scores(embed_sface(toolkit, entries, "query", shots),
                                                              embed_sface(toolkit, entries, "gallery", shots), people))


if __name__ == "__main__":
    main()
