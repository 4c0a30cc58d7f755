"""What a trained discriminator tells apart (issue 14: D's loss sat at hinge chance for a whole run).

    python benchmarks/d_probe.py runs/neural-gpu/model.safetensors runs/dev128 --split configs/splits/dev.yaml

Scores D(x, y, i) of a run's model file on a few training episodes for: the real target, the generator's
output (live G, the one D was trained against), the warp guide, the real target box-blurred (5x5) and
uniform noise (and, warp-guided, G's painting before the blend), all with the target's sketch and the episode's video column. Prints each kind's scores, how
far its trunk vector V lies from the real image's, the image-independent part of the score (``c·(W_i + w0) +
b`` with ``c`` the mean V), and the sizes of W, w0 and b. A working D scores real above everything else and
noise lowest; the hinge margins are +1 / -1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from headshot.neural.checkpoint import load_model
from headshot.neural.discriminator import Discriminator
from headshot.neural.embedder import Embedder
from headshot.neural.generator import Generator
from headshot.train.dataset import EpisodeDataset
from headshot.train.split import load_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="a run's model.safetensors (with discriminator and generator)")
    parser.add_argument("data", type=Path, help="the prepared dataset the run trained on")
    parser.add_argument("--split", type=Path, help="the run's split file (same video columns as training)")
    parser.add_argument("--episodes", type=int, default=8)
    parser.add_argument("--shots", type=int, default=4)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = load_model(args.model)
    cfg = model.config
    D = model.load_into("discriminator", Discriminator(cfg, model.states["discriminator"]["W"].shape[1])).float()
    E = model.load_into("embedder", Embedder(cfg)).float()
    G = model.load_into(model.generator_name(prefer_ema=False), Generator(cfg)).float()
    for network in (D, E, G):
        network.eval()
    heldout = load_split(args.split) if args.split else None
    data = EpisodeDataset(args.data, shots=args.shots, split="train" if heldout else "all", heldout=heldout,
                          warp_guided=cfg.generator_input == "warp-guided", seed=0)
    if len(data.videos) != D.num_videos:
        raise SystemExit(f"{len(data.videos)} videos in {args.data} but D has {D.num_videos} columns")
    step = max(1, len(data.records) // args.episodes)
    items = [data[(clip, 1)] for clip in range(0, len(data.records), step)][:args.episodes]
    batch = {key: torch.stack([item[key] for item in items]) for key in items[0] if torch.is_tensor(items[0][key])}
    with torch.no_grad():
        embedding = E(batch["shots"], batch["shot_sketches"])
        real = batch["target"]
        kinds = {"real": real, "G output": G(batch["target_sketch"], embedding, batch.get("guide")).float(),
                 "blurred real": F.avg_pool2d(F.pad(real, (2, 2, 2, 2), mode="replicate"), 5, 1),
                 "noise": torch.rand_like(real) * 2 - 1}
        if "guide" in batch:
            kinds["warp guide"] = batch["guide"]
            # G's own RGB before the blend: what D judges with adversarial_target 'painting'
            kinds["G painting"] = G(batch["target_sketch"], embedding, batch["guide"], parts=True)[:, :3].float()
        index, sketch = batch["video_index"], batch["target_sketch"]
        vectors = {name: D.features(x, sketch)[0] for name, x in kinds.items()}
        w = D.W.t()[index] + D.w0
        mean_vector = torch.cat(list(vectors.values())).mean(0)
        print(f"{len(items)} episodes of {args.data}; W column RMS {float(D.W.pow(2).mean().sqrt()):.4f}, "
              f"w0 RMS {float(D.w0.pow(2).mean().sqrt()):.4f}, b {float(D.b):.4f}")
        print(f"image-independent score part c.(W_i + w0) + b: mean {float((w @ mean_vector + D.b).mean()):.3f}, "
              f"spread (std) {float((w @ mean_vector).std()):.3f}")
        for name, vector in vectors.items():
            scores = (vector * w).sum(1) + D.b
            gap = float((vector - vectors["real"]).pow(2).mean().sqrt())
            l1 = float((kinds[name] - real).abs().mean())
            print(f"{name:13s} score mean {float(scores.mean()):+.3f} (min {float(scores.min()):+.3f} max "
                  f"{float(scores.max()):+.3f})  L1 to real {l1:.4f}  V distance to real {gap:.4f} "
                  f"(V RMS {float(vector.pow(2).mean().sqrt()):.4f})")


if __name__ == "__main__":
    main()
