"""Training curves of one run's ``metrics.csv`` as a small PNG for the docs (issue 14).

    python benchmarks/plot_training_curves.py /work/cache/gpu_run1/metrics.csv docs/gpu_run1_curves.png

Four panels against step: E/G loss terms (log scale), D's hinge loss with its chance level 2 (D outputs 0 on
everything), D's mean score on real and on generated images, and the RMS of the AdaIN parameters ψ = P·ê (the
identity path: near 0 means the person embedding does nothing); with E's identity term (``identity_weight``) a
fifth panel: that loss and ``e_share`` (how much of ê is person-specific). Prints the first and last value of each.
"""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from headshot.io.atomic import atomic_output

G_TERMS = ("g_loss", "embedding_match", "content", "feature_matching", "l1_to_target")


def read_metrics(path: Path) -> dict[str, list[float]]:
    with open(path) as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    return {name: [float(r[name]) if r.get(name) not in (None, "") else math.nan for r in rows] for name in rows[0]}


def plot(columns: dict[str, list[float]], out: Path, title: str) -> None:
    steps = columns["step"]
    identity = "identity" in columns and not all(math.isnan(v) for v in columns["identity"])
    figure, axes = plt.subplots(1, 5 if identity else 4, figsize=(17.5 if identity else 14, 3.2))
    for name in G_TERMS:
        if name in columns:
            axes[0].plot(steps, columns[name], label=name)
    axes[0].set_yscale("log")
    axes[0].set_title("E/G losses")
    axes[0].legend(fontsize=7)
    axes[1].plot(steps, columns["d_loss"], label="d_loss")
    axes[1].axhline(2.0, color="grey", linestyle="--", linewidth=1, label="hinge chance (2)")
    axes[1].set_title("D loss")
    axes[1].legend(fontsize=7)
    axes[2].plot(steps, columns["real_score"], label="real")
    axes[2].plot(steps, columns["fake_score"], label="generated")
    axes[2].set_title("D scores")
    axes[2].legend(fontsize=7)
    axes[3].plot(steps, columns["psi_rms"])
    axes[3].set_ylim(bottom=0)
    axes[3].set_title("psi_rms (identity path)")
    if identity:
        axes[4].plot(steps, columns["identity"], label="identity loss")
        if "e_share" in columns:
            axes[4].plot(steps, columns["e_share"], label="e_share")
        axes[4].set_ylim(bottom=0)
        axes[4].set_title("E's identity term")
        axes[4].legend(fontsize=7)
    for axis in axes:
        axis.set_xlabel("step")
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    with atomic_output(out) as temp:
        figure.savefig(temp, dpi=60, format="png")
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("metrics", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    columns = read_metrics(args.metrics)
    plot(columns, args.out, args.title or str(args.metrics))
    for name in ("g_loss", "embedding_match", "content", "l1_to_target", "d_loss", "real_score", "fake_score",
                 "psi_rms", "identity", "e_share"):
        values = columns.get(name)
        if values:
            print(f"{name:16s} step {columns['step'][0]:.0f}: {values[0]:.4g}  step {columns['step'][-1]:.0f}: "
                  f"{values[-1]:.4g}  min {min(values):.4g} max {max(values):.4g}")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
