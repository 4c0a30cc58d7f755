"""A warp-guided model's output and painting on held-out dev identities (issue 14, ``adversarial_target``).

    python benchmarks/blend_check.py runs/dexp17-output/model.safetensors runs/dexp17-painting/model.safetensors \\
        --data runs/dev128 --split configs/splits/dev.yaml

For each model file (EMA E and G): on the same seeded episodes of the split's held-out clips (two per clip),
the L1 and MobileNet content loss of the blended output against the target, the L1 of G's own painting
(before the blend) against the target, and the mean blend mask (the share taken from the warp guide). Also
prints the warp guide's own L1 and content loss: a model that does not beat them has not improved on the warp.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from headshot.neural.checkpoint import load_model
from headshot.neural.config import TrainConfig
from headshot.neural.embedder import Embedder
from headshot.neural.generator import Generator, composite
from headshot.train.adversarial import build_loss
from headshot.train.dataset import EpisodeDataset
from headshot.train.split import load_split

BATCH = 8


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", type=Path, nargs="+")
    parser.add_argument("--data", type=Path, required=True, help="prepared dataset (headshot prepare)")
    parser.add_argument("--split", type=Path, required=True, help="identity split file (its held-out people)")
    parser.add_argument("--shots", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = EpisodeDataset(args.data, shots=args.shots, split="val", heldout=load_split(args.split), warp_guided=True)
    items = [data[(clip, seed)] for clip in range(len(data.records)) for seed in (101, 202)]
    batch = {key: torch.stack([item[key] for item in items])
             for key in ("shots", "shot_sketches", "target", "target_sketch", "guide")}
    content = build_loss(TrainConfig(l1_weight=0.0)).content
    count = len(items)
    print(f"{count} held-out episodes of {len(data.records)} clips in {args.data}")
    for path in args.models:
        model = load_model(path)
        if not model.config.warp_guided:
            raise SystemExit(f"{path}: not a warp-guided model")
        E = model.load_into("embedder", Embedder(model.config)).eval()
        G = model.load_into(model.generator_name(), Generator(model.config)).eval()
        sums = {"output L1": 0.0, "output content": 0.0, "painting L1": 0.0, "blend mask": 0.0}
        with torch.no_grad():
            for start in range(0, count, BATCH):
                part = {key: value[start:start + BATCH] for key, value in batch.items()}
                embedding = E(part["shots"], part["shot_sketches"])
                parts = G(part["target_sketch"], embedding, part["guide"], parts=True)
                output, target, size = composite(parts, part["guide"]), part["target"], parts.shape[0]
                sums["output L1"] += float((output - target).abs().mean()) * size
                sums["output content"] += float(content(output, target)) * size
                sums["painting L1"] += float((parts[:, :3] - target).abs().mean()) * size
                sums["blend mask"] += float(parts[:, 3:].mean()) * size
        print(f"{path}: " + "  ".join(f"{name} {value / count:.4f}" for name, value in sums.items()))
    guide, target = batch["guide"], batch["target"]
    print(f"warp guide alone: L1 {float((guide - target).abs().mean()):.4f}  "
          f"content {float(content(guide, target)):.4f}")


if __name__ == "__main__":
    main()
