"""Speed of the neural engine on this machine: ms per frame, generator only and full render.

Full render = sketch drawing + generator + resize to the output size (what ``NeuralEngine.render`` does
per frame). Uses randomly initialised networks of the given config (speed does not depend on the
weights), or ``--model FILE``. Target (issue 4): the default model >= 10 fps at 256x256 output on the
2-core CPU. Timings are medians over frames. On a loaded shared machine, 2 torch threads can collapse
(OpenMP threads wait on each other while other processes hold the cores): compare ``--threads 1``.

    python benchmarks/neural_bench.py [--config configs/landmarks.yaml] [--threads 1] [--frames 30]
                                      [--backends torch,onnx] [--model FILE]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

import cv2

REPO = Path(__file__).resolve().parents[1]


def _time(function, frames: int, warmup: int = 3) -> float:
    """Median ms per call (the median resists other processes briefly taking the shared cores)."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(frames):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "landmarks.yaml"))
    parser.add_argument("--model", default=None, help="a model file instead of a random model of --config")
    parser.add_argument("--threads", type=int, default=1, help="torch and ONNX Runtime intra-op threads")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--backends", default="torch,onnx", help="comma-separated: torch, onnx")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from headshot.assets import astronaut
    from headshot.face.landmarker import FaceAnalyzer
    from headshot.neural.config import load_config
    from headshot.neural.embedder import Embedder
    from headshot.neural.engine import NeuralEngine
    from headshot.neural.generator import Generator
    from headshot.neural.layers import bake_spectral_norm
    from headshot.neural.runtime import OnnxGenerator

    image = astronaut()
    with FaceAnalyzer() as analyzer:
        landmarks = analyzer.detect_one(image).landmarks
    x0, y0, side = 100, 0, 300  # a square crop around the face
    crop_full = np.ascontiguousarray(image[y0:y0 + side, x0:x0 + side])

    for backend in args.backends.split(","):
        if args.model:
            engine = NeuralEngine(args.model, device=args.device, backend=backend, threads=args.threads)
        else:
            cfg, _ = load_config(args.config)
            torch.manual_seed(0)
            engine = NeuralEngine.from_modules(bake_spectral_norm(Generator(cfg)).eval(), Embedder(cfg),
                                               device=args.device)
            if backend == "onnx":
                engine.runner = OnnxGenerator(engine.generator, threads=args.threads)
        cfg = engine.config
        parameters = sum(p.numel() for p in engine.generator.parameters())
        print(f"[{backend}] image_size={cfg.image_size} base_channels={cfg.base_channels} "
              f"max_channels={cfg.max_channels} n_down={cfg.n_down} n_res={cfg.n_res} "
              f"attention={cfg.attention_resolution} input={cfg.generator_input} | G {parameters / 1e6:.2f} M "
              f"parameters | threads {args.threads} | device {args.device}")
        sketch = torch.rand(1, 3, cfg.image_size, cfg.image_size, device=args.device) * 2 - 1
        guide = torch.rand_like(sketch) if cfg.warp_guided else None
        psi = torch.randn(1, engine.generator.psi_dim, device=args.device) * 0.01

        def generator_only():
            with torch.inference_mode():
                engine.runner.forward_with_psi(sketch, psi, guide)
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()

        print(f"  generator only @ {cfg.image_size}px: {_time(generator_only, args.frames):7.1f} ms/frame")
        for size in (128, 256):
            crop = cv2.resize(crop_full, (size, size), interpolation=cv2.INTER_AREA)
            local = landmarks.copy()
            local[:, 0] = (local[:, 0] - x0) * size / side
            local[:, 1] = (local[:, 1] - y0) * size / side
            local[:, 2] *= size / side
            engine.prepare(crop, local)
            ms = _time(lambda: engine.render(local), args.frames)
            print(f"  full render -> {size}x{size} output: {ms:7.1f} ms/frame ({1000 / ms:5.1f} fps)")


if __name__ == "__main__":
    main()
