"""What a training run shows of itself: sample grids (``samples/step_NNNNNNN.png``) and ``losses.png``."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import cv2
import numpy as np
import torch

from ..io.atomic import atomic_output
from .dataset import episode_seed


def fixed_batch(dataset, count: int, seed: int) -> dict:
    """``count`` episodes drawn once with ``seed`` (collated): every sample grid of a run shows the same ones."""
    items = [dataset[(i % len(dataset), episode_seed(seed, i))] for i in range(count)]
    return torch.utils.data.default_collate(items)


def sample_grid(batch: dict, generated: torch.Tensor, max_shots: int = 3) -> np.ndarray:
    """One row per episode: up to ``max_shots`` shots | target sketch | generated | target. RGB uint8 HWC."""
    rows = []
    for i in range(generated.shape[0]):
        tiles = [batch["shots"][i, k] for k in range(min(max_shots, batch["shots"].shape[1]))]
        tiles += [batch["target_sketch"][i], generated[i], batch["target"][i]]
        rows.append(torch.cat([t.float().cpu() for t in tiles], dim=2))
    grid = torch.cat(rows, dim=1)
    return ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Write an RGB uint8 image as PNG, whole or not at all; creates the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as temp:
        cv2.imwrite(str(temp), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def plot_metrics(run_dir: Path) -> Path | None:
    """Plot ``metrics.csv`` of a run as ``losses.png`` (loss terms, scores and throughput vs step)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return None
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    # matplotlib here, not at the top: it costs a second to import and only checkpoints plot.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]

    def series(name):
        return [float(r[name]) if r.get(name) not in (None, "") else math.nan for r in rows]

    figure, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name in ("g_loss", "content", "feature_matching", "embedding_match", "l1_to_target"):
        axes[0].plot(steps, series(name), label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("E/G losses")
    for name in ("d_loss", "adversarial", "real_score", "fake_score", "psi_rms"):
        axes[1].plot(steps, series(name), label=name)
    axes[1].set_title("adversarial")
    axes[2].plot(steps, series("images_per_s"))
    axes[2].set_title("generated images / s")
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].legend(fontsize=8)
    figure.tight_layout()
    out = Path(run_dir) / "losses.png"
    try:
        with atomic_output(out) as temp:
            figure.savefig(temp, dpi=80)
    finally:
        plt.close(figure)
    return out
