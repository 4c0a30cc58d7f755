"""Sizes behind the content-loss weight of MobileNetV2 (issue 14; headshot.neural.losses, "weights").

Prints, per MobileNetV2 tap, the mean |phi| of real training targets and the mean L1 feature distance to
their warp guides and to a 5x5 box blur of them, the content term at weight 1 and the pixel L1 of the same
pairs. Data: a prepared dataset with guides (headshot prepare --guides, or benchmarks/gpu_pack.py)::

    python benchmarks/content_scale.py runs/gpu_shards
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main(data: str) -> None:
    from headshot.neural.mobilenet import MobileNetV2Features
    from headshot.train.dataset import EpisodeDataset

    torch.set_num_threads(1)
    dataset = EpisodeDataset(data, shots=2, split="all", warp_guided=True)
    episodes = [dataset[(i, i)] for i in range(0, len(dataset), max(1, len(dataset) // 18))]
    real = torch.stack([e["target"] for e in episodes])
    guide = torch.stack([e["guide"] for e in episodes])
    blur = F.avg_pool2d(real, 5, 1, 2, count_include_pad=False)
    network = MobileNetV2Features()
    with torch.no_grad():
        f_real, f_guide, f_blur = network(real), network(guide), network(blur)
    for index, (a, b, c) in enumerate(zip(f_real, f_guide, f_blur)):
        print(f"tap {index} ({a.shape[1]} ch, {a.shape[-1]} px): mean|phi| {a.abs().mean():.3f}, "
              f"L1 to guide {(a - b).abs().mean():.3f}, L1 to blur {(a - c).abs().mean():.3f}")
    content = sum(float((a - b).abs().mean()) for a, b in zip(f_real, f_guide))
    print(f"{len(episodes)} clips: content term (weight 1) guide {content:.3f}; pixel L1 guide "
          f"{float((real - guide).abs().mean()):.4f}, blur {float((real - blur).abs().mean()):.4f}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/gpu_shards")
